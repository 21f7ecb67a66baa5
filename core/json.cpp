#include "core/json.hpp"

#include <rapidjson/error/en.h>

#include <cstdio>

namespace isync::json {
namespace detail {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

Error malformed(const Policy& policy, std::string what) {
  return make_error("malformed_body", std::string(policy.subject) + " " + std::move(what));
}

}  // namespace

std::string lone_surrogate(const char* s, std::size_t n) {
  const auto* p = reinterpret_cast<const unsigned char*>(s);
  // U+D800..U+DFFF encode as ED A0..BF xx; a valid pair would have been
  // combined into one four-byte sequence by the parser.
  for (std::size_t i = 0; i + 2 < n; ++i) {
    if (p[i] == 0xED && p[i + 1] >= 0xA0 && p[i + 1] <= 0xBF) {
      unsigned cp = 0xD000u | ((p[i + 1] & 0x3Fu) << 6) | (p[i + 2] & 0x3Fu);
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      return buf;
    }
  }
  return {};
}

Result<void> outcome(const Policy& policy, const Stop& stop, rapidjson::ParseErrorCode code,
                     std::size_t error_offset, std::string_view text, std::size_t end) {
  switch (stop.why) {
    case Stop::Why::too_deep:
      return malformed(policy,
                       "is nested deeper than " + std::to_string(policy.max_depth) + " levels");
    case Stop::Why::duplicate_key:
      return malformed(policy,
                       "has the key \"" + shorten(stop.detail, 64) + "\" twice in one object");
    case Stop::Why::lone_surrogate:
      return malformed(policy, "has a lone surrogate " + stop.detail +
                                   " in a string (not a character), before offset " +
                                   std::to_string(stop.offset));
    case Stop::Why::none:
      break;
  }
  if (code == rapidjson::kParseErrorStringInvalidEncoding) {
    return malformed(policy,
                     "has invalid UTF-8 in a string, at offset " + std::to_string(error_offset));
  }
  if (code == rapidjson::kParseErrorTermination) {
    return malformed(policy, "was refused by its reader at offset " + std::to_string(error_offset));
  }
  if (code != rapidjson::kParseErrorNone) {
    return malformed(policy, std::string("does not parse: ") + rapidjson::GetParseError_En(code) +
                                 " at offset " + std::to_string(error_offset));
  }
  for (std::size_t i = end; i < text.size(); ++i) {
    if (!is_blank(text[i])) {
      return malformed(policy,
                       "has trailing bytes after the value, at offset " + std::to_string(i));
    }
  }
  return {};
}

}  // namespace detail

Result<rapidjson::Document> parse(std::string_view text, const Policy& policy) {
  rapidjson::Document doc;
  Result<void> parsed;
  auto generate = [&](rapidjson::Document& handler) {
    parsed = parse_events(text, policy, handler);
    return parsed.has_value();
  };
  doc.Populate(generate);
  if (!parsed) return parsed.error();
  return doc;
}

}  // namespace isync::json
