// Fuzz target: smart-event bodies (ingest/detail/smart_event.hpp).
//
// Each input is one body, read in all three encodings (form, JSON, XML)
// through the decoders and parse_smart_event, so a body kept from a finding
// replays byte for byte whatever its encoding; the input is also tried as a
// Content-Type value. Invariants beyond "no crash":
//  * parse_smart_event fails exactly when its decoder fails, with the same error;
//  * form decoding round-trips: a decoded field list, percent-encoded again,
//    decodes to the same list;
//  * an accepted event holds what the decoder returned: object, action,
//    recordno and whenmodified trimmed and normalised as the header says,
//    every other field upper-cased in a sorted snapshot, values unchanged;
//  * error messages stay short (no body echoed) and carry a known code.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/core.hpp"
#include "fuzz/check.hpp"
#include "ingest/detail/smart_event.hpp"

namespace {

using isync::ingest::detail::Fields;
using isync::ingest::detail::SmartEvent;

// The longest error message: a few quoted values, each cut to 64 bytes.
constexpr std::size_t kMaxMessage = 512;

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::string form_encode(const Fields& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty()) out.push_back('&');
    out += isync::fuzz::percent_encode(name);
    out.push_back('=');
    out += isync::fuzz::percent_encode(value);
  }
  return out;
}

void check_error(const isync::Error& e) {
  FUZZ_CHECK(
      e.code == "malformed_body" || e.code == "invalid_field" || e.code == "unsupported_media_type",
      e.code);
  FUZZ_CHECK(e.message.size() <= kMaxMessage, e.message.substr(0, 200));
}

void check_form_round_trip(const Fields& fields) {
  auto again = isync::ingest::detail::decode_form(form_encode(fields));
  FUZZ_CHECK(again.has_value(), again.error().message);
  FUZZ_CHECK(*again == fields, "form fields changed after encode + decode");
}

// The event parse_smart_event must have built from `fields`.
void check_event(const SmartEvent& ev, const Fields& fields) {
  std::optional<std::string> object, action, recordno, whenmodified;
  Fields snapshot;
  for (const auto& [name, value] : fields) {
    std::string key = lower(name);
    if (key == "object") {
      object = value;
    } else if (key == "action") {
      action = value;
    } else if (key == "recordno") {
      recordno = value;
    } else if (key == "whenmodified") {
      whenmodified = value;
    } else {
      snapshot.emplace_back(upper(name), value);
    }
  }
  std::sort(snapshot.begin(), snapshot.end());
  FUZZ_CHECK(object && ev.object == upper(trim(*object)), ev.object);
  FUZZ_CHECK(ev.object == "CUSTOMER" || ev.object == "ARINVOICE" || ev.object == "ARPYMT",
             ev.object);
  FUZZ_CHECK(action && ev.action == lower(trim(*action)), ev.action);
  FUZZ_CHECK(ev.action == "add" || ev.action == "set" || ev.action == "delete", ev.action);

  FUZZ_CHECK(recordno.has_value(), "accepted without recordno");
  std::string_view digits = trim(*recordno);
  while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
  FUZZ_CHECK(ev.recordno == digits, ev.recordno);
  FUZZ_CHECK(!ev.recordno.empty() && ev.recordno.front() != '0' && ev.recordno.size() <= 19,
             ev.recordno);
  FUZZ_CHECK(std::all_of(ev.recordno.begin(), ev.recordno.end(),
                         [](char c) { return c >= '0' && c <= '9'; }),
             ev.recordno);

  FUZZ_CHECK(whenmodified && ev.whenmodified == trim(*whenmodified), ev.whenmodified);
  auto version = isync::parse_whenmodified(ev.whenmodified);
  FUZZ_CHECK(version && *version == ev.version, ev.whenmodified);
  FUZZ_CHECK(ev.snapshot == snapshot, "snapshot differs from the decoded fields");
}

void check_encoding(std::string_view content_type, std::string_view body,
                    isync::Result<Fields> (*decode)(std::string_view), bool form) {
  auto decoded = decode(body);
  auto event = isync::ingest::detail::parse_smart_event(content_type, body);
  if (!decoded) {
    check_error(decoded.error());
    FUZZ_CHECK(!event.has_value(), "accepted a body its decoder refused");
    FUZZ_CHECK(event.error().code == decoded.error().code &&
                   event.error().message == decoded.error().message,
               event.error().message);
    return;
  }
  FUZZ_CHECK(decoded->size() <= isync::ingest::detail::kMaxFields, "too many fields");
  if (form) check_form_round_trip(*decoded);
  if (!event) {
    check_error(event.error());
    return;
  }
  check_event(*event, *decoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace isync::ingest::detail;
  const std::string_view input = isync::fuzz::as_text(data, size);
  check_encoding("application/x-www-form-urlencoded", input, decode_form, true);
  check_encoding("application/json; charset=utf-8", input, decode_json, false);
  check_encoding("text/xml", input, decode_xml, false);

  // The input as a Content-Type header.
  auto encoding = body_encoding(input);
  auto refused = parse_smart_event(input, "");
  FUZZ_CHECK(!refused.has_value(), "an empty body was accepted");
  check_error(refused.error());
  FUZZ_CHECK(encoding.has_value() == (refused.error().code != "unsupported_media_type"),
             refused.error().code);
  return 0;
}
