// Fuzz target: the body of POST /v1/admin/reconcile
// (ingest/detail/reconcile_request.hpp). Invariants beyond "no crash":
//  * a refusal is malformed_body (then the text is not strict JSON) or
//    invalid_field with one of the documented messages (bounded length);
//  * an accepted request holds a valid tenant id, and objects that are
//    Intacct names in run order without repeats;
//  * round trip: the request written back as JSON parses to the same request,
//    and writing that gives the same text.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"
#include "fuzz/check.hpp"
#include "ingest/detail/reconcile_request.hpp"

namespace {

using isync::ingest::ReconcileRequest;
using namespace isync::ingest::detail;

const std::vector<std::string> kRunOrder = {"CUSTOMER", "ARINVOICE", "ARPYMT"};

// The documented messages, by their fixed start.
const std::vector<std::string_view> kMessages = {
    "the body must be a JSON object",
    "unknown member \"",
    "\"tenant\" is required",
    "\"tenant\" must be a string",
    "\"tenant\" must be a tenant id ([a-z0-9_-]{1,64})",
    "\"objects\" must be an array of \"customers\", \"invoices\" and \"payments\"",
    "\"objects\" is empty; leave it out to reconcile every object",
    "\"objects\" holds \"",
    "\"dry_run\" must be true or false",
    "\"allow_mass_delete\" must be true or false",
};

bool same(const ReconcileRequest& a, const ReconcileRequest& b) {
  return a.tenant == b.tenant && a.objects == b.objects && a.dry_run == b.dry_run &&
         a.allow_mass_delete == b.allow_mass_delete;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body = isync::fuzz::as_text(data, size);
  auto r = parse_reconcile_request(body);
  if (!r) {
    const auto& e = r.error();
    if (e.code == "malformed_body") {
      FUZZ_CHECK(!isync::json::parse(body, isync::json::kStrict).has_value(), e.message);
      return 0;
    }
    FUZZ_CHECK(e.code == "invalid_field", e.code);
    FUZZ_CHECK(e.message.size() <= 200, e.message);
    FUZZ_CHECK(std::any_of(kMessages.begin(), kMessages.end(),
                           [&](std::string_view m) { return e.message.starts_with(m); }),
               e.message);
    return 0;
  }
  FUZZ_CHECK(isync::valid_tenant_id(r->tenant), r->tenant);
  std::size_t next = 0;
  for (const auto& o : r->objects) {
    auto at = std::find(kRunOrder.begin() + static_cast<std::ptrdiff_t>(next), kRunOrder.end(), o);
    FUZZ_CHECK(at != kRunOrder.end(), o);
    next = static_cast<std::size_t>(at - kRunOrder.begin()) + 1;
  }
  const std::string text = reconcile_request_json(*r);
  auto again = parse_reconcile_request(text);
  FUZZ_CHECK(again.has_value(), again.error().message);
  FUZZ_CHECK(same(*again, *r), text);
  FUZZ_CHECK(reconcile_request_json(*again) == text, text);
  return 0;
}
