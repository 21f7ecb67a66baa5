// A replay through the real worker path: the event goes back on the stream,
// a WorkerPool delivers it, and what happens next depends on the handler,
// with the replay's fresh retry budget.
#include <atomic>

#include "tests/oncall/fixture.hpp"

using namespace isync;
using namespace isync::testing;
using namespace std::chrono_literals;

namespace {

// Fails transiently while `fail` is set; otherwise acks with kAckLua as real
// handlers do.
class FlakyHandler : public queue::Handler {
 public:
  explicit FlakyHandler(std::shared_ptr<redis::Connection> conn) : conn_(std::move(conn)) {}
  void handle(const queue::Delivery& d, std::function<void(queue::Outcome)> done) override {
    ++calls;
    attempts_seen = d.attempt;
    if (fail) {
      queue::Outcome o;
      o.kind = queue::Outcome::Kind::retry;
      o.failure = {
          queue::FailureClass::transient, "intacct_unavailable", "Intacct is down", "", "", "", ""};
      return done(o);
    }
    std::vector<std::string> keys, args;
    queue::ack_inputs(d, keys, args, 3600s);
    conn_->eval(ack_, keys, args,
                [done](boost::system::error_code, redis::Reply) { done(queue::Outcome{}); });
  }
  std::atomic<bool> fail{true};
  std::atomic<int> calls{0};
  std::atomic<int> attempts_seen{0};

 private:
  redis::Script ack_{std::string("local function ack()\n") + queue::kAckLua + "\nend\nack()\n"};
  std::shared_ptr<redis::Connection> conn_;
};

struct PoolRig : OnCallRig {
  Metrics metrics;
  FlakyHandler handler{conn};
  queue::WorkerOptions wo;
  std::unique_ptr<queue::WorkerPool> pool;

  PoolRig() {
    wo.workers = 1;
    wo.retry_base = 60s;  // a retry stays in the retry ZSET for the test's length
    wo.retry_cap = 60s;
    wo.block = 100ms;
    wo.give_up_after = 1h;
    pool = std::make_unique<queue::WorkerPool>(io->executor(), server.endpoint(), tenants, handler,
                                               wo, metrics, clock, log);
    pool->start();
  }
  ~PoolRig() {
    std::promise<void> stopped;
    pool->stop([&] { stopped.set_value(); });
    REQUIRE(stopped.get_future().wait_for(10s) == std::future_status::ready);
    pool.reset();
  }
};

}  // namespace

TEST_CASE(
    "a dead letter older than give_up_after, replayed, meets one transient failure and is "
    "retrying, not dead") {
  PoolRig f;
  // Dead for two days: its first failure is far beyond give_up_after (1 h).
  const std::string id =
      f.dead(customer_event("acme", "7"), failure("intacct_unavailable"), kNow - 2 * 86'400'000);
  auto r = f.replay({id}, "Intacct is back");
  REQUIRE(r.has_value());
  REQUIRE(r->acted == 1);
  REQUIRE(eventually([&] { return f.field("acme", id, "state") == "retrying"; }));
  CHECK(f.handler.attempts_seen == 1);
  CHECK(f.field("acme", id, "attempt") == "1");
  CHECK(f.field("acme", id, "first_failure") == std::to_string(kNow));
  CHECK(f.in("acme", "retry", id));
  CHECK_FALSE(f.in("acme", "dead", id));
}

TEST_CASE("a replay after the cause was fixed succeeds: the event is done") {
  PoolRig f;
  const std::string id = f.dead_customer();
  f.handler.fail = false;
  auto r = f.replay({id}, "fixed");
  REQUIRE(r.has_value());
  REQUIRE(eventually([&] { return f.field("acme", id, "state") == "done"; }));
  CHECK(f.handler.calls == 1);
  CHECK(f.stream_len("acme") == 0);
}
