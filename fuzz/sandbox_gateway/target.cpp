// Fuzz target: the sandbox's XML gateway (sandbox::Company::handle_gateway).
//
// Each input is one request body, sent to a fresh company (so a run does not
// depend on the inputs before it) holding two customers, an invoice and a
// payment on it. The seed corpus carries the company's credentials, so the
// fuzzer starts past the control and authentication levels. Invariants
// beyond "no crash":
//  * the reply is 200 or 401, text/xml, and the client's reader
//    (intacct::parse_response) reads it as a gateway response;
//  * when authentication succeeded there is one <result> per <function> of
//    the request, in order, with its function name and controlid;
//  * a request with a write that "lands later" (Faults::land_later, no delay)
//    answers 524 and, once run_due() lands it, leaves the same records and
//    RECORDNO counters as the same request run at once.
#include <cstddef>
#include <cstdint>
#include <pugixml.hpp>
#include <string>
#include <string_view>

#include "fuzz/check.hpp"
#include "fuzz/sandbox_company.hpp"
#include "intacct/intacct.hpp"
#include "sandbox/sandbox.hpp"

namespace {

namespace sb = isync::sandbox;
namespace ii = isync::intacct;

constexpr const char* kObjects[] = {"CUSTOMER", "ARINVOICE", "ARPYMT"};

std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n";
  auto first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

bool is_write(std::string_view name) {
  return name == "create" || name == "update" || name == "delete" || name == "reverse_arpayment";
}

// One <result> per <function>, in order, named as the request names them.
void check_results(const ii::Response& r, std::string_view body) {
  pugi::xml_document doc;
  FUZZ_CHECK(doc.load_buffer(body.data(), body.size(), pugi::parse_default, pugi::encoding_utf8),
             "the gateway authenticated a request that does not parse");
  auto content = doc.child("request").child("operation").child("content");
  auto result = r.results.begin();
  for (auto function : content.children()) {
    if (function.type() != pugi::node_element) continue;
    FUZZ_CHECK(result != r.results.end(), "fewer results than functions");
    auto fn = function.find_child([](pugi::xml_node n) { return n.type() == pugi::node_element; });
    FUZZ_CHECK(result->function == fn.name(), result->function);
    FUZZ_CHECK(result->control_id == trim(function.attribute("controlid").as_string()),
               result->control_id);
    ++result;
  }
  FUZZ_CHECK(result == r.results.end(), "more results than functions");
}

void check_same_company(sb::Company& a, sb::Company& b) {
  for (const char* object : kObjects) {
    auto ra = a.list(object, 0, 1'000'000);
    auto rb = b.list(object, 0, 1'000'000);
    FUZZ_CHECK(ra.size() == rb.size(), object);
    for (std::size_t i = 0; i < ra.size(); ++i) {
      FUZZ_CHECK(ra[i].recordno == rb[i].recordno && ra[i].fields == rb[i].fields,
                 std::string(object) + " " + std::to_string(ra[i].recordno));
    }
  }
  // The next RECORDNO of each object, seen through one more record.
  auto next_a = a.add("CUSTOMER", {{"CUSTOMERID", "C-NEXT"}, {"NAME", "Next"}});
  auto next_b = b.add("CUSTOMER", {{"CUSTOMERID", "C-NEXT"}, {"NAME", "Next"}});
  FUZZ_CHECK(next_a.has_value() == next_b.has_value(), "adding after the request");
  if (next_a) FUZZ_CHECK(next_a->recordno == next_b->recordno, "next RECORDNO");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body = isync::fuzz::as_text(data, size);
  isync::ManualClock clock(isync::fuzz::kSandboxStart);
  sb::Company company(isync::fuzz::sandbox_options(), clock);
  isync::fuzz::seed_company(company);
  const auto reply = company.handle_gateway(body, "application/xml");
  FUZZ_CHECK(reply.status == 200 || reply.status == 401, std::to_string(reply.status));
  FUZZ_CHECK(reply.content_type == "text/xml", reply.content_type);
  auto r = ii::parse_response(reply.status, reply.content_type, reply.body);
  FUZZ_CHECK(r.has_value(), r.error().message + "\n" + reply.body.substr(0, 400));
  FUZZ_CHECK(r->has_body, reply.body.substr(0, 400));
  if (!r->authentication || r->authentication->status != ii::Status::success) return 0;
  check_results(*r, body);

  bool writes = false;
  for (const auto& result : r->results) writes = writes || is_write(result.function);
  if (!writes) return 0;
  isync::ManualClock later_clock(isync::fuzz::kSandboxStart);
  sb::Company later(isync::fuzz::sandbox_options(), later_clock);
  isync::fuzz::seed_company(later);
  sb::Faults faults;
  faults.land_later = 1;
  faults.land_delay = std::chrono::milliseconds(0);
  later.set_faults(faults);
  const auto deferred = later.handle_gateway(body, "application/xml");
  FUZZ_CHECK(deferred.status == 524, std::to_string(deferred.status));
  FUZZ_CHECK(later.run_due() == 1, "the deferred request did not land");
  check_same_company(company, later);
  return 0;
}
