// Internal to oncall/: what the request checks of oncall/http.hpp share
// across their files (http_time.cpp, http_query.cpp, http_body.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "oncall/http.hpp"

namespace isync::oncall::detail {

inline constexpr std::int64_t kMaxEpochMs = 253402300799999;  // 9999-12-31T23:59:59.999Z

inline Error invalid(std::string message) {
  return make_error("invalid_field", std::move(message));
}
// A client's value quoted in a message, cut to 64 bytes.
inline std::string quoted(std::string_view s) { return "\"" + shorten(s, 64) + "\""; }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
// No control characters.
bool printable(std::string_view s);
bool configured(const std::vector<std::string>& tenants, std::string_view t);
Error unknown_tenant(std::string_view field, std::string_view t);

// One filter parameter into `q`; `prefix` is "" for the query, "filter." for
// a body's filter (messages name the field with it).
Result<void> set_filter_field(ListQuery& q, std::string_view prefix, std::string_view name,
                              std::string_view value, const std::vector<std::string>& tenants);
// key needs object; since <= until.
Result<void> check_filter(const ListQuery& q, std::string_view prefix);

}  // namespace isync::oncall::detail
