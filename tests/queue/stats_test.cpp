#include <doctest/doctest.h>

#include "queue/queue.hpp"

using isync::queue::backoff_delay;
using std::chrono::milliseconds;

TEST_CASE("backoff stays within [0, min(cap, base * 2^(attempt-1))] for attempts 1..40") {
  const milliseconds base{2000}, cap{3600000};
  for (int attempt = 1; attempt <= 40; ++attempt) {
    long long ceiling = std::min<long long>(cap.count(), 2000LL << std::min(attempt - 1, 30));
    for (double r : {0.0, 0.25, 0.5, 0.999999}) {
      auto d = backoff_delay(attempt, base, cap, r);
      CHECK(d.count() >= 0);
      CHECK(d.count() <= ceiling);
    }
    CHECK(backoff_delay(attempt, base, cap, 0.999999).count() >= ceiling * 99 / 100);
  }
}

TEST_CASE("backoff never overflows or goes negative on extreme input") {
  CHECK(backoff_delay(1000000, milliseconds{1}, milliseconds::max(), 0.5).count() >= 0);
  CHECK(backoff_delay(0, milliseconds{100}, milliseconds{1000}, 0.5).count() == 50);
  CHECK(backoff_delay(3, milliseconds{100}, milliseconds{1000}, 1.5).count() <= 400);
  CHECK(backoff_delay(3, milliseconds{100}, milliseconds{1000}, -1.0).count() == 0);
}

TEST_CASE("full jitter spreads the delays over the whole range") {
  std::vector<long long> seen;
  for (int i = 0; i < 10; ++i) {
    seen.push_back(backoff_delay(5, milliseconds{1000}, milliseconds{60000}, i / 10.0).count());
  }
  CHECK(seen.front() == 0);
  CHECK(seen.back() >= 14000);
  for (size_t i = 1; i < seen.size(); ++i) CHECK(seen[i] > seen[i - 1]);
}
