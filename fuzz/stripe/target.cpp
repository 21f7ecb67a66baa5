// Fuzz target: Stripe webhooks (ingest/detail/stripe.hpp).
//
// Each input is read both as a Stripe-Signature header and as an event body
// (so a body kept from a finding replays byte for byte). Invariants beyond
// "no crash":
//  * an accepted header holds 1 to kMaxStripeSignatures v1 values of 64
//    lowercase hex digits and a t= of at most 18 digits whose value is
//    `timestamp`; a refused one is "unauthorized" with a message that starts
//    with the fixed prefix and quotes nothing of the header;
//  * a header signed over the input with a secret matches under that secret
//    and no other;
//  * for an accepted body, the stored copy (envelope.raw) parses (strict) to
//    the document of the body with every member of the redact list replaced
//    by "[redacted]" — compared with numbers as their text, and again with
//    numbers as values (so a number never comes back as a string);
//  * the stored copy is compact (re-serialising it gives it back), and a body
//    without a redacted member is stored as its own compact re-serialisation;
//  * the envelope's fixed fields and sorted snapshot are as the header says.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"
#include "fuzz/check.hpp"
#include "ingest/detail/stripe.hpp"

namespace {

namespace json = isync::json;
using rapidjson::SizeType;

const std::vector<std::string> kRedact = {"billing_details", "payment_method_details",
                                          "receipt_email"};
constexpr std::string_view kHeaderPrefix = "Stripe-Signature header is malformed: ";
constexpr std::string_view kSecret = "whsec_fuzz_secret";

bool redacted_name(const rapidjson::Value& name) {
  std::string_view n(name.GetString(), name.GetStringLength());
  return std::find(kRedact.begin(), kRedact.end(), n) != kRedact.end();
}

// Depth is bounded by the parser's cap (64), so recursion is fine here.
bool has_redacted(const rapidjson::Value& v) {
  if (v.IsObject()) {
    for (const auto& m : v.GetObject()) {
      if (redacted_name(m.name) || has_redacted(m.value)) return true;
    }
  } else if (v.IsArray()) {
    for (const auto& e : v.GetArray()) {
      if (has_redacted(e)) return true;
    }
  }
  return false;
}

void redact(rapidjson::Value& v) {
  if (v.IsObject()) {
    for (auto& m : v.GetObject()) {
      if (redacted_name(m.name)) {
        m.value.SetString("[redacted]", 10);
      } else {
        redact(m.value);
      }
    }
  } else if (v.IsArray()) {
    for (auto& e : v.GetArray()) redact(e);
  }
}

// SAX handler writing the text back compactly, numbers as their text.
class Compact {
 public:
  explicit Compact(rapidjson::Writer<rapidjson::StringBuffer>& w) : w_(w) {}
  bool Null() { return w_.Null(); }
  bool Bool(bool b) { return w_.Bool(b); }
  bool Int(int i) { return w_.Int(i); }
  bool Uint(unsigned u) { return w_.Uint(u); }
  bool Int64(std::int64_t i) { return w_.Int64(i); }
  bool Uint64(std::uint64_t u) { return w_.Uint64(u); }
  bool Double(double d) { return w_.Double(d); }
  bool RawNumber(const char* s, SizeType n, bool) {
    return w_.RawValue(s, n, rapidjson::kNumberType);
  }
  bool String(const char* s, SizeType n, bool) { return w_.String(s, n); }
  bool StartObject() { return w_.StartObject(); }
  bool Key(const char* s, SizeType n, bool) { return w_.Key(s, n); }
  bool EndObject(SizeType) { return w_.EndObject(); }
  bool StartArray() { return w_.StartArray(); }
  bool EndArray(SizeType) { return w_.EndArray(); }

 private:
  rapidjson::Writer<rapidjson::StringBuffer>& w_;
};

std::string compact(std::string_view text) {
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> writer(out);
  Compact handler(writer);
  auto parsed = json::parse_events(text, {.numbers_as_strings = true}, handler);
  FUZZ_CHECK(parsed.has_value(), parsed.error().message);
  FUZZ_CHECK(writer.IsComplete(), "compact copy incomplete");
  return std::string(out.GetString(), out.GetSize());
}

void check_header(std::string_view input) {
  using isync::ingest::detail::parse_stripe_signature;
  auto sig = parse_stripe_signature(input);
  if (!sig) {
    FUZZ_CHECK(sig.error().code == "unauthorized", sig.error().code);
    const auto& m = sig.error().message;
    FUZZ_CHECK(m.starts_with(kHeaderPrefix) && m.size() <= kHeaderPrefix.size() + 40, m);
    return;
  }
  FUZZ_CHECK(!sig->timestamp_text.empty() && sig->timestamp_text.size() <= 18, sig->timestamp_text);
  std::int64_t t = 0;
  for (char c : sig->timestamp_text) {
    FUZZ_CHECK(c >= '0' && c <= '9', sig->timestamp_text);
    t = t * 10 + (c - '0');
  }
  FUZZ_CHECK(t == sig->timestamp, sig->timestamp_text);
  FUZZ_CHECK(!sig->v1.empty() && sig->v1.size() <= isync::ingest::detail::kMaxStripeSignatures,
             std::to_string(sig->v1.size()));
  for (const auto& v : sig->v1) {
    FUZZ_CHECK(
        v.size() == 64 &&
            std::all_of(v.begin(), v.end(),
                        [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }),
        v);
  }
}

void check_signing(std::string_view body) {
  using namespace isync::ingest::detail;
  const std::string header = "t=1700000000,v1=" + stripe_signature(kSecret, "1700000000", body);
  auto sig = parse_stripe_signature(header);
  FUZZ_CHECK(sig.has_value(), sig.error().message);
  FUZZ_CHECK(stripe_signature_matches(*sig, body, {std::string(kSecret)}), "own signature");
  FUZZ_CHECK(!stripe_signature_matches(*sig, body, {"whsec_other", ""}), "other secret matched");
}

void check_body(std::string_view body) {
  auto ev = isync::ingest::detail::parse_stripe_event(body, kRedact);
  if (!ev) {
    FUZZ_CHECK(ev.error().code == "malformed_body" || ev.error().code == "invalid_field",
               ev.error().code);
    FUZZ_CHECK(ev.error().message.size() <= 512, ev.error().message.substr(0, 200));
    return;
  }
  const auto& env = ev->envelope;
  FUZZ_CHECK(env.v == 1 && env.source == "stripe" && env.object == "ARPYMT", env.source);
  FUZZ_CHECK(ev->id.starts_with("evt_"), ev->id);
  FUZZ_CHECK(std::is_sorted(env.snapshot.begin(), env.snapshot.end()), "snapshot not sorted");
  auto event_id = std::find_if(env.snapshot.begin(), env.snapshot.end(),
                               [](const auto& p) { return p.first == "EVENT_ID"; });
  FUZZ_CHECK(event_id != env.snapshot.end() && event_id->second == ev->id, "EVENT_ID");

  // The stored copy against the body, with numbers as text.
  auto expected = json::parse(body, {.numbers_as_strings = true});
  FUZZ_CHECK(expected.has_value(), expected.error().message);
  const bool any_redacted = has_redacted(*expected);
  redact(*expected);
  auto stored = json::parse(env.raw, {.numbers_as_strings = true});
  FUZZ_CHECK(stored.has_value(), stored.error().message);
  FUZZ_CHECK(*stored == *expected, env.raw.substr(0, 200));

  // And with numbers as values: a number stays a number, a string a string.
  auto expected_values = json::parse(body);
  FUZZ_CHECK(expected_values.has_value(), expected_values.error().message);
  redact(*expected_values);
  auto stored_values = json::parse(env.raw);
  FUZZ_CHECK(stored_values.has_value(), stored_values.error().message);
  FUZZ_CHECK(*stored_values == *expected_values, env.raw.substr(0, 200));

  FUZZ_CHECK(compact(env.raw) == env.raw, env.raw.substr(0, 200));
  if (!any_redacted) FUZZ_CHECK(env.raw == compact(body), env.raw.substr(0, 200));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = isync::fuzz::as_text(data, size);
  check_header(input);
  check_signing(input);
  check_body(input);
  return 0;
}
