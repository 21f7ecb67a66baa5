// reconcile's /metrics figures, read from the stats hashes in a real Redis.
#include <doctest/doctest.h>

#include <future>
#include <string>

#include "reconcile/reconcile.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

using isync::testing::close_and_wait;
using isync::testing::eventually;
using isync::testing::RedisServer;

namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

void publish(isync::redis::Connection& conn, const std::vector<std::string>& tenants,
             isync::Metrics& metrics) {
  std::promise<void> done;
  isync::reconcile::publish_metrics(conn, tenants, metrics, [&] { done.set_value(); });
  REQUIRE(done.get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready);
}

}  // namespace

TEST_CASE("reconcile metrics are the stats hashes' totals, so every process shows every run") {
  RedisServer redis;
  isync::testing::Loop loop{1};
  auto conn = isync::redis::Connection::create(loop.executor(), redis.endpoint(), {});
  conn->start();
  REQUIRE(eventually([&] { return conn->connected(); }));
  // As a run's finish script leaves them, written by "another process".
  redis.cmd({"HSET",
             isync::reconcile::stats_key("acme"),
             "runs:succeeded",
             "3",
             "runs:partial",
             "1",
             "calls",
             "120",
             "drift:CUSTOMER:created",
             "4",
             "drift:ARINVOICE:tombstoned",
             "2",
             "drift:payments:adopted",
             "1",
             "last_success_ms",
             "1700000000500",
             "junk",
             "x",
             "drift:bad",
             "1",
             "runs:failed",
             "not-a-number"});

  isync::Metrics metrics;
  publish(*conn, {"acme", "beta"}, metrics);
  auto text = metrics.render();
  CHECK(has_line(text, R"(isync_reconcile_runs_total{tenant="acme",state="partial"} 1)"));
  CHECK(has_line(text, R"(isync_reconcile_runs_total{tenant="acme",state="succeeded"} 3)"));
  CHECK(text.find(R"(state="failed")") == std::string::npos);
  CHECK(has_line(text, R"(isync_reconcile_api_calls_total{tenant="acme"} 120)"));
  CHECK(has_line(
      text,
      R"(isync_reconcile_drift_total{tenant="acme",object="ARINVOICE",kind="tombstoned"} 2)"));
  CHECK(has_line(
      text, R"(isync_reconcile_drift_total{tenant="acme",object="CUSTOMER",kind="created"} 4)"));
  CHECK(has_line(
      text, R"(isync_reconcile_drift_total{tenant="acme",object="payments",kind="adopted"} 1)"));
  CHECK(has_line(text,
                 R"(isync_reconcile_last_success_timestamp_seconds{tenant="acme"} 1700000000.5)"));
  // A tenant that never ran shows nothing rather than zeros it never had.
  CHECK(text.find(R"(tenant="beta")") == std::string::npos);

  // Another run finishes elsewhere: the next scrape shows the new totals.
  redis.cmd({"HINCRBY", isync::reconcile::stats_key("acme"), "runs:succeeded", "1"});
  redis.cmd({"HSET", isync::reconcile::stats_key("beta"), "runs:failed", "1"});
  publish(*conn, {"acme", "beta"}, metrics);
  text = metrics.render();
  CHECK(has_line(text, R"(isync_reconcile_runs_total{tenant="acme",state="succeeded"} 4)"));
  CHECK(has_line(text, R"(isync_reconcile_runs_total{tenant="beta",state="failed"} 1)"));

  // Redis gone: the scrape still completes, with the last figures.
  redis.stop();
  publish(*conn, {"acme", "beta"}, metrics);
  CHECK(has_line(metrics.render(),
                 R"(isync_reconcile_runs_total{tenant="acme",state="succeeded"} 4)"));
  redis.start();
  close_and_wait(*conn);
  loop.stop();
}
