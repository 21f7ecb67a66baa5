// The admin listener's throttle of failed authentications, alone: the limit,
// the window, one count per address, and the bound on what it remembers.
#include "ingest/detail/auth_throttle.hpp"

#include <doctest/doctest.h>

#include <string>

using isync::ingest::detail::AuthThrottle;

TEST_CASE(
    "an address is refused from its limit-th failure until its window ends, then starts afresh") {
  AuthThrottle t(3, std::chrono::milliseconds(60000));
  CHECK(t.blocked_ms("10.0.0.1", 1000) == 0);
  CHECK_FALSE(t.failed("10.0.0.1", 1000));
  CHECK_FALSE(t.failed("10.0.0.1", 2000));
  CHECK(t.blocked_ms("10.0.0.1", 2000) == 0);
  CHECK(t.failed("10.0.0.1", 3000));  // the one that reaches the limit
  CHECK(t.blocked_ms("10.0.0.1", 3000) == 58000);
  CHECK(t.blocked_ms("10.0.0.1", 60999) == 1);
  // More failures while refused do not stretch the window.
  CHECK_FALSE(t.failed("10.0.0.1", 30000));
  CHECK(t.blocked_ms("10.0.0.1", 61000) == 0);
  CHECK(t.tracked() == 0);
  CHECK_FALSE(t.failed("10.0.0.1", 61000));
  CHECK(t.blocked_ms("10.0.0.1", 61000) == 0);
}

TEST_CASE("failures spread wider than the window never refuse") {
  AuthThrottle t(3, std::chrono::milliseconds(1000));
  for (int i = 0; i < 10; ++i) {
    CHECK_FALSE(t.failed("10.0.0.1", i * 600));
    CHECK(t.blocked_ms("10.0.0.1", i * 600) == 0);
  }
}

TEST_CASE("each address counts its own failures") {
  AuthThrottle t(2, std::chrono::milliseconds(60000));
  CHECK_FALSE(t.failed("10.0.0.1", 0));
  CHECK_FALSE(t.failed("10.0.0.2", 0));
  CHECK(t.failed("10.0.0.1", 1));
  CHECK(t.blocked_ms("10.0.0.1", 2) > 0);
  CHECK(t.blocked_ms("10.0.0.2", 2) == 0);
  CHECK(t.blocked_ms("::1", 2) == 0);
}

TEST_CASE("it remembers at most max_addresses: an ended window gives way first, else the oldest") {
  AuthThrottle t(2, std::chrono::milliseconds(1000), 3);
  CHECK_FALSE(t.failed("a", 0));
  CHECK(t.failed("a", 0));  // refused until 1000
  CHECK_FALSE(t.failed("b", 500));
  CHECK_FALSE(t.failed("c", 600));
  CHECK(t.tracked() == 3);
  // At 1200 a's window has ended: it gives way, b and c stay.
  CHECK_FALSE(t.failed("d", 1200));
  CHECK(t.tracked() == 3);
  CHECK(t.failed("b", 1201));
  // All windows open: the oldest (b, from 500) gives way to e.
  CHECK_FALSE(t.failed("e", 1300));
  CHECK(t.tracked() == 3);
  CHECK(t.blocked_ms("b", 1300) == 0);
  CHECK(t.failed("c", 1301));
  CHECK(t.blocked_ms("c", 1302) == 298);
  for (int i = 0; i < 1000; ++i) (void)t.failed("x" + std::to_string(i), 1400);
  CHECK(t.tracked() == 3);
}

TEST_CASE("a limit of 0 never refuses and remembers nothing") {
  AuthThrottle t(0, std::chrono::milliseconds(60000));
  for (int i = 0; i < 100; ++i) CHECK_FALSE(t.failed("10.0.0.1", i));
  CHECK(t.blocked_ms("10.0.0.1", 100) == 0);
  CHECK(t.tracked() == 0);
}
