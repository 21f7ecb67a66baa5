// The reconcile schedule's calendar: run_instant, local_day, the keys and
// entry validation (pure; the Scheduler is in scheduler_test.cpp).
#include "reconcile/schedule.hpp"

#include <doctest/doctest.h>

#include <string>

namespace isync::testing {
namespace {

using reconcile::local_day;
using reconcile::run_instant;

// Epoch seconds of an ISO-8601 UTC text.
std::int64_t utc(const char* iso) {
  auto r = parse_whenmodified(iso);
  REQUIRE(r);
  return *r;
}

// ---- run_instant / local_day ------------------------------------------------------

TEST_CASE("run_instant: in UTC the run is at reconcile_at itself") {
  CHECK(*run_instant("UTC", "2024-01-15", "02:30") == utc("2024-01-15T02:30:00Z"));
  CHECK(*run_instant("UTC", "2024-01-15", "00:00") == utc("2024-01-15T00:00:00Z"));
  CHECK(*run_instant("UTC", "2024-02-29", "23:59") == utc("2024-02-29T23:59:00Z"));
}

TEST_CASE("run_instant: New York on a winter day runs five hours after UTC, in summer four") {
  CHECK(*run_instant("America/New_York", "2024-01-15", "02:30") == utc("2024-01-15T07:30:00Z"));
  CHECK(*run_instant("America/New_York", "2024-07-15", "02:30") == utc("2024-07-15T06:30:00Z"));
}

TEST_CASE("run_instant: a time skipped by the spring change runs at the transition") {
  // 2024-03-10: New York's clocks go from 02:00 EST straight to 03:00 EDT (07:00Z).
  CHECK(*run_instant("America/New_York", "2024-03-10", "02:30") == utc("2024-03-10T07:00:00Z"));
  CHECK(*run_instant("America/New_York", "2024-03-10", "02:00") == utc("2024-03-10T07:00:00Z"));
  CHECK(*run_instant("America/New_York", "2024-03-10", "01:59") == utc("2024-03-10T06:59:00Z"));
  CHECK(*run_instant("America/New_York", "2024-03-10", "03:00") == utc("2024-03-10T07:00:00Z"));
  CHECK(*run_instant("America/New_York", "2024-03-10", "03:30") == utc("2024-03-10T07:30:00Z"));
}

TEST_CASE("run_instant: a time repeated by the autumn change is its first occurrence") {
  // 2024-11-03: 01:00-02:00 happens twice, first EDT (05:00Z-06:00Z) then EST.
  CHECK(*run_instant("America/New_York", "2024-11-03", "01:30") == utc("2024-11-03T05:30:00Z"));
  CHECK(*run_instant("America/New_York", "2024-11-03", "00:59") == utc("2024-11-03T04:59:00Z"));
  CHECK(*run_instant("America/New_York", "2024-11-03", "02:00") == utc("2024-11-03T07:00:00Z"));
}

TEST_CASE("run_instant: Kolkata's half-hour offset puts the run on the previous UTC day") {
  CHECK(*run_instant("Asia/Kolkata", "2024-01-15", "02:30") == utc("2024-01-14T21:00:00Z"));
}

TEST_CASE("run_instant: an unknown zone, a bad date or a bad time is refused, naming it") {
  auto zone = run_instant("Mars/Olympus", "2024-01-15", "02:30");
  REQUIRE(!zone);
  CHECK(zone.error().code == "invalid_timezone");
  CHECK(zone.error().message == "unknown time zone 'Mars/Olympus'");
  CHECK(run_instant("", "2024-01-15", "02:30").error().code == "invalid_timezone");

  for (const char* d : {"2024-02-30", "2023-02-29", "2024-13-01", "2024/01/15", "24-01-15",
                        "2024-01-15T00", "1899-12-31", ""}) {
    CAPTURE(d);
    auto r = run_instant("UTC", d, "02:30");
    REQUIRE(!r);
    CHECK(r.error().code == "invalid_time");
    CHECK(r.error().message ==
          "date \"" + std::string(d) + "\" is not a date: expected YYYY-MM-DD");
  }
  for (const char* t : {"24:00", "02:60", "2:30", "02:3", "0230", "02:30:00", "ab:cd", ""}) {
    CAPTURE(t);
    auto r = run_instant("UTC", "2024-01-15", t);
    REQUIRE(!r);
    CHECK(r.error().code == "invalid_time");
    CHECK(r.error().message ==
          "time \"" + std::string(t) + "\" is not a time of day: expected HH:MM (00:00 to 23:59)");
  }
}

TEST_CASE("local_day: the date of an instant in the tenant's zone") {
  CHECK(*local_day("UTC", utc("2024-01-15T00:00:00Z")) == "2024-01-15");
  CHECK(*local_day("America/New_York", utc("2024-01-15T04:59:59Z")) == "2024-01-14");
  CHECK(*local_day("America/New_York", utc("2024-01-15T05:00:00Z")) == "2024-01-15");
  CHECK(*local_day("Asia/Kolkata", utc("2024-01-14T18:29:59Z")) == "2024-01-14");
  CHECK(*local_day("Asia/Kolkata", utc("2024-01-14T18:30:00Z")) == "2024-01-15");
  auto bad = local_day("Nowhere/Town", 0);
  REQUIRE(!bad);
  CHECK(bad.error().code == "invalid_timezone");
  CHECK(bad.error().message == "unknown time zone 'Nowhere/Town'");
}

TEST_CASE("the schedule's Redis keys carry the tenant as a hash tag") {
  CHECK(reconcile::day_marker_key("acme", "2024-01-15") == "isync:{acme}:reconcile:day:2024-01-15");
  CHECK(reconcile::startup_marker_key("acme") == "isync:{acme}:reconcile:startup");
  CHECK(reconcile::last_success_key("acme") == "isync:{acme}:reconcile:last_success");
}

TEST_CASE("validate: a bad tenant id, zone or time of day is refused, naming the tenant") {
  CHECK(reconcile::validate({"acme", "America/New_York", "02:30"}));
  auto tenant = reconcile::validate({"Acme Corp", "UTC", "02:30"});
  REQUIRE(!tenant);
  CHECK(tenant.error().code == "invalid_tenant");
  CHECK(tenant.error().message == "tenant id 'Acme Corp' is invalid: expected [a-z0-9_-]{1,64}");
  auto zone = reconcile::validate({"acme", "EST5", "02:30"});
  REQUIRE(!zone);
  CHECK(zone.error().code == "invalid_timezone");
  CHECK(zone.error().message == "tenant 'acme': unknown time zone 'EST5'");
  auto time = reconcile::validate({"acme", "UTC", "2:30"});
  REQUIRE(!time);
  CHECK(time.error().code == "invalid_time");
  CHECK(time.error().message ==
        "tenant 'acme': time \"2:30\" is not a time of day: expected HH:MM (00:00 to 23:59)");
}

}  // namespace
}  // namespace isync::testing
