// Shared by the Scheduler tests: a real redis-server, an io loop, a
// ManualClock, a captured log, and a StartFn that records its calls and
// answers as the test says. Schedulers added with add() each get a connection
// of their own, as separate processes would.
#pragma once

#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reconcile/schedule.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

// Its own namespace: other reconcile tests link into the same executable.
namespace isync::testing::scheduler_tests {

using reconcile::ScheduleEntry;
using reconcile::Scheduler;
using reconcile::SchedulerOptions;
using reconcile::StartVerdict;

// Epoch seconds of an ISO-8601 UTC text.
inline std::int64_t utc(const char* iso) {
  auto r = parse_whenmodified(iso);
  REQUIRE(r);
  return *r;
}
inline std::int64_t utc_ms(const char* iso) { return utc(iso) * 1000; }

struct Call {
  std::string tenant, trigger;
  std::int64_t at_ms;
};

// The StartFn of the tests: records each call and answers with the verdict
// given by answer() for the call's number (from 0), synchronously; started
// when none is given.
class Starts {
 public:
  // nullopt: never answer (the callback is kept in unanswered()).
  using Verdict = std::function<std::optional<StartVerdict>(std::size_t)>;

  explicit Starts(const Clock& clock) : clock_(clock) {}

  reconcile::StartFn fn() {
    return [this](const std::string& tenant, std::string trigger,
                  std::function<void(StartVerdict, std::string)> done) {
      std::size_t n;
      Verdict verdict;
      {
        std::lock_guard lock(mu_);
        n = calls_.size();
        calls_.push_back({tenant, trigger, clock_.now_ms()});
        verdict = verdict_;
      }
      std::optional<StartVerdict> v = verdict ? verdict(n) : StartVerdict::started;
      if (!v) {
        std::lock_guard lock(mu_);
        unanswered_.push_back(std::move(done));
        return;
      }
      done(*v, *v == StartVerdict::started ? "" : "index_building");
    };
  }

  void answer(Verdict verdict) {
    std::lock_guard lock(mu_);
    verdict_ = std::move(verdict);
  }
  std::size_t count() {
    std::lock_guard lock(mu_);
    return calls_.size();
  }
  std::vector<Call> calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::vector<std::function<void(StartVerdict, std::string)>> unanswered() {
    std::lock_guard lock(mu_);
    return unanswered_;
  }

 private:
  const Clock& clock_;
  std::mutex mu_;
  std::vector<Call> calls_;
  Verdict verdict_;
  std::vector<std::function<void(StartVerdict, std::string)>> unanswered_;
};

struct Fixture {
  RedisServer server;
  Loop loop;
  ManualClock clock{utc_ms("2024-01-15T00:00:00Z")};
  std::mutex log_mu;
  std::vector<std::string> log_lines;
  Log log{Level::info, [this](std::string_view line) {
            std::lock_guard lock(log_mu);
            log_lines.emplace_back(line);
          }};
  Starts starts{clock};
  std::vector<std::shared_ptr<redis::Connection>> conns;
  std::vector<std::unique_ptr<Scheduler>> schedulers;
  SchedulerOptions options;

  Fixture() {
    options.poll = std::chrono::milliseconds(10);
    options.retry_after = std::chrono::milliseconds(60'000);
  }

  ~Fixture() {
    schedulers.clear();
    for (auto& c : conns) close_and_wait(*c);
    loop.stop();
  }

  // A scheduler on a connection of its own (as another process would have).
  Scheduler& add(std::vector<ScheduleEntry> entries) {
    redis::Options o;
    o.reconnect_interval = std::chrono::milliseconds(50);
    auto conn = redis::Connection::create(loop.executor(), server.endpoint(), o);
    conn->start();
    conns.push_back(conn);
    schedulers.push_back(std::make_unique<Scheduler>(loop.executor(), conn, clock, log,
                                                     std::move(entries), starts.fn(), options));
    return *schedulers.back();
  }

  // Waits until every scheduler has polled `n` more times, so that what the
  // clock now allows has been done (a poll's Redis steps end well within a
  // few polls of 10 ms).
  void settle(std::uint64_t n = 10) {
    std::vector<std::uint64_t> from;
    for (auto& s : schedulers) from.push_back(s->polls());
    REQUIRE(eventually([&] {
      for (std::size_t i = 0; i < schedulers.size(); ++i) {
        if (schedulers[i]->polls() < from[i] + n) return false;
      }
      return true;
    }));
  }

  void set_last_success(const std::string& tenant, std::int64_t ms) {
    server.cmd({"SET", reconcile::last_success_key(tenant), std::to_string(ms)});
  }

  bool logged(std::string_view text) {
    std::lock_guard lock(log_mu);
    for (const auto& l : log_lines) {
      if (l.find(text) != std::string::npos) return true;
    }
    return false;
  }

  void at(const char* iso) { clock.set(utc_ms(iso)); }
  // Waits until `n` starts in all have been made.
  bool starts_reach(std::size_t n) {
    return eventually([&] { return starts.count() >= n; });
  }
};

}  // namespace isync::testing::scheduler_tests
