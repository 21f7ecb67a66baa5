// The reconcile Scheduler at start-up (the catch-up run), at stop(), with
// Redis down, bad entries and starts that never answer.
#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <thread>

#include "tests/reconcile/scheduler_fixture.hpp"

namespace isync::testing::scheduler_tests {
namespace {

TEST_CASE_FIXTURE(
    Fixture,
    "at start-up a tenant whose last success is old runs at once and claims the passed day") {
  at("2024-01-15T12:00:00Z");
  set_last_success("acme", clock.now_ms() - 25 * 3600 * 1000LL);
  auto& s = add({{"acme", "UTC", "02:30"}});
  s.start();
  REQUIRE(starts_reach(1));
  auto calls = starts.calls();
  CHECK(calls[0].trigger == "startup");
  CHECK(calls[0].at_ms == utc_ms("2024-01-15T12:00:00Z"));
  CHECK(server.cmd({"EXISTS", reconcile::day_marker_key("acme", "2024-01-15")}).integer == 1);
  auto ttl = server.cmd({"PTTL", reconcile::startup_marker_key("acme")});
  CHECK(ttl.integer > 0);
  CHECK(ttl.integer <= 10 * 60'000);
  at("2024-01-15T23:59:59Z");
  settle();
  CHECK(starts.count() == 1);
  at("2024-01-16T02:30:00Z");
  REQUIRE(starts_reach(2));
  CHECK(starts.calls()[1].trigger == "schedule");
}

TEST_CASE_FIXTURE(Fixture,
                  "a start-up run before the day's instant leaves the day's run to the schedule") {
  at("2024-01-15T01:00:00Z");
  auto& s = add({{"acme", "UTC", "02:30"}});  // no last success at all
  s.start();
  REQUIRE(starts_reach(1));
  CHECK(starts.calls()[0].trigger == "startup");
  CHECK(server.cmd({"EXISTS", reconcile::day_marker_key("acme", "2024-01-15")}).integer == 0);
  at("2024-01-15T02:30:00Z");
  REQUIRE(starts_reach(2));
  CHECK(starts.calls()[1].trigger == "schedule");
}

TEST_CASE_FIXTURE(
    Fixture,
    "a busy start-up run gives its markers back and checks last success again after retry_after") {
  at("2024-01-15T12:00:00Z");
  set_last_success("acme", clock.now_ms() - 25 * 3600 * 1000LL);
  starts.answer([](std::size_t n) -> std::optional<StartVerdict> {
    return n == 0 ? StartVerdict::busy : StartVerdict::started;
  });
  auto& s = add({{"acme", "UTC", "02:30"}});
  s.start();
  REQUIRE(starts_reach(1));
  const auto day = reconcile::day_marker_key("acme", "2024-01-15");
  const auto startup = reconcile::startup_marker_key("acme");
  CHECK(eventually([&] { return server.cmd({"EXISTS", day, startup}).integer == 0; }));
  at("2024-01-15T12:01:00Z");
  REQUIRE(starts_reach(2));
  settle();
  auto calls = starts.calls();
  REQUIRE(calls.size() == 2);
  CHECK(calls[1].trigger == "startup");
  CHECK(server.cmd({"EXISTS", day, startup}).integer == 2);
}

TEST_CASE_FIXTURE(Fixture,
                  "a busy start-up run is not retried once a run has succeeded meanwhile") {
  at("2024-01-15T01:00:00Z");
  set_last_success("acme", clock.now_ms() - 25 * 3600 * 1000LL);
  starts.answer([](std::size_t) -> std::optional<StartVerdict> { return StartVerdict::busy; });
  auto& s = add({{"acme", "UTC", "02:30"}});
  s.start();
  REQUIRE(starts_reach(1));
  CHECK(eventually([&] { return logged("reconcile busy; trying again later"); }));
  set_last_success("acme", clock.now_ms());  // the run that kept it busy succeeded
  at("2024-01-15T01:01:00Z");
  settle();
  CHECK(starts.count() == 1);
}

TEST_CASE_FIXTURE(Fixture, "at start-up a tenant whose last success is fresh is not run") {
  at("2024-01-15T01:00:00Z");
  set_last_success("acme", clock.now_ms() - 23 * 3600 * 1000LL);
  auto& s = add({{"acme", "UTC", "02:30"}});
  s.start();
  settle();
  CHECK(starts.count() == 0);
  CHECK(server.cmd({"EXISTS", reconcile::startup_marker_key("acme")}).integer == 0);
  at("2024-01-15T02:30:00Z");
  REQUIRE(starts_reach(1));
  CHECK(starts.calls()[0].trigger == "schedule");
}

TEST_CASE_FIXTURE(Fixture,
                  "stop() stops: no start after it returns, and a second stop() is harmless") {
  set_last_success("acme", clock.now_ms());
  auto& s = add({{"acme", "UTC", "02:30"}});
  s.start();
  settle();
  s.stop();
  s.stop();
  at("2024-01-15T02:30:00Z");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto polls = s.polls();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(s.polls() == polls);
  CHECK(starts.count() == 0);
  CHECK(server.cmd({"EXISTS", reconcile::day_marker_key("acme", "2024-01-15")}).integer == 0);
  s.start();  // after stop(): nothing
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(starts.count() == 0);
}

TEST_CASE_FIXTURE(
    Fixture, "while Redis is down the scheduler logs and waits, and runs the day once it is back") {
  set_last_success("acme", clock.now_ms());
  server.stop();
  auto& s = add({{"acme", "UTC", "02:30"}});
  s.start();
  at("2024-01-15T02:30:00Z");
  CHECK(eventually([&] { return logged("redis step failed; trying again at the next poll"); }));
  settle();
  CHECK(starts.count() == 0);
  server.start();
  REQUIRE(starts_reach(1));
  settle();
  CHECK(starts.count() == 1);
  CHECK(starts.calls()[0].trigger == "schedule");  // the data of Redis came back with it
}

TEST_CASE_FIXTURE(Fixture, "an invalid entry is logged and never run; the others are") {
  set_last_success("acme", clock.now_ms());
  set_last_success("beta", clock.now_ms());
  auto& s = add({{"acme", "Mars/Olympus", "02:30"}, {"beta", "UTC", "02:30"}});
  CHECK(logged("reconcile schedule entry ignored"));
  CHECK(logged("unknown time zone 'Mars/Olympus'"));
  s.start();
  at("2024-01-15T02:30:00Z");
  REQUIRE(starts_reach(1));
  settle();
  auto calls = starts.calls();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].tenant == "beta");
}

TEST_CASE_FIXTURE(
    Fixture,
    "a start that never answers is given up after verdict_timeout; the day counts as done") {
  options.verdict_timeout = std::chrono::milliseconds(100);
  set_last_success("acme", clock.now_ms());
  starts.answer([](std::size_t n) -> std::optional<StartVerdict> {
    if (n == 0) return std::nullopt;
    return StartVerdict::started;
  });
  auto& s = add({{"acme", "UTC", "02:30"}});
  s.start();
  at("2024-01-15T02:30:00Z");
  REQUIRE(starts_reach(1));
  CHECK(eventually([&] { return logged("reconcile start gave no verdict in time"); }));
  at("2024-01-15T10:00:00Z");
  settle();
  CHECK(starts.count() == 1);
  // A verdict that comes after all changes nothing here.
  starts.unanswered().at(0)(StartVerdict::started, "");
  settle();
  CHECK(starts.count() == 1);
  at("2024-01-16T02:30:00Z");
  REQUIRE(starts_reach(2));
}

TEST_CASE_FIXTURE(Fixture, "StartFn may call stop(): that start is its last") {
  set_last_success("acme", clock.now_ms());
  Scheduler* self = nullptr;
  starts.answer([&](std::size_t) -> std::optional<StartVerdict> {
    self->stop();
    return StartVerdict::started;
  });
  auto& s = add({{"acme", "UTC", "02:30"}});
  self = &s;
  s.start();
  at("2024-01-15T02:30:00Z");
  REQUIRE(starts_reach(1));
  at("2024-01-16T02:30:00Z");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(starts.count() == 1);
}

}  // namespace
}  // namespace isync::testing::scheduler_tests
