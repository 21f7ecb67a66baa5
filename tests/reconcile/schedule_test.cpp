// The reconcile schedule: the calendar functions (pure) and the Scheduler
// against a real redis-server, under a ManualClock.
#include "reconcile/schedule.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

namespace isync::testing {
namespace {

using reconcile::local_day;
using reconcile::run_instant;
using reconcile::ScheduleEntry;
using reconcile::Scheduler;
using reconcile::SchedulerOptions;
using reconcile::StartVerdict;

// Epoch seconds of an ISO-8601 UTC text.
std::int64_t utc(const char* iso) {
  auto r = parse_whenmodified(iso);
  REQUIRE(r);
  return *r;
}
std::int64_t utc_ms(const char* iso) { return utc(iso) * 1000; }

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

// ---- Scheduler ---------------------------------------------------------------------

struct Call {
  std::string tenant, trigger;
  std::int64_t at_ms;
};

// The StartFn of the tests: records each call and answers with `verdict`
// (by the call's number, from 0), synchronously.
class Starts {
 public:
  explicit Starts(const Clock& clock) : clock_(clock) {}

  reconcile::StartFn fn() {
    return [this](const std::string& tenant, std::string trigger,
                  std::function<void(StartVerdict, std::string)> done) {
      std::size_t n;
      std::function<StartVerdict(std::size_t)> verdict;
      {
        std::lock_guard lock(mu_);
        n = calls_.size();
        calls_.push_back({tenant, trigger, clock_.now_ms()});
        verdict = verdict_;
      }
      StartVerdict v = verdict ? verdict(n) : StartVerdict::started;
      done(v, v == StartVerdict::started ? "" : "index_building");
    };
  }

  void answer(std::function<StartVerdict(std::size_t)> verdict) {
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

 private:
  const Clock& clock_;
  std::mutex mu_;
  std::vector<Call> calls_;
  std::function<StartVerdict(std::size_t)> verdict_;
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

  // Sets the clock and waits until `n` starts in all have been made.
  void at(const char* iso) { clock.set(utc_ms(iso)); }
  bool starts_reach(std::size_t n) {
    return eventually([&] { return starts.count() >= n; });
  }
};

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
  starts.answer([](std::size_t n) { return n == 0 ? StartVerdict::busy : StartVerdict::started; });
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
  starts.answer([&](std::size_t) {
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

}  // namespace
}  // namespace isync::testing
