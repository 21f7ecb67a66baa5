#include <doctest/doctest.h>

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
