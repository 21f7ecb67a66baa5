// Times of the admin API: RFC 3339 or epoch milliseconds (oncall/http.hpp).
#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <optional>

#include "oncall/detail/http_checks.hpp"

namespace isync::oncall {

using detail::invalid;
using detail::is_digit;
using detail::kMaxEpochMs;

namespace {

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr std::array<unsigned, 12> kDays{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// `n` digits at `s[at]` as a number; false when they are not all digits.
bool digits(std::string_view s, std::size_t at, std::size_t n, int& out) {
  if (at + n > s.size()) return false;
  out = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (!is_digit(s[i])) return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

// RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM).
std::optional<std::int64_t> rfc3339_ms(std::string_view s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2, h) ||
      s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, sec)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 ||
      d > static_cast<int>(days_in_month(y, static_cast<unsigned>(mo))) || h > 23 || mi > 59 ||
      sec > 59) {
    return std::nullopt;
  }
  std::size_t at = 19;
  int ms = 0;
  if (at < s.size() && s[at] == '.') {
    ++at;
    std::size_t start = at;
    int scale = 100;
    while (at < s.size() && is_digit(s[at]) && at - start < 9) {
      ms += (s[at] - '0') * scale;
      scale /= 10;
      ++at;
    }
    if (at == start || (at < s.size() && is_digit(s[at]))) return std::nullopt;
  }
  if (at >= s.size()) return std::nullopt;
  int offset_min = 0;
  if (s[at] == 'Z' || s[at] == 'z') {
    ++at;
  } else if (s[at] == '+' || s[at] == '-') {
    int oh = 0, om = 0;
    if (!digits(s, at + 1, 2, oh) || at + 3 >= s.size() || s[at + 3] != ':' ||
        !digits(s, at + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_min = (s[at] == '-' ? -1 : 1) * (oh * 60 + om);
    at += 6;
  } else {
    return std::nullopt;
  }
  if (at != s.size()) return std::nullopt;
  const std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  const std::int64_t seconds =
      days * 86400 + h * 3600 + mi * 60 + sec - static_cast<std::int64_t>(offset_min) * 60;
  return seconds * 1000 + ms;
}

}  // namespace

Result<std::int64_t> parse_time(std::string_view value, std::string_view name) {
  auto bad = [&] {
    return invalid("\"" + std::string(name) +
                   "\" must be an RFC 3339 time (2026-12-01T10:00:00Z) or epoch milliseconds");
  };
  if (!value.empty() && std::all_of(value.begin(), value.end(), is_digit)) {
    if (value.size() > 15) return bad();
    std::int64_t ms = 0;
    std::from_chars(value.data(), value.data() + value.size(), ms);
    if (ms > kMaxEpochMs) return bad();
    return ms;
  }
  auto ms = rfc3339_ms(value);
  if (!ms || *ms < 0 || *ms > kMaxEpochMs) return bad();
  return *ms;
}

std::string format_time(std::int64_t ms) {
  const std::int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  const auto frac = static_cast<int>(ms - secs * 1000);
  const std::int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  const auto rem = static_cast<int>(secs - days * 86400);
  const CivilDay c = civil_from_days(days);
  const auto y = static_cast<long long>(c.year);
  char buf[96];
  if (frac != 0) {
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", y, c.month, c.day,
                  rem / 3600, rem / 60 % 60, rem % 60, frac);
  } else {
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02dZ", y, c.month, c.day,
                  rem / 3600, rem / 60 % 60, rem % 60);
  }
  return buf;
}

}  // namespace isync::oncall
