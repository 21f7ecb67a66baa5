// Fuzz target: the on-call admin API's request checks (oncall/http.hpp). The
// first byte picks the parser: 'q' the list's query string, 'r' a replay
// body, 'd' a discard body, 't' a time; the rest is its input. Invariants
// beyond "no crash":
//  * a refusal is malformed_body (then the text is not strict JSON) or
//    invalid_field with a message of a documented form, of bounded length;
//  * an accepted list query holds a limit in 1..1000, a key only with an
//    object, since <= until;
//  * an accepted body passes check_action, holds at most 1000 distinct ids,
//    and round-trips: written back as JSON it parses to the same text;
//  * an accepted time formats to RFC 3339 text that parses back to it.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"
#include "fuzz/check.hpp"
#include "oncall/http.hpp"

namespace {

using namespace isync::oncall;

const std::vector<std::string> kTenants{"acme", "beta"};

// The documented forms, by their fixed start.
const std::vector<std::string_view> kStarts = {
    "\"",  // a named parameter or member: "state" must be …, "filter.tenant" is required …
    "unknown query parameter \"",
    "unknown member \"",
    "query parameter \"",
    "the query has more than",
    "the body must be a JSON object",
    "give \"ids\"",
    "give either \"ids\" or \"filter\"",
};

void check_refusal(const isync::Error& e, std::string_view text, bool json) {
  if (json && e.code == "malformed_body") {
    FUZZ_CHECK(!isync::json::parse(text, isync::json::kStrict).has_value(), e.message);
    return;
  }
  FUZZ_CHECK(e.code == "invalid_field", e.code);
  FUZZ_CHECK(e.message.size() <= 300, e.message);
  FUZZ_CHECK(std::any_of(kStarts.begin(), kStarts.end(),
                         [&](std::string_view s) { return e.message.starts_with(s); }),
             e.message);
}

void check_filter(const isync::queue::EventFilter& f) {
  FUZZ_CHECK(f.key.empty() || !f.object.empty(), f.key);
  FUZZ_CHECK(f.since_ms == 0 || f.until_ms == 0 || f.since_ms <= f.until_ms, "since > until");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input = isync::fuzz::as_text(data, size);
  if (input.empty()) return 0;
  const char which = input.front();
  input.remove_prefix(1);
  if (which == 'q') {
    auto q = parse_list_query(input, kTenants);
    if (!q) return check_refusal(q.error(), input, false), 0;
    FUZZ_CHECK(q->limit >= 1 && q->limit <= 1000, std::to_string(q->limit));
    FUZZ_CHECK(q->tenant.empty() || q->tenant == "acme" || q->tenant == "beta", q->tenant);
    check_filter(q->filter);
    return 0;
  }
  if (which == 'r' || which == 'd') {
    const Action action = which == 'r' ? Action::replay : Action::discard;
    auto r = parse_action_body(input, action, kTenants);
    if (!r) return check_refusal(r.error(), input, true), 0;
    FUZZ_CHECK(check_action(*r, kTenants).has_value(), "check_action refused a parsed body");
    FUZZ_CHECK(r->ids.size() <= kMaxIds, std::to_string(r->ids.size()));
    FUZZ_CHECK(std::set<std::string>(r->ids.begin(), r->ids.end()).size() == r->ids.size(),
               "ids repeat");
    check_filter(r->filter);
    const std::string text = action_body_json(*r);
    auto again = parse_action_body(text, action, kTenants);
    FUZZ_CHECK(again.has_value(), again.error().message);
    FUZZ_CHECK(action_body_json(*again) == text, text);
    return 0;
  }
  if (which == 't') {
    auto t = parse_time(input, "since");
    if (!t) return check_refusal(t.error(), input, false), 0;
    const std::string text = format_time(*t);
    auto again = parse_time(text, "since");
    FUZZ_CHECK(again.has_value() && *again == *t, text);
  }
  return 0;
}
