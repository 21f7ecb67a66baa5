// The scripts that change an event's state keep its document's updated_at
// and its index entries current: kAckLua, the move, the release/unpark and
// file_dead_letter.
#include <doctest/doctest.h>

#include "queue/event_index.hpp"
#include "tests/queue/event_index_harness.hpp"
#include "tests/queue/scripted_handler.hpp"

using namespace isync;
using namespace isync::testing;
using namespace std::chrono_literals;

namespace {

using Keys = std::vector<std::string>;

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
  std::string field(const std::string& id, const std::string& name) {
    return server.cmd({"HGET", "isync:{acme}:ev:" + id, name}).str;
  }
  long long ttl(const std::string& id) {
    return server.cmd({"TTL", "isync:{acme}:ev:" + id}).integer;
  }
  std::string score(const std::string& suffix, const std::string& id) {
    return server.cmd({"ZSCORE", "isync:{acme}:evx:" + suffix, id}).str;
  }
  std::int64_t redis_ms() {
    auto t = server.cmd({"TIME"});
    return std::stoll(t.elements[0].str) * 1000 + std::stoll(t.elements[1].str) / 1000;
  }
};

const redis::Script& ack_script() {
  static const redis::Script s(std::string("local function ack()\n") + queue::kAckLua +
                               "\nend\nack()\nreturn 1\n");
  return s;
}

}  // namespace

TEST_CASE("the ack of an event with a document marks it done and indexed, without a TTL") {
  Fixture f;
  put_doc(f.server, {.id = "A1", .state = "pending", .code = "flaky", .updated_at = 1000});
  // A document written by an older version carried a TTL.
  f.server.cmd({"EXPIRE", "isync:{acme}:ev:A1", "3600"});
  const std::int64_t before = f.redis_ms();
  auto r = f.server.cmd({"EVAL", ack_script().body, "2", "isync:{acme}:events",
                         "isync:{acme}:ev:A1", "isync-workers", "0-1", "3600"});
  REQUIRE_MESSAGE(r.integer == 1, r.str);
  CHECK(f.field("A1", "state") == "done");
  CHECK(f.ttl("A1") == -1);
  const std::int64_t at = std::stoll(f.field("A1", "updated_at"));
  CHECK(at >= before);
  CHECK(at <= f.redis_ms());
  CHECK(filed_under(f.server, "acme", "A1") ==
        Keys{"all", "e:flaky", "k:CUSTOMER:1", "o:CUSTOMER", "s:done"});
  CHECK(f.score("s:done", "A1") == std::to_string(at));
  CHECK(f.field("A1", "ix") == "all\ns:done\no:CUSTOMER\nk:CUSTOMER:1\ne:flaky");
}

TEST_CASE("an event acked on its first delivery leaves no document and no index entry") {
  Fixture f;
  ScriptedHandler handler(f.conn,
                          [](const queue::Delivery&) { return queue::Outcome::Kind::done; });
  queue::WorkerPool pool(f.loop.ioc.get_executor(), f.server.endpoint(), {"acme"}, handler,
                         f.options, f.metrics, f.clock, f.log);
  pool.start();
  REQUIRE(accept(f.producer, envelope("acme", "F1", "1")).has_value());
  REQUIRE(eventually([&] { return f.server.cmd({"XLEN", "isync:{acme}:events"}).integer == 0; }));
  f.stop(pool);
  CHECK(handler.seen().size() == 1);
  for (const auto& k : f.server.keys()) {
    CHECK(k.find(":ev:") == std::string::npos);
    CHECK(k.find(":evx:") == std::string::npos);
  }
}

TEST_CASE("retry, the mover, parking, unpark and dead letters keep the index and updated_at") {
  Fixture f;
  // Attempt 1 fails (retry), attempt 2 parks.
  ScriptedHandler handler(f.conn, [](const queue::Delivery& d) {
    return d.attempt == 1 ? queue::Outcome::Kind::retry : queue::Outcome::Kind::park;
  });
  auto pool = std::make_unique<queue::WorkerPool>(f.loop.ioc.get_executor(), f.server.endpoint(),
                                                  Keys{"acme"}, handler, f.options, f.metrics,
                                                  f.clock, f.log);
  pool->start();
  REQUIRE(accept(f.producer, envelope("acme", "M1", "7")).has_value());
  REQUIRE(eventually([&] { return f.server.cmd({"ZCARD", "isync:{acme}:retry"}).integer == 1; }));
  CHECK(f.field("M1", "state") == "retrying");
  CHECK(f.field("M1", "updated_at") == "1700000000000");
  CHECK(f.field("M1", "code") == "flaky");
  CHECK(f.field("M1", "errorno") == "BL01");
  CHECK(f.field("M1", "attempts").rfind(R"([{"kind":"failure","at":1700000000000,)", 0) == 0);
  CHECK(filed_under(f.server, "acme", "M1") ==
        Keys{"all", "e:BL01", "e:flaky", "k:CUSTOMER:7", "o:CUSTOMER", "s:retrying"});
  CHECK(f.score("s:retrying", "M1") == "1700000000000");

  f.clock.advance(1000);  // due: the mover sends it back, attempt 2 parks it
  REQUIRE(eventually([&] { return f.server.cmd({"ZCARD", "isync:{acme}:parked"}).integer == 1; }));
  CHECK(f.field("M1", "state") == "parked");
  CHECK(f.field("M1", "updated_at") == "1700000001000");
  CHECK(f.field("M1", "code") == "flaky");  // parking records no attempt
  CHECK(filed_under(f.server, "acme", "M1") ==
        Keys{"all", "e:BL01", "e:flaky", "k:CUSTOMER:7", "o:CUSTOMER", "s:parked"});
  f.stop(*pool);
  pool.reset();

  // Unpark with no worker running: the event waits on the stream, pending.
  const std::int64_t before = f.redis_ms();
  std::promise<Result<std::int64_t>> moved;
  queue::unpark_all(*f.conn, "acme", [&](Result<std::int64_t> r) { moved.set_value(r); });
  auto n = moved.get_future().get();
  REQUIRE(n.has_value());
  CHECK(*n == 1);
  CHECK(f.field("M1", "state") == "pending");
  CHECK(std::stoll(f.field("M1", "updated_at")) >= before);
  CHECK(filed_under(f.server, "acme", "M1") ==
        Keys{"all", "e:BL01", "e:flaky", "k:CUSTOMER:7", "o:CUSTOMER", "s:pending"});

  // Now it fails for good.
  f.clock.advance(1000);
  handler.set_policy([](const queue::Delivery&) { return queue::Outcome::Kind::dead; });
  pool = std::make_unique<queue::WorkerPool>(f.loop.ioc.get_executor(), f.server.endpoint(),
                                             Keys{"acme"}, handler, f.options, f.metrics, f.clock,
                                             f.log);
  pool->start();
  REQUIRE(eventually([&] { return f.server.cmd({"ZCARD", "isync:{acme}:dead"}).integer == 1; }));
  f.stop(*pool);
  CHECK(f.field("M1", "state") == "dead");
  CHECK(f.field("M1", "updated_at") == "1700000002000");
  CHECK(f.score("s:dead", "M1") == "1700000002000");
  CHECK(f.score("all", "M1") == "1700000002000");
  CHECK(filed_under(f.server, "acme", "M1") ==
        Keys{"all", "e:BL01", "e:flaky", "k:CUSTOMER:7", "o:CUSTOMER", "s:dead"});
  CHECK(f.ttl("M1") == -1);
}

TEST_CASE("the move of a dead letter no longer purges old dead letters") {
  Fixture f;
  f.options.dead_retention = 1s;
  ScriptedHandler handler(f.conn,
                          [](const queue::Delivery&) { return queue::Outcome::Kind::dead; });
  queue::WorkerPool pool(f.loop.ioc.get_executor(), f.server.endpoint(), {"acme"}, handler,
                         f.options, f.metrics, f.clock, f.log);
  pool.start();
  REQUIRE(accept(f.producer, envelope("acme", "D1", "1")).has_value());
  REQUIRE(eventually([&] { return f.server.cmd({"ZCARD", "isync:{acme}:dead"}).integer == 1; }));
  f.clock.advance(40LL * 86'400'000);
  REQUIRE(accept(f.producer, envelope("acme", "D2", "2")).has_value());
  REQUIRE(eventually([&] { return f.server.cmd({"ZCARD", "isync:{acme}:dead"}).integer == 2; }));
  f.stop(pool);
  CHECK(f.field("D1", "state") == "dead");
  CHECK(f.field("D2", "state") == "dead");
  CHECK(f.score("s:dead", "D1") == "1700000000000");
}

TEST_CASE("file_dead_letter stores the failure's code and errorno and files the document") {
  Fixture f;
  queue::Failure failure{
      queue::FailureClass::permanent, "intacct_error", "refused", "BL34", "desc", "fix it", "ctl"};
  std::promise<Result<void>> filed;
  queue::file_dead_letter(*f.conn, envelope("acme", "L1", "9"), failure, 1700000005000,
                          [&](Result<void> r) { filed.set_value(r); });
  REQUIRE(filed.get_future().get().has_value());
  CHECK(f.field("L1", "state") == "dead");
  CHECK(f.field("L1", "code") == "intacct_error");
  CHECK(f.field("L1", "errorno") == "BL34");
  CHECK(f.field("L1", "updated_at") == "1700000005000");
  CHECK(f.field("L1", "attempts").rfind(R"([{"kind":"failure",)", 0) == 0);
  CHECK(filed_under(f.server, "acme", "L1") ==
        Keys{"all", "e:BL34", "e:intacct_error", "k:CUSTOMER:9", "o:CUSTOMER", "s:dead"});
  auto found = list_all(*f.conn, {"acme"}, {.error = "BL34"});
  CHECK(found == Keys{"L1"});
}
