#include <doctest/doctest.h>

#include <atomic>
#include <mutex>

#include "queue/queue.hpp"
#include "tests/queue/harness.hpp"
#include "tests/queue/scripted_handler.hpp"

using namespace isync;
using namespace isync::testing;
using namespace std::chrono_literals;

namespace {

struct Fixture {
  RedisServer server;
  Loop loop;
  Metrics metrics;
  Log log{Level::warn};
  ManualClock clock{1700000000000};
  std::shared_ptr<redis::Connection> conn = connect(loop, server);
  queue::Producer producer{conn, metrics};
  queue::WorkerOptions options;

  Fixture() {
    options.workers = 2;
    options.retry_base = 50ms;
    options.retry_cap = 200ms;
    options.block = 200ms;
    options.visibility_timeout = 500ms;
  }

  void stop(queue::WorkerPool& pool) {
    std::promise<void> stopped;
    pool.stop([&] { stopped.set_value(); });
    REQUIRE(stopped.get_future().wait_for(10s) == std::future_status::ready);
  }
  std::string doc_field(const std::string& id, const std::string& field) {
    return server.cmd({"HGET", "isync:{acme}:ev:" + id, field}).str;
  }
};

}  // namespace

TEST_CASE("a retried event comes back with attempt 2 and its failure in the document") {
  Fixture f;
  ScriptedHandler handler(f.conn, [](const queue::Delivery& d) {
    return d.attempt == 1 ? queue::Outcome::Kind::retry : queue::Outcome::Kind::done;
  });
  queue::WorkerPool pool(f.loop.ioc.get_executor(), f.server.endpoint(), {"acme"}, handler,
                         f.options, f.metrics, f.clock, f.log);
  pool.start();
  REQUIRE(accept(f.producer, envelope("acme", "EV1", "1")).has_value());
  // The retry is scheduled from the clock when the outcome is written, a
  // moment after the handler ran: wait for it before moving the clock.
  REQUIRE(eventually([&] { return f.server.cmd({"ZCARD", "isync:{acme}:retry"}).integer == 1; }));
  REQUIRE(handler.seen().size() == 1);
  f.clock.advance(1000);  // past the longest backoff, so the mover sends it back
  REQUIRE(eventually([&] { return handler.seen().size() == 2; }));
  auto seen = handler.seen();
  CHECK(seen[0].attempt == 1);
  CHECK(seen[0].first_failure_ms == 0);
  CHECK(seen[1].attempt == 2);
  CHECK(seen[1].first_failure_ms == 1700000000000);
  CHECK(seen[1].envelope.event_id == "EV1");
  REQUIRE(eventually([&] { return f.doc_field("EV1", "state") == "done"; }));
  std::string attempts = f.doc_field("EV1", "attempts");
  CHECK(attempts.find(R"("code":"flaky")") != std::string::npos);
  CHECK(attempts.find(R"("errorno":"BL01")") != std::string::npos);
  CHECK(attempts.find(R"("correction":"fix it")") != std::string::npos);
  CHECK(f.server.cmd({"XLEN", "isync:{acme}:events"}).integer == 0);
  CHECK(f.server.cmd({"ZCARD", "isync:{acme}:retry"}).integer == 0);
  std::string text = f.metrics.render();
  CHECK(text.find(R"(isync_events_handled_total{tenant="acme",outcome="retry"} 1)") !=
        std::string::npos);
  f.stop(pool);
}

TEST_CASE("an event still failing after give_up_after becomes a dead letter with its history") {
  Fixture f;
  f.options.give_up_after = 1000ms;
  ScriptedHandler handler(f.conn,
                          [](const queue::Delivery&) { return queue::Outcome::Kind::retry; });
  queue::WorkerPool pool(f.loop.ioc.get_executor(), f.server.endpoint(), {"acme"}, handler,
                         f.options, f.metrics, f.clock, f.log);
  pool.start();
  REQUIRE(accept(f.producer, envelope("acme", "EV2", "2")).has_value());
  REQUIRE(eventually([&] { return f.server.cmd({"ZCARD", "isync:{acme}:retry"}).integer == 1; }));
  f.clock.advance(5000);
  REQUIRE(eventually([&] { return f.server.cmd({"ZCARD", "isync:{acme}:dead"}).integer == 1; }));
  CHECK(handler.seen().size() == 2);
  CHECK(f.doc_field("EV2", "state") == "dead");
  std::string attempts = f.doc_field("EV2", "attempts");
  CHECK(attempts.find(R"("attempt":1)") != std::string::npos);
  CHECK(attempts.find(R"("attempt":2)") != std::string::npos);
  CHECK(f.server.cmd({"XLEN", "isync:{acme}:events"}).integer == 0);
  f.stop(pool);
}

TEST_CASE("a parked event uses no attempt and unpark_all brings it back") {
  Fixture f;
  ScriptedHandler handler(f.conn,
                          [](const queue::Delivery&) { return queue::Outcome::Kind::park; });
  queue::WorkerPool pool(f.loop.ioc.get_executor(), f.server.endpoint(), {"acme"}, handler,
                         f.options, f.metrics, f.clock, f.log);
  pool.start();
  REQUIRE(accept(f.producer, envelope("acme", "EV3", "3")).has_value());
  REQUIRE(eventually([&] { return f.server.cmd({"ZCARD", "isync:{acme}:parked"}).integer == 1; }));
  CHECK(f.doc_field("EV3", "state") == "parked");
  CHECK(f.doc_field("EV3", "attempts") == "[]");
  handler.set_policy([](const queue::Delivery&) { return queue::Outcome::Kind::done; });
  std::promise<Result<std::int64_t>> moved;
  queue::unpark_all(*f.conn, "acme", [&](Result<std::int64_t> r) { moved.set_value(r); });
  auto n = moved.get_future().get();
  REQUIRE(n.has_value());
  CHECK(*n == 1);
  REQUIRE(eventually([&] { return handler.seen().size() == 2; }));
  CHECK(handler.seen()[1].attempt == 1);
  REQUIRE(eventually([&] { return f.doc_field("EV3", "state") == "done"; }));
  CHECK(f.server.cmd({"ZCARD", "isync:{acme}:parked"}).integer == 0);
  f.stop(pool);
}

TEST_CASE("an entry taken by a consumer that died is reclaimed and handled once") {
  Fixture f;
  REQUIRE(accept(f.producer, envelope("acme", "EV4", "4")).has_value());
  f.server.cmd({"XGROUP", "CREATE", "isync:{acme}:events", "isync-workers", "0", "MKSTREAM"});
  auto taken = f.server.cmd({"XREADGROUP", "GROUP", "isync-workers", "killed-worker", "COUNT", "1",
                             "STREAMS", "isync:{acme}:events", ">"});
  REQUIRE(taken.type == redis::Reply::Type::array);
  ScriptedHandler handler(f.conn,
                          [](const queue::Delivery&) { return queue::Outcome::Kind::done; });
  queue::WorkerPool pool(f.loop.ioc.get_executor(), f.server.endpoint(), {"acme"}, handler,
                         f.options, f.metrics, f.clock, f.log);
  pool.start();
  REQUIRE(eventually([&] { return handler.seen().size() == 1; }));
  REQUIRE(eventually([&] { return f.server.cmd({"XLEN", "isync:{acme}:events"}).integer == 0; }));
  std::this_thread::sleep_for(1500ms);  // several reclaim rounds: nothing is handled twice
  CHECK(handler.seen().size() == 1);
  CHECK(handler.seen()[0].envelope.event_id == "EV4");
  CHECK(f.metrics.render().find(R"(isync_reclaimed_total{tenant="acme"} 1)") != std::string::npos);
  f.stop(pool);
}

TEST_CASE("acked entries are deleted while a pending one stays in the stream") {
  Fixture f;
  f.options.visibility_timeout = 60s;
  REQUIRE(accept(f.producer, envelope("acme", "EV5", "5")).has_value());
  f.server.cmd({"XGROUP", "CREATE", "isync:{acme}:events", "isync-workers", "0", "MKSTREAM"});
  f.server.cmd({"XREADGROUP", "GROUP", "isync-workers", "slow-worker", "COUNT", "1", "STREAMS",
                "isync:{acme}:events", ">"});
  REQUIRE(accept(f.producer, envelope("acme", "EV6", "6")).has_value());
  REQUIRE(accept(f.producer, envelope("acme", "EV7", "7")).has_value());
  ScriptedHandler handler(f.conn,
                          [](const queue::Delivery&) { return queue::Outcome::Kind::done; });
  queue::WorkerPool pool(f.loop.ioc.get_executor(), f.server.endpoint(), {"acme"}, handler,
                         f.options, f.metrics, f.clock, f.log);
  pool.start();
  REQUIRE(eventually([&] { return handler.seen().size() == 2; }));
  REQUIRE(eventually([&] { return f.server.cmd({"XLEN", "isync:{acme}:events"}).integer == 1; }));
  auto pending = f.server.cmd({"XPENDING", "isync:{acme}:events", "isync-workers"});
  CHECK(pending.elements[0].integer == 1);
  f.stop(pool);
}

TEST_CASE("an undecodable entry becomes a dead letter, never dropped") {
  Fixture f;
  f.server.cmd({"XGROUP", "CREATE", "isync:{acme}:events", "isync-workers", "0", "MKSTREAM"});
  auto id =
      f.server.cmd({"XADD", "isync:{acme}:events", "*", "e", "{not json", "a", "0", "f", "0"});
  ScriptedHandler handler(f.conn,
                          [](const queue::Delivery&) { return queue::Outcome::Kind::done; });
  queue::WorkerPool pool(f.loop.ioc.get_executor(), f.server.endpoint(), {"acme"}, handler,
                         f.options, f.metrics, f.clock, f.log);
  pool.start();
  REQUIRE(eventually([&] { return f.server.cmd({"ZCARD", "isync:{acme}:dead"}).integer == 1; }));
  CHECK(handler.seen().empty());
  std::string doc_id = "undecodable-" + id.str;
  CHECK(f.doc_field(doc_id, "envelope") == "{not json");
  CHECK(f.doc_field(doc_id, "reason").rfind("undecodable: queued event envelope: not JSON", 0) ==
        0);
  CHECK(f.server.cmd({"XLEN", "isync:{acme}:events"}).integer == 0);
  f.stop(pool);
}

TEST_CASE(
    "read_stats and publish_stats report depth, pending, retrying, parked, dead and reads due") {
  Fixture f;
  REQUIRE(accept(f.producer, envelope("acme", "EV8", "8")).has_value());
  f.server.cmd({"ZADD", "isync:{acme}:dead", "1", "x"});
  f.server.cmd(
      {"ZADD", "isync:{acme}:recheck", "1", "CUSTOMER:1", "2", "CUSTOMER:2", "3", "ARINVOICE:3"});
  f.server.cmd({"ZADD", "isync:{acme}:parked", "1", "y", "2", "z"});
  std::promise<Result<queue::TenantStats>> got;
  queue::read_stats(*f.conn, "acme", [&](Result<queue::TenantStats> r) { got.set_value(r); });
  auto s = got.get_future().get();
  REQUIRE(s.has_value());
  CHECK(s->depth == 1);
  CHECK(s->pending == 0);
  CHECK(s->retrying == 0);
  CHECK(s->parked == 2);
  CHECK(s->dead == 1);
  CHECK(s->reads_due == 3);
  std::promise<void> published;
  queue::publish_stats(*f.conn, {"acme"}, f.metrics, [&] { published.set_value(); });
  REQUIRE(published.get_future().wait_for(10s) == std::future_status::ready);
  std::string text = f.metrics.render();
  CHECK(text.find(R"(isync_queue_depth{tenant="acme"} 1)") != std::string::npos);
  CHECK(text.find(R"(isync_queue_parked{tenant="acme"} 2)") != std::string::npos);
  CHECK(text.find(R"(isync_mirror_reads_due{tenant="acme"} 3)") != std::string::npos);
}

TEST_CASE(
    "each handled event is logged as one JSON line with its outcome and the handler's result") {
  Fixture f;
  std::mutex mu;
  std::vector<std::string> lines;
  Log log{Level::info, [&](std::string_view line) {
            std::lock_guard lock(mu);
            if (line.find("event handled") != std::string_view::npos) lines.emplace_back(line);
          }};
  REQUIRE(accept(f.producer, envelope("acme", "EV8", "8")).has_value());
  ScriptedHandler handler(f.conn,
                          [](const queue::Delivery&) { return queue::Outcome::Kind::retry; });
  queue::WorkerPool pool(f.loop.ioc.get_executor(), f.server.endpoint(), {"acme"}, handler,
                         f.options, f.metrics, f.clock, log);
  pool.start();
  REQUIRE(eventually([&] { return !handler.seen().empty(); }));
  f.stop(pool);
  std::lock_guard lock(mu);
  REQUIRE(lines.size() >= 1);
  const auto& line = lines[0];
  CHECK(line.find(R"("level":"warning")") != std::string::npos);
  CHECK(line.find(R"("event_id":"EV8","tenant":"acme","object":"CUSTOMER","key":"8")") !=
        std::string::npos);
  CHECK(line.find(R"("outcome":"retry")") != std::string::npos);
  CHECK(line.find(R"("duration_us":)") != std::string::npos);
  CHECK(line.find(R"("attempt":1)") != std::string::npos);
  CHECK(line.find(R"("code":"flaky")") != std::string::npos);
}

TEST_CASE("a retry that sets its own delay is due after exactly that delay, not the backoff") {
  Fixture f;
  struct Handler : queue::Handler {
    std::atomic<int> calls{0};
    void handle(const queue::Delivery&, std::function<void(queue::Outcome)> done) override {
      ++calls;
      queue::Outcome o;
      o.kind = queue::Outcome::Kind::retry;
      o.failure.code = "awaiting_readback";
      o.retry_after = 10s;  // the backoff would be at most retry_cap = 200 ms
      done(o);
    }
  } handler;
  queue::WorkerPool pool(f.loop.ioc.get_executor(), f.server.endpoint(), {"acme"}, handler,
                         f.options, f.metrics, f.clock, f.log);
  pool.start();
  REQUIRE(accept(f.producer, envelope("acme", "EV9", "9")).has_value());
  REQUIRE(eventually([&] { return f.server.cmd({"ZCARD", "isync:{acme}:retry"}).integer == 1; }));
  CHECK(f.server.cmd({"ZSCORE", "isync:{acme}:retry", "EV9"}).str == "1700000010000");
  f.clock.advance(5000);
  std::this_thread::sleep_for(600ms);  // several mover rounds: not due yet
  CHECK(handler.calls == 1);
  f.clock.advance(5000);
  REQUIRE(eventually([&] { return handler.calls == 2; }));
  f.stop(pool);
}

TEST_CASE("keep_pending keeps a slow delivery from being reclaimed until it is acked") {
  Fixture f;
  struct Handler : queue::Handler {
    std::mutex mu;
    std::vector<queue::Delivery> seen;
    std::function<void(queue::Outcome)> done;
    void handle(const queue::Delivery& d, std::function<void(queue::Outcome)> finish) override {
      std::lock_guard lock(mu);
      seen.push_back(d);
      done = std::move(finish);  // held: the handler is "still working"
    }
    std::size_t count() {
      std::lock_guard lock(mu);
      return seen.size();
    }
  } handler;
  queue::WorkerPool pool(f.loop.ioc.get_executor(), f.server.endpoint(), {"acme"}, handler,
                         f.options, f.metrics, f.clock, f.log);
  pool.start();
  REQUIRE(accept(f.producer, envelope("acme", "EV10", "10")).has_value());
  REQUIRE(eventually([&] { return handler.count() == 1; }));
  const queue::Delivery d = handler.seen[0];
  CHECK_FALSE(d.consumer.empty());
  auto keep = [&] {
    std::promise<bool> kept;
    queue::keep_pending(*f.conn, d, [&kept](bool ok) { kept.set_value(ok); });
    auto fut = kept.get_future();
    REQUIRE(fut.wait_for(10s) == std::future_status::ready);
    return fut.get();
  };
  // Three times the visibility timeout (500 ms), kept alive every 150 ms.
  for (int i = 0; i < 10; ++i) {
    CHECK(keep());
    std::this_thread::sleep_for(150ms);
  }
  CHECK(handler.count() == 1);
  // Acked: nothing is pending any more, and keeping it alive says so.
  std::vector<std::string> keys, args;
  queue::ack_inputs(d, keys, args, 3600s);
  redis::Script ack{std::string("local function ack()\n") + queue::kAckLua + "\nend\nack()\n"};
  std::promise<void> acked;
  f.conn->eval(ack, keys, args,
               [&](boost::system::error_code, redis::Reply) { acked.set_value(); });
  REQUIRE(acked.get_future().wait_for(10s) == std::future_status::ready);
  CHECK_FALSE(keep());
  handler.done(queue::Outcome{});
  f.stop(pool);
}
