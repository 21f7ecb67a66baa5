#include <date/tz.h>

#include <charconv>
#include <cstdio>
#include <exception>

#include "core/core.hpp"

namespace isync {

namespace {

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kDays[m - 1];
}

// Reads exactly `n` digits at `pos`.
bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

struct Civil {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  int offset_seconds = 0;  // east of UTC
};

bool valid(const Civil& c) {
  return c.year >= 1900 && c.year <= 9999 && c.month >= 1 && c.month <= 12 && c.day >= 1 &&
         c.day <= days_in_month(c.year, c.month) && c.hour >= 0 && c.hour < 24 && c.minute >= 0 &&
         c.minute < 60 && c.second >= 0 && c.second < 60;
}

bool parse_us(std::string_view s, Civil& c) {
  // MM/DD/YYYY or MM/DD/YYYY HH:MM:SS
  if (!(s.size() == 10 || s.size() == 19)) return false;
  if (!digits(s, 0, 2, c.month) || s[2] != '/' || !digits(s, 3, 2, c.day) || s[5] != '/' ||
      !digits(s, 6, 4, c.year))
    return false;
  if (s.size() == 10) return true;
  return s[10] == ' ' && digits(s, 11, 2, c.hour) && s[13] == ':' && digits(s, 14, 2, c.minute) &&
         s[16] == ':' && digits(s, 17, 2, c.second);
}

bool parse_iso(std::string_view s, Civil& c) {
  if (s.size() < 10) return false;
  if (!digits(s, 0, 4, c.year) || s[4] != '-' || !digits(s, 5, 2, c.month) || s[7] != '-' ||
      !digits(s, 8, 2, c.day))
    return false;
  if (s.size() == 10) return true;
  if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return false;
  if (!digits(s, 11, 2, c.hour) || s.size() < 19 || s[13] != ':' || !digits(s, 14, 2, c.minute) ||
      s[16] != ':' || !digits(s, 17, 2, c.second))
    return false;
  std::size_t pos = 19;
  if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
    ++pos;
    std::size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    if (pos == start || pos - start > 9) return false;  // fraction dropped (1 s resolution)
  }
  if (pos == s.size()) return true;
  if ((s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size()) return true;
  if (s[pos] != '+' && s[pos] != '-') return false;
  int sign = s[pos] == '-' ? -1 : 1;
  int oh = 0, om = 0;
  std::string_view rest = s.substr(pos + 1);
  if (rest.size() == 5 && digits(rest, 0, 2, oh) && rest[2] == ':' && digits(rest, 3, 2, om)) {
  } else if (rest.size() == 4 && digits(rest, 0, 2, oh) && digits(rest, 2, 2, om)) {
  } else if (rest.size() == 2 && digits(rest, 0, 2, oh)) {
  } else {
    return false;
  }
  if (oh > 23 || om > 59) return false;
  c.offset_seconds = sign * (oh * 3600 + om * 60);
  return true;
}

}  // namespace

Result<std::int64_t> parse_whenmodified(std::string_view text) {
  Civil c;
  bool ok = (text.size() >= 3 && text[2] == '/') ? parse_us(text, c) : parse_iso(text, c);
  if (!ok || !valid(c)) {
    std::string shown(text.substr(0, 64));
    return make_error("invalid_field",
                      "whenmodified \"" + shown +
                          "\" is not a date: expected MM/DD/YYYY HH:MM:SS, MM/DD/YYYY or ISO-8601");
  }
  std::int64_t days =
      days_from_civil(c.year, static_cast<unsigned>(c.month), static_cast<unsigned>(c.day));
  return days * 86400 + c.hour * 3600 + c.minute * 60 + c.second - c.offset_seconds;
}

std::string format_whenmodified(std::int64_t t) {
  const std::int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
  const std::int64_t secs = t - days * 86400;
  const CivilDay c = civil_from_days(days);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%02u/%02u/%04lld %02lld:%02lld:%02lld", c.month, c.day,
                static_cast<long long>(c.year), static_cast<long long>(secs / 3600),
                static_cast<long long>(secs % 3600 / 60), static_cast<long long>(secs % 60));
  return buf;
}

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

CivilDay civil_from_days(std::int64_t days) {
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  CivilDay c;
  c.day = doy - (153 * mp + 2) / 5 + 1;
  c.month = mp < 10 ? mp + 3 : mp - 9;
  c.year = static_cast<std::int64_t>(yoe) + era * 400 + (c.month <= 2 ? 1 : 0);
  return c;
}

namespace {

// Zone names of the database are at most a few dozen characters; a longer
// text is refused before any lookup.
constexpr std::size_t kMaxZoneName = 64;

// The zone named `tz`, or nullptr. The library reads the zone list of
// /usr/share/zoneinfo once (a function-local static) and each zone's rules on
// first use (std::call_once), so lookups are thread-safe. It reports an
// unknown name by throwing; that stays inside this function.
const date::time_zone* find_zone(std::string_view tz) {
  if (tz.empty() || tz.size() > kMaxZoneName) return nullptr;
  try {
    return date::locate_zone(tz);
  } catch (const std::exception&) {
    return nullptr;
  }
}

}  // namespace

bool valid_timezone(std::string_view tz) { return find_zone(tz) != nullptr; }

Result<std::string> local_date(std::int64_t epoch_s, std::string_view tz) {
  const date::time_zone* zone = find_zone(tz);
  if (zone == nullptr) {
    return make_error("invalid_timezone", "unknown time zone '" + shorten(tz, kMaxZoneName) + "'");
  }
  // Years 1900..9999 only: beyond them the offset arithmetic could overflow,
  // and Intacct's four-digit years could not say the date anyway.
  constexpr std::int64_t kMin = -2208988800;   // 01/01/1900 00:00:00 UTC
  constexpr std::int64_t kMax = 253402214400;  // 12/31/9999 00:00:00 UTC
  if (epoch_s < kMin || epoch_s > kMax) {
    return make_error("invalid_time",
                      "time " + std::to_string(epoch_s) + " is outside the years 1900 to 9999");
  }
  const date::sys_seconds instant{std::chrono::seconds{epoch_s}};
  std::chrono::seconds offset;
  try {
    offset = zone->get_info(instant).offset;
  } catch (const std::exception&) {
    // The zone's file could not be read (e.g. removed after start).
    return make_error("invalid_timezone", "unknown time zone '" + shorten(tz, kMaxZoneName) + "'");
  }
  const auto local_days =
      date::floor<date::days>(date::local_seconds{instant.time_since_epoch() + offset});
  const date::year_month_day ymd{local_days};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02u/%02u/%04d", static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(ymd.year()));
  // An Error is also constructible from a string, so the value is spelled out.
  return Result<std::string>(boost::system::in_place_value, std::string(buf));
}

}  // namespace isync
