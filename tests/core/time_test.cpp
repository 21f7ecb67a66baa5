#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "core/core.hpp"

using namespace isync;

TEST_CASE("whenmodified in Intacct's MM/DD/YYYY HH:MM:SS form is UTC epoch seconds") {
  auto t = parse_whenmodified("07/24/2017 15:19:46");
  REQUIRE(t);
  CHECK(*t == 1500909586);
  CHECK(format_whenmodified(*t) == "07/24/2017 15:19:46");
}

TEST_CASE("whenmodified as a bare date is midnight UTC") {
  CHECK(*parse_whenmodified("01/31/2024") == 1706659200);
  CHECK(*parse_whenmodified("2024-01-31") == 1706659200);
}

TEST_CASE("whenmodified in ISO-8601 honours Z, offsets and fractions") {
  CHECK(*parse_whenmodified("2017-07-24T15:19:46Z") == 1500909586);
  CHECK(*parse_whenmodified("2017-07-24T15:19:46") == 1500909586);
  CHECK(*parse_whenmodified("2017-07-24T08:19:46-07:00") == 1500909586);
  CHECK(*parse_whenmodified("2017-07-24T17:19:46+0200") == 1500909586);
  CHECK(*parse_whenmodified("2017-07-24T15:19:46.123Z") == 1500909586);
}

TEST_CASE("a leap day parses; an impossible date is an error naming the value") {
  CHECK(parse_whenmodified("02/29/2024 00:00:00"));
  auto bad = parse_whenmodified("02/29/2023 00:00:00");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == "invalid_field");
  CHECK(bad.error().message.find("02/29/2023 00:00:00") != std::string::npos);
}

TEST_CASE("malformed whenmodified values are errors, never guesses") {
  for (const char* s : {"", "yesterday", "7/24/2017 15:19:46", "07/24/2017 15:19", "13/01/2024",
                        "07/24/2017 24:00:00", "07/24/2017 15:60:00", "2017-07-24T15:19:46+25:00",
                        "2017-07-24X15:19:46", "07/24/2017 15:19:46 ", "1500909586"}) {
    CAPTURE(s);
    CHECK_FALSE(parse_whenmodified(s));
  }
}

// ---- local_date --------------------------------------------------------------

TEST_CASE("local_date in UTC is the UTC calendar date, midnight belonging to the new day") {
  CHECK(*local_date(1767225599, "UTC") == "12/31/2025");  // 2025-12-31 23:59:59Z
  CHECK(*local_date(1767225600, "UTC") == "01/01/2026");  // 2026-01-01 00:00:00Z
  CHECK(*local_date(0, "UTC") == "01/01/1970");
}

TEST_CASE(
    "local_date in America/New_York is still the previous day a few hours after UTC midnight") {
  CHECK(*local_date(1795318200, "America/New_York") == "11/21/2026");  // 2026-11-22 03:30Z
  CHECK(*local_date(1795318200, "UTC") == "11/22/2026");
  CHECK(*local_date(1795323600, "America/New_York") == "11/22/2026");  // 05:00Z = 00:00 EST
}

TEST_CASE("local_date follows daylight saving: the offset changes on the switch days") {
  // 2026-03-08: clocks spring forward (EST -5 -> EDT -4).
  CHECK(*local_date(1772944200, "America/New_York") == "03/07/2026");  // 04:30Z = 23:30 EST
  CHECK(*local_date(1773030600, "America/New_York") == "03/09/2026");  // 04:30Z = 00:30 EDT
  // 2026-11-01: clocks fall back (EDT -4 -> EST -5).
  CHECK(*local_date(1793507400, "America/New_York") == "11/01/2026");  // 04:30Z = 00:30 EDT
  CHECK(*local_date(1793593800, "America/New_York") == "11/01/2026");  // 04:30Z = 23:30 EST
}

TEST_CASE("local_date honours half-hour and +14 offsets") {
  CHECK(*local_date(1767292199, "Asia/Kolkata") == "01/01/2026");        // 18:29:59Z = 23:59:59 IST
  CHECK(*local_date(1767292200, "Asia/Kolkata") == "01/02/2026");        // 18:30Z = 00:00 IST
  CHECK(*local_date(1767261599, "Pacific/Kiritimati") == "01/01/2026");  // 09:59:59Z
  CHECK(*local_date(1767261600, "Pacific/Kiritimati") == "01/02/2026");  // 10:00Z = 00:00 +14
}

TEST_CASE("an unknown time zone is an invalid_timezone error naming it") {
  auto r = local_date(1767225600, "Mars/Olympus_Mons");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "invalid_timezone");
  CHECK(r.error().message == "unknown time zone 'Mars/Olympus_Mons'");
  auto empty = local_date(1767225600, "");
  REQUIRE_FALSE(empty.has_value());
  CHECK(empty.error().message == "unknown time zone ''");
}

TEST_CASE("valid_timezone accepts zones of the database and nothing else") {
  CHECK(valid_timezone("UTC"));
  CHECK(valid_timezone("America/New_York"));
  CHECK(valid_timezone("Asia/Kolkata"));
  CHECK_FALSE(valid_timezone(""));
  CHECK_FALSE(valid_timezone("Mars/Olympus_Mons"));
  CHECK_FALSE(valid_timezone("america/new_york"));
  CHECK_FALSE(valid_timezone("../../etc/passwd"));
  CHECK_FALSE(valid_timezone(std::string(200, 'A')));
}

TEST_CASE("local_date refuses instants outside the years 1900 to 9999") {
  auto r = local_date(std::numeric_limits<std::int64_t>::max(), "UTC");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "invalid_time");
  CHECK(*local_date(253402214400, "UTC") == "12/31/9999");
  CHECK(*local_date(-2208988800, "UTC") == "01/01/1900");
}
