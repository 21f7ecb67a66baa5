#include <doctest/doctest.h>

#include "config/config.hpp"

using namespace isync::config;
using std::chrono::milliseconds;

TEST_CASE("durations take a whole number and one of ms, s, m, h, d") {
  CHECK(*parse_duration("500ms") == milliseconds(500));
  CHECK(*parse_duration("10s") == milliseconds(10'000));
  CHECK(*parse_duration("5m") == milliseconds(300'000));
  CHECK(*parse_duration("1h") == milliseconds(3'600'000));
  CHECK(*parse_duration("30d") == milliseconds(30LL * 86'400'000));
  CHECK(*parse_duration("0s") == milliseconds(0));
}

TEST_CASE("a duration that is not a whole number and a known unit is rejected, naming the value") {
  for (const char* bad : {"", "10", "s", "1.5s", "-1s", "10 s", "10sec", "1w", " 1s", "1s ",
                          "99999999999999999999d"}) {
    CAPTURE(bad);
    auto r = parse_duration(bad);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == "config");
    CHECK(r.error().message == "invalid duration \"" + std::string(bad) +
                                   "\": expected a whole number and a unit (ms, s, m, h, d), "
                                   "e.g. \"10s\"");
  }
}

TEST_CASE("sizes take a whole number and one of B, KiB, MiB, GiB") {
  CHECK(*parse_size("512B") == 512);
  CHECK(*parse_size("16KiB") == 16 * 1024);
  CHECK(*parse_size("1MiB") == 1024 * 1024);
  CHECK(*parse_size("2GiB") == 2ULL * 1024 * 1024 * 1024);
}

TEST_CASE("a size with an ambiguous or unknown unit is rejected") {
  for (const char* bad : {"1MB", "1mb", "1K", "1024", "KiB", "1.5MiB", "-1B"}) {
    CAPTURE(bad);
    auto r = parse_size(bad);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message == "invalid size \"" + std::string(bad) +
                                   "\": expected a whole number and a unit (B, KiB, MiB, GiB), "
                                   "e.g. \"1MiB\"");
  }
}

TEST_CASE("listen addresses are host:port or [v6]:port") {
  auto a = parse_listen("127.0.0.1:8080");
  REQUIRE(a.has_value());
  CHECK(a->host == "127.0.0.1");
  CHECK(a->port == 8080);
  auto b = parse_listen("[::1]:0");
  REQUIRE(b.has_value());
  CHECK(b->host == "::1");
  CHECK(b->port == 0);
  CHECK(b->text() == "[::1]:0");
  for (const char* bad : {"127.0.0.1", ":80", "host:", "host:65536", "::1:80", "[::1]80", "h:8x"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_listen(bad).has_value());
  }
}
