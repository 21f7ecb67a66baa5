// The calendar side of the schedule: the run's instant in a tenant's zone,
// the local date of an instant, the Redis keys and entry validation. The
// Scheduler itself is in scheduler.cpp.
#include "reconcile/schedule.hpp"

#include <date/tz.h>

#include <exception>

#include "queue/queue.hpp"

namespace isync::reconcile {

namespace {

// Zone names of the database are at most a few dozen characters; messages
// quote at most this much of any value.
constexpr std::size_t kMaxQuoted = 64;

// Reads exactly `n` decimal digits at `pos`.
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

// "YYYY-MM-DD", a real calendar date in the years 1900 to 9999.
bool parse_date(std::string_view s, date::year_month_day& out) {
  int y = 0, m = 0, d = 0;
  if (s.size() != 10 || !digits(s, 0, 4, y) || s[4] != '-' || !digits(s, 5, 2, m) || s[7] != '-' ||
      !digits(s, 8, 2, d) || y < 1900) {
    return false;
  }
  out = date::year{y} / date::month{static_cast<unsigned>(m)} / date::day{static_cast<unsigned>(d)};
  return out.ok();
}

// "HH:MM", 00:00 to 23:59.
bool parse_hhmm(std::string_view s, std::chrono::minutes& out) {
  int h = 0, m = 0;
  if (s.size() != 5 || !digits(s, 0, 2, h) || s[2] != ':' || !digits(s, 3, 2, m) || h > 23 ||
      m > 59) {
    return false;
  }
  out = std::chrono::hours{h} + std::chrono::minutes{m};
  return true;
}

Error unknown_zone(std::string_view tz) {
  return make_error("invalid_timezone", "unknown time zone '" + shorten(tz, kMaxQuoted) + "'");
}

// The zone named `tz`, or nullptr. valid_timezone refuses over-long names
// and loads the database's zone list once; locate_zone reports an unknown
// name by throwing, which stays here.
const date::time_zone* find_zone(std::string_view tz) {
  if (!valid_timezone(tz)) return nullptr;
  try {
    return date::locate_zone(tz);
  } catch (const std::exception&) {
    return nullptr;
  }
}

}  // namespace

Result<std::int64_t> run_instant(std::string_view tz, std::string_view day, std::string_view hhmm) {
  const date::time_zone* zone = find_zone(tz);
  if (zone == nullptr) return unknown_zone(tz);
  date::year_month_day ymd;
  if (!parse_date(day, ymd)) {
    return make_error("invalid_time", "date \"" + shorten(day, kMaxQuoted) +
                                          "\" is not a date: expected YYYY-MM-DD");
  }
  std::chrono::minutes at{};
  if (!parse_hhmm(hhmm, at)) {
    return make_error("invalid_time",
                      "time \"" + shorten(hhmm, kMaxQuoted) +
                          "\" is not a time of day: expected HH:MM (00:00 to 23:59)");
  }
  const date::local_seconds local{date::local_days{ymd}.time_since_epoch() + at};
  date::local_info info;
  try {
    info = zone->get_info(local);
  } catch (const std::exception&) {
    // The zone's file could not be read (e.g. removed after start).
    return unknown_zone(tz);
  }
  date::sys_seconds instant;
  switch (info.result) {
    case date::local_info::nonexistent:
      // Local clocks jump over `at`: the transition is the first instant
      // whose local time is later than `at` on that date.
      instant = info.first.end;
      break;
    case date::local_info::ambiguous:  // the first occurrence: before the clocks go back
    case date::local_info::unique:
      instant = date::sys_seconds{local.time_since_epoch() - info.first.offset};
      break;
  }
  return static_cast<std::int64_t>(instant.time_since_epoch().count());
}

Result<std::string> local_day(std::string_view tz, std::int64_t t) {
  auto us = local_date(t, tz);  // "MM/DD/YYYY"
  if (!us) return us.error();
  const std::string& d = *us;
  // An Error is also constructible from a string, so the value is spelled out.
  return Result<std::string>(boost::system::in_place_value,
                             d.substr(6, 4) + "-" + d.substr(0, 2) + "-" + d.substr(3, 2));
}

std::string day_marker_key(std::string_view tenant, std::string_view day) {
  return queue::key(tenant, "reconcile:day:" + std::string(day));
}

std::string startup_marker_key(std::string_view tenant) {
  return queue::key(tenant, "reconcile:startup");
}

std::string last_success_key(std::string_view tenant) {
  return queue::key(tenant, "reconcile:last_success");
}

Result<void> validate(const ScheduleEntry& e) {
  if (!valid_tenant_id(e.tenant)) {
    return make_error("invalid_tenant", "tenant id '" + shorten(e.tenant, kMaxQuoted) +
                                            "' is invalid: expected [a-z0-9_-]{1,64}");
  }
  // Any valid date serves to check the zone and the time of day.
  auto r = run_instant(e.timezone, "2000-01-01", e.reconcile_at);
  if (!r) {
    return make_error(r.error().code, "tenant '" + e.tenant + "': " + r.error().message);
  }
  return {};
}

}  // namespace isync::reconcile
