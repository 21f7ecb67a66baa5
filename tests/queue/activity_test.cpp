// Per-minute activity counters (queue/activity.hpp): counted in memory,
// flushed into one hash per tenant per hour with a TTL, read back per minute.
#include "queue/activity.hpp"

#include <doctest/doctest.h>

#include <future>

#include "queue/queue.hpp"
#include "tests/queue/harness.hpp"
#include "tests/queue/scripted_handler.hpp"

using namespace isync;
using namespace isync::testing;
using namespace std::chrono_literals;

namespace {

// 2027-01-15T10:00:00Z: on an hour boundary.
constexpr std::int64_t kHour = 1'800'000'000'000 / queue::kActivityHourMs * queue::kActivityHourMs;
constexpr std::int64_t kMin = queue::kActivityMinuteMs;

void flush(queue::ActivityCounter& c, redis::Connection& conn, std::int64_t now) {
  std::promise<void> done;
  c.flush(conn, now, [&] { done.set_value(); });
  REQUIRE(done.get_future().wait_for(10s) == std::future_status::ready);
}

queue::Activity read(redis::Connection& conn, const std::string& tenant, std::int64_t now) {
  std::promise<Result<queue::Activity>> p;
  queue::read_activity(conn, tenant, now, [&](Result<queue::Activity> r) { p.set_value(r); });
  auto f = p.get_future();
  REQUIRE(f.wait_for(10s) == std::future_status::ready);
  auto r = f.get();
  REQUIRE(r.has_value());
  return *r;
}

}  // namespace

TEST_CASE("outcomes map to handled, failed and dead") {
  CHECK(queue::activity_kind(queue::Outcome::Kind::done) == queue::ActivityKind::handled);
  CHECK(queue::activity_kind(queue::Outcome::Kind::retry) == queue::ActivityKind::failed);
  CHECK(queue::activity_kind(queue::Outcome::Kind::park) == queue::ActivityKind::failed);
  CHECK(queue::activity_kind(queue::Outcome::Kind::unknown) == queue::ActivityKind::failed);
  CHECK(queue::activity_kind(queue::Outcome::Kind::dead) == queue::ActivityKind::dead);
  CHECK(queue::activity_key("acme", kHour + 59 * kMin) ==
        "isync:{acme}:activity:" + std::to_string(kHour / queue::kActivityHourMs));
  CHECK(queue::activity_field(kHour + 61'000, queue::ActivityKind::dead) ==
        std::to_string(kHour / kMin + 1) + ":d");
}

TEST_CASE("counts are flushed into hourly hashes with a 25 h TTL and read back per minute") {
  RedisServer server;
  Loop loop;
  auto conn = connect(loop, server);
  queue::ActivityCounter c;
  c.add("acme", queue::ActivityKind::handled, kHour + 5'000);
  c.add("acme", queue::ActivityKind::handled, kHour + 59'999);
  c.add("acme", queue::ActivityKind::failed, kHour + 10'000);
  c.add("acme", queue::ActivityKind::dead, kHour + 2 * kMin + 1);
  c.add("acme", queue::ActivityKind::handled, kHour - 1);  // the hour before
  c.add("globex", queue::ActivityKind::handled, kHour + 1, 7);
  CHECK(c.pending() == 5);
  flush(c, *conn, kHour + 3 * kMin);
  CHECK(c.pending() == 0);

  const std::string key = queue::activity_key("acme", kHour);
  const std::string m0 = std::to_string(kHour / kMin);
  CHECK(server.cmd({"HGET", key, m0 + ":h"}).str == "2");
  CHECK(server.cmd({"HGET", key, m0 + ":f"}).str == "1");
  CHECK(server.cmd({"HGET", key, std::to_string(kHour / kMin + 2) + ":d"}).str == "1");
  auto ttl = server.cmd({"TTL", key}).integer;
  CHECK(ttl > 24 * 3600);
  CHECK(ttl <= 25 * 3600);
  CHECK(server.cmd({"TTL", queue::activity_key("acme", kHour - 1)}).integer > 24 * 3600);

  // A second flush adds to the same fields.
  c.add("acme", queue::ActivityKind::handled, kHour + 30'000, 3);
  flush(c, *conn, kHour + 3 * kMin);
  CHECK(server.cmd({"HGET", key, m0 + ":h"}).str == "5");

  auto a = read(*conn, "acme", kHour + 3 * kMin + 500);
  CHECK(a.to_ms == kHour + 4 * kMin);
  CHECK(a.from_ms == a.to_ms - 24 * queue::kActivityHourMs);
  REQUIRE(a.minutes.size() == 3);
  CHECK(a.minutes[0].t_ms == kHour - kMin);
  CHECK(a.minutes[0].handled == 1);
  CHECK(a.minutes[1].t_ms == kHour);
  CHECK(a.minutes[1].handled == 5);
  CHECK(a.minutes[1].failed == 1);
  CHECK(a.minutes[1].dead == 0);
  CHECK(a.minutes[2].t_ms == kHour + 2 * kMin);
  CHECK(a.minutes[2].dead == 1);
  CHECK(read(*conn, "globex", kHour + 3 * kMin).minutes.at(0).handled == 7);

  // 24 h later the minute at kHour - 1 min has left the window; kHour stays
  // until it too is 24 h old.
  auto later = read(*conn, "acme", kHour + 24 * queue::kActivityHourMs - 1);
  REQUIRE(later.minutes.size() == 2);
  CHECK(later.minutes[0].t_ms == kHour);
  CHECK(read(*conn, "nobody", kHour).minutes.empty());
  close_and_wait(*conn);
}

TEST_CASE("counts older than the TTL are dropped, not written") {
  RedisServer server;
  Loop loop;
  auto conn = connect(loop, server);
  queue::ActivityCounter c;
  c.add("acme", queue::ActivityKind::handled, kHour);
  flush(c, *conn, kHour + 26 * queue::kActivityHourMs);
  CHECK(c.pending() == 0);
  CHECK(server.cmd({"EXISTS", queue::activity_key("acme", kHour)}).integer == 0);
  close_and_wait(*conn);
}

TEST_CASE("the worker pool counts each outcome and writes the counts when it stops") {
  RedisServer server;
  Loop loop;
  Metrics metrics;
  Log log{Level::warn};
  ManualClock clock{kHour + 5 * kMin};
  auto conn = connect(loop, server);
  queue::Producer producer{conn, metrics};
  queue::WorkerOptions options;
  options.workers = 1;
  options.block = 200ms;
  options.activity_flush = 60s;  // only the flush of stop() runs here
  ScriptedHandler handler(conn, [](const queue::Delivery& d) {
    if (d.envelope.key == "2") return queue::Outcome::Kind::dead;
    if (d.envelope.key == "3") return queue::Outcome::Kind::park;
    return queue::Outcome::Kind::done;
  });
  queue::WorkerPool pool(loop.ioc.get_executor(), server.endpoint(), {"acme"}, handler, options,
                         metrics, clock, log);
  pool.start();
  for (const char* k : {"1", "2", "3", "4"}) {
    REQUIRE(accept(producer, envelope("acme", std::string("EV") + k, k)).has_value());
  }
  REQUIRE(eventually([&] { return handler.seen().size() == 4; }));
  REQUIRE(eventually([&] {
    return server.cmd({"ZCARD", "isync:{acme}:dead"}).integer == 1 &&
           server.cmd({"ZCARD", "isync:{acme}:parked"}).integer == 1 &&
           server.cmd({"XLEN", "isync:{acme}:events"}).integer == 0;
  }));
  std::promise<void> stopped;
  pool.stop([&] { stopped.set_value(); });
  REQUIRE(stopped.get_future().wait_for(10s) == std::future_status::ready);
  auto a = read(*conn, "acme", clock.now_ms());
  REQUIRE(a.minutes.size() == 1);
  CHECK(a.minutes[0].t_ms == kHour + 5 * kMin);
  CHECK(a.minutes[0].handled == 2);
  CHECK(a.minutes[0].failed == 1);
  CHECK(a.minutes[0].dead == 1);
  close_and_wait(*conn);
}

TEST_CASE("the worker pool flushes on its timer while running") {
  RedisServer server;
  Loop loop;
  Metrics metrics;
  Log log{Level::warn};
  ManualClock clock{kHour};
  auto conn = connect(loop, server);
  queue::Producer producer{conn, metrics};
  queue::WorkerOptions options;
  options.workers = 1;
  options.block = 200ms;
  options.activity_flush = 100ms;
  ScriptedHandler handler(conn, [](const queue::Delivery&) { return queue::Outcome::Kind::done; });
  queue::WorkerPool pool(loop.ioc.get_executor(), server.endpoint(), {"acme"}, handler, options,
                         metrics, clock, log);
  pool.start();
  REQUIRE(accept(producer, envelope("acme", "EV1", "1")).has_value());
  const std::string field = std::to_string(kHour / kMin) + ":h";
  CHECK(eventually([&] {
    return server.cmd({"HGET", queue::activity_key("acme", kHour), field}).str == "1";
  }));
  std::promise<void> stopped;
  pool.stop([&] { stopped.set_value(); });
  REQUIRE(stopped.get_future().wait_for(10s) == std::future_status::ready);
  close_and_wait(*conn);
}

TEST_CASE("a dead letter filed outside the stream counts as dead in its minute") {
  RedisServer server;
  Loop loop;
  auto conn = connect(loop, server);
  std::promise<Result<void>> p;
  queue::Failure failure{queue::FailureClass::permanent, "read_denied", "no", {}, {}, {}, {}};
  queue::file_dead_letter(*conn, envelope("acme", "EVX", "9"), failure, kHour + kMin + 1,
                          [&](Result<void> r) { p.set_value(r); });
  REQUIRE(p.get_future().get().has_value());
  auto a = read(*conn, "acme", kHour + 2 * kMin);
  REQUIRE(a.minutes.size() == 1);
  CHECK(a.minutes[0].t_ms == kHour + kMin);
  CHECK(a.minutes[0].dead == 1);
  CHECK(server.cmd({"TTL", queue::activity_key("acme", kHour)}).integer > 24 * 3600);
  close_and_wait(*conn);
}
