// The reconcile Scheduler's daily runs, against a real redis-server under a
// ManualClock: once per local day, across daylight-saving changes, across two
// processes, and what busy and failed starts do.
#include <doctest/doctest.h>

#include "tests/reconcile/scheduler_fixture.hpp"

namespace isync::testing::scheduler_tests {
namespace {

TEST_CASE_FIXTURE(Fixture,
                  "the scheduler starts a tenant's run once per local day, at reconcile_at") {
  set_last_success("acme", clock.now_ms());
  auto& s = add({{"acme", "UTC", "02:30"}});
  s.start();
  for (const char* day : {"2024-01-15", "2024-01-16", "2024-01-17"}) {
    CAPTURE(day);
    const std::size_t before = starts.count();
    at((std::string(day) + "T02:29:59Z").c_str());
    settle();
    CHECK(starts.count() == before);
    at((std::string(day) + "T02:30:00Z").c_str());
    REQUIRE(starts_reach(before + 1));
    at((std::string(day) + "T14:00:00Z").c_str());
    settle();
    at((std::string(day) + "T23:59:59Z").c_str());
    settle();
    CHECK(starts.count() == before + 1);
    auto marker = server.cmd({"GET", reconcile::day_marker_key("acme", day)});
    CHECK(marker.type == redis::Reply::Type::string);
    CHECK(!marker.str.empty());
    auto ttl = server.cmd({"TTL", reconcile::day_marker_key("acme", day)});
    CHECK(ttl.integer > 48 * 3600);
    CHECK(ttl.integer <= 72 * 3600);
  }
  auto calls = starts.calls();
  REQUIRE(calls.size() == 3);
  for (const auto& c : calls) {
    CHECK(c.tenant == "acme");
    CHECK(c.trigger == "schedule");
  }
  CHECK(calls[0].at_ms == utc_ms("2024-01-15T02:30:00Z"));
  CHECK(calls[2].at_ms == utc_ms("2024-01-17T02:30:00Z"));
}

TEST_CASE_FIXTURE(Fixture,
                  "across the spring change a skipped reconcile_at runs once, at the transition") {
  at("2024-03-10T05:00:00Z");  // midnight in New York
  set_last_success("acme", clock.now_ms());
  auto& s = add({{"acme", "America/New_York", "02:30"}});
  s.start();
  at("2024-03-10T06:59:59Z");  // 01:59:59 EST
  settle();
  CHECK(starts.count() == 0);
  at("2024-03-10T07:00:00Z");  // 03:00:00 EDT: 02:30 never happens
  REQUIRE(starts_reach(1));
  at("2024-03-10T07:30:00Z");
  settle();
  at("2024-03-11T06:29:59Z");  // 02:29:59 EDT, the next day
  settle();
  CHECK(starts.count() == 1);
  at("2024-03-11T06:30:00Z");
  REQUIRE(starts_reach(2));
  settle();
  auto calls = starts.calls();
  REQUIRE(calls.size() == 2);
  CHECK(calls[0].at_ms == utc_ms("2024-03-10T07:00:00Z"));
  CHECK(calls[1].at_ms == utc_ms("2024-03-11T06:30:00Z"));
}

TEST_CASE_FIXTURE(Fixture,
                  "across the autumn change a repeated reconcile_at runs once, the first time") {
  at("2024-11-03T04:00:00Z");  // midnight EDT
  set_last_success("acme", clock.now_ms());
  auto& s = add({{"acme", "America/New_York", "01:30"}});
  s.start();
  at("2024-11-03T05:29:59Z");
  settle();
  CHECK(starts.count() == 0);
  at("2024-11-03T05:30:00Z");  // 01:30 EDT
  REQUIRE(starts_reach(1));
  at("2024-11-03T06:30:00Z");  // 01:30 EST, the same local time again
  settle();
  at("2024-11-03T07:00:00Z");
  settle();
  CHECK(starts.count() == 1);
  at("2024-11-04T06:30:00Z");  // 01:30 EST on the next day
  REQUIRE(starts_reach(2));
  settle();
  CHECK(starts.count() == 2);
}

TEST_CASE_FIXTURE(Fixture, "two schedulers on one Redis start each day's run once in total") {
  // No last success: both want a start-up run; one gets it, and it stands for
  // the day, whose 02:30 has passed.
  at("2024-01-15T12:00:00Z");
  const std::vector<ScheduleEntry> entries{{"acme", "UTC", "02:30"},
                                           {"beta", "Asia/Kolkata", "02:30"}};
  auto& a = add(entries);
  auto& b = add(entries);
  a.start();
  b.start();
  REQUIRE(starts_reach(2));
  settle();
  CHECK(starts.count() == 2);
  for (const char* now : {"2024-01-15T20:59:59Z", "2024-01-15T21:00:00Z", "2024-01-16T02:30:00Z",
                          "2024-01-16T21:00:00Z", "2024-01-17T02:30:00Z"}) {
    at(now);
    settle();
  }
  auto calls = starts.calls();
  std::vector<std::string> acme, beta;
  for (const auto& c : calls) (c.tenant == "acme" ? acme : beta).push_back(c.trigger);
  // acme: start-up (for the 15th), then the 16th and the 17th.
  CHECK(acme == std::vector<std::string>{"startup", "schedule", "schedule"});
  // beta: start-up at 17:30 on the 15th in Kolkata (02:30 passed), then
  // 02:30 on the 16th (21:00Z on the 15th) and on the 17th.
  CHECK(beta == std::vector<std::string>{"startup", "schedule", "schedule"});
}

TEST_CASE_FIXTURE(
    Fixture, "a start that answers busy gives the marker back and is retried after retry_after") {
  set_last_success("acme", clock.now_ms());
  starts.answer([](std::size_t n) -> std::optional<StartVerdict> {
    return n == 0 ? StartVerdict::busy : StartVerdict::started;
  });
  auto& s = add({{"acme", "UTC", "02:30"}});
  s.start();
  const auto marker = reconcile::day_marker_key("acme", "2024-01-15");
  at("2024-01-15T02:30:00Z");
  REQUIRE(starts_reach(1));
  CHECK(eventually([&] { return server.cmd({"EXISTS", marker}).integer == 0; }));
  CHECK(eventually([&] { return logged("reconcile busy; trying again later"); }));
  at("2024-01-15T02:30:59Z");
  settle();
  CHECK(starts.count() == 1);
  at("2024-01-15T02:31:00Z");  // retry_after (60 s) since the busy answer
  REQUIRE(starts_reach(2));
  at("2024-01-15T03:31:00Z");
  settle();
  CHECK(starts.count() == 2);
  CHECK(server.cmd({"EXISTS", marker}).integer == 1);
  CHECK(starts.calls()[1].trigger == "schedule");
}

TEST_CASE_FIXTURE(Fixture,
                  "a busy answer leaves a marker another process took meanwhile, and that process "
                  "keeps the day") {
  set_last_success("acme", clock.now_ms());
  const auto marker = reconcile::day_marker_key("acme", "2024-01-15");
  starts.answer([&](std::size_t) -> std::optional<StartVerdict> {
    server.cmd({"SET", marker, "other-process"});
    return StartVerdict::busy;
  });
  auto& s = add({{"acme", "UTC", "02:30"}});
  s.start();
  at("2024-01-15T02:30:00Z");
  REQUIRE(starts_reach(1));
  CHECK(eventually([&] { return logged("reconcile busy; trying again later"); }));
  settle();
  CHECK(server.cmd({"GET", marker}).str == "other-process");
  at("2024-01-15T02:32:00Z");
  settle();
  CHECK(starts.count() == 1);
  CHECK(eventually([&] { return logged("reconcile of the day claimed by another process"); }));
}

TEST_CASE_FIXTURE(Fixture, "a start that fails is logged and the day counts as done") {
  set_last_success("acme", clock.now_ms());
  starts.answer(
      [](std::size_t n) { return n == 0 ? StartVerdict::failed : StartVerdict::started; });
  auto& s = add({{"acme", "UTC", "02:30"}});
  s.start();
  at("2024-01-15T02:30:00Z");
  REQUIRE(starts_reach(1));
  CHECK(eventually([&] { return logged("reconcile could not start; the day counts as done"); }));
  at("2024-01-15T05:00:00Z");
  settle();
  CHECK(starts.count() == 1);
  at("2024-01-16T02:30:00Z");
  REQUIRE(starts_reach(2));
}

}  // namespace
}  // namespace isync::testing::scheduler_tests
