// A worker whose commit (apply and ack in one script) reaches Redis, or is
// written towards it, and whose reply never comes back: a proxy between the
// handler's connection and a real Redis cuts the link at that moment.
#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "queue/queue.hpp"
#include "tests/queue/harness.hpp"
#include "tests/support/tcp_proxy.hpp"

using namespace isync;
using namespace isync::testing;
using namespace std::chrono_literals;

namespace {

// Applies each delivery as real handlers do: its effect (a counter per
// event) and the ack in one script; a Redis failure becomes
// queue::redis_failure.
class CommitHandler : public queue::Handler {
 public:
  explicit CommitHandler(std::shared_ptr<redis::Connection> conn) : conn_(std::move(conn)) {}

  static const redis::Script& script() {
    static const redis::Script s(std::string("local function ack()\n") + queue::kAckLua +
                                 "\nend\nredis.call('INCR', KEYS[3])\nack()\nreturn 1\n");
    return s;
  }

  void handle(const queue::Delivery& d, std::function<void(queue::Outcome)> done) override {
    ++calls;
    std::vector<std::string> keys, args;
    queue::ack_inputs(d, keys, args, 3600s);
    keys.push_back(queue::key(d.tenant, "applied:" + d.envelope.event_id));
    conn_->eval(script(), keys, args,
                [done, id = d.envelope.event_id](boost::system::error_code ec, redis::Reply r) {
                  if (ec || r.is_error()) {
                    return done(queue::redis_failure(
                        redis::may_have_run(ec),
                        "could not apply event " + id + ": " + (ec ? ec.message() : r.str)));
                  }
                  done(queue::Outcome{});
                });
  }

  std::atomic<int> calls{0};

 private:
  std::shared_ptr<redis::Connection> conn_;
};

struct Fixture {
  RedisServer server;
  TcpProxy proxy{server.port()};
  Loop loop;
  Metrics metrics;
  ManualClock clock{1700000000000};
  std::mutex mu;
  std::vector<std::string> lines;
  Log log{Level::info, [this](std::string_view line) {
            std::lock_guard lock(mu);
            lines.emplace_back(line);
          }};
  std::shared_ptr<redis::Connection> conn = connect(loop, server);
  std::shared_ptr<redis::Connection> via_proxy;
  queue::Producer producer{conn, metrics};
  queue::WorkerOptions options;

  Fixture() {
    options.workers = 1;
    options.block = 200ms;
    options.visibility_timeout = 500ms;
    redis::Endpoint ep = server.endpoint();
    ep.port = proxy.port();
    redis::Options o;
    o.reconnect_interval = 50ms;
    via_proxy = redis::Connection::create(loop.executor(), ep, o);
    via_proxy->start();
    REQUIRE(eventually([&] { return via_proxy->connected(); }));
    // Loaded ahead, so the handler's first EVALSHA is its commit (not a
    // NOSCRIPT answer followed by SCRIPT LOAD).
    server.cmd({"SCRIPT", "LOAD", CommitHandler::script().body});
  }
  ~Fixture() {
    close_and_wait(*via_proxy);
    close_and_wait(*conn);
  }

  void stop(queue::WorkerPool& pool) {
    std::promise<void> stopped;
    pool.stop([&] { stopped.set_value(); });
    REQUIRE(stopped.get_future().wait_for(10s) == std::future_status::ready);
  }
  std::uint64_t handled(const std::string& outcome) {
    return metrics
        .counter("isync_events_handled_total", "", {{"tenant", "acme"}, {"outcome", outcome}})
        .value();
  }
  long long pending() {
    return server.cmd({"XPENDING", "isync:{acme}:events", "isync-workers"}).elements[0].integer;
  }
  std::string applied(const std::string& id) {
    return server.cmd({"GET", "isync:{acme}:applied:" + id}).str;
  }
  bool logged(const std::string& part) {
    std::lock_guard lock(mu);
    for (const auto& l : lines)
      if (l.find(part) != std::string::npos) return true;
    return false;
  }
  // Nothing filed: no retry, no dead letter, no document.
  void check_nothing_filed(const std::string& id) {
    CHECK(server.cmd({"ZCARD", "isync:{acme}:retry"}).integer == 0);
    CHECK(server.cmd({"ZCARD", "isync:{acme}:dead"}).integer == 0);
    CHECK(server.cmd({"EXISTS", "isync:{acme}:ev:" + id}).integer == 0);
    CHECK(handled("retry") == 0);
    CHECK_FALSE(logged("could not file a failed event"));
  }
};

}  // namespace

TEST_CASE("a commit that ran but whose reply was lost is unknown, filed nowhere, applied once") {
  Fixture f;
  f.proxy.cut("EVALSHA", TcpProxy::Cut::after_reply);
  CommitHandler handler(f.via_proxy);
  queue::WorkerPool pool(f.loop.executor(), f.server.endpoint(), {"acme"}, handler, f.options,
                         f.metrics, f.clock, f.log);
  pool.start();
  REQUIRE(accept(f.producer, envelope("acme", "EVLOST1", "1")).has_value());
  REQUIRE(eventually([&] { return f.handled("unknown") == 1; }));
  CHECK(f.proxy.cuts() == 1);
  CHECK(f.logged(R"("outcome":"unknown")"));
  CHECK(f.logged(R"("code":"redis_reply_lost")"));
  // The commit acked the entry: nothing pending, nothing left to reclaim.
  REQUIRE(eventually([&] { return f.pending() == 0; }));
  std::this_thread::sleep_for(1500ms);  // three visibility timeouts: no redelivery
  CHECK(handler.calls == 1);
  CHECK(f.applied("EVLOST1") == "1");
  CHECK(f.server.cmd({"XLEN", "isync:{acme}:events"}).integer == 0);
  f.check_nothing_filed("EVLOST1");
  CHECK(f.handled("done") == 0);
  f.stop(pool);
}

TEST_CASE("a commit written but never run is unknown too, and is reclaimed and applied once") {
  Fixture f;
  f.proxy.cut("EVALSHA", TcpProxy::Cut::before_forwarding);
  CommitHandler handler(f.via_proxy);
  queue::WorkerPool pool(f.loop.executor(), f.server.endpoint(), {"acme"}, handler, f.options,
                         f.metrics, f.clock, f.log);
  pool.start();
  REQUIRE(accept(f.producer, envelope("acme", "EVLOST2", "2")).has_value());
  REQUIRE(eventually([&] { return f.handled("unknown") == 1; }));
  // The entry stayed pending, so it is reclaimed after the visibility
  // timeout and applied then, through the reconnected link.
  REQUIRE(eventually([&] { return f.handled("done") == 1; }));
  REQUIRE(eventually([&] { return f.pending() == 0; }));
  CHECK(handler.calls == 2);
  CHECK(f.applied("EVLOST2") == "1");
  CHECK(f.metrics.render().find(R"(isync_reclaimed_total{tenant="acme"} 1)") != std::string::npos);
  f.check_nothing_filed("EVLOST2");
  f.stop(pool);
}
