// The Intacct client against a real redis-server and a small in-test gateway
// (Beast, loopback): slots, fairness, budget, metrics, the no-retry rule for
// ambiguous writes, and reads by RECORDNO.
#include <doctest/doctest.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/intacct/client_fixture.hpp"

using namespace isync;
using namespace isync::intacct;
using namespace isync::intacct::test::client;
using std::chrono::milliseconds;

TEST_CASE("two processes with concurrency 2 never have more than 2 requests in flight") {
  Env env;
  env.gw.set([](FakeGateway& g) { g.delay = milliseconds(30); });
  auto a = env.hub(env.options()).add_tenant(Env::access("acme"));
  auto b = env.hub(env.options()).add_tenant(Env::access("acme"));
  std::vector<std::future<CallOutcome>> pending;
  for (int i = 0; i < 20; ++i) {
    pending.push_back(call(*a, read_fn()));
    pending.push_back(call(*b, read_fn()));
  }
  for (auto& f : pending) CHECK(all_succeeded(wait(std::move(f))));
  CHECK(env.server.max_in_flight.load() == 2);
  CHECK(env.gw.count("read") == 40);
  // Every slot was given back (the release is written just after the
  // outcome is handed over).
  CHECK(testing::eventually([&] {
    return env.redis.cmd({"ZCARD", "isync:{acme}:intacct:slots"}).integer == 0;
  }));
}

TEST_CASE("no slot within slot_wait fails transient 'throttled' without a request") {
  Env env;
  env.gw.set([](FakeGateway& g) { g.delay = milliseconds(1500); });
  auto o = env.options();
  o.slot_wait = milliseconds(200);
  auto access = Env::access("acme");
  access.concurrency = 1;
  auto a = env.hub(o).add_tenant(access);
  auto b = env.hub(o).add_tenant(access);
  auto slow = call(*a, read_fn());
  REQUIRE(testing::eventually([&] { return env.server.in_flight.load() == 1; }));
  const int requests = env.gw.count_requests();
  auto out = wait(call(*b, read_fn()));
  REQUIRE(out.error);
  CHECK(out.error->cls == ErrorClass::transient);
  CHECK(out.error->summary().find("throttled: 1 calls already running for tenant acme") !=
        std::string::npos);
  CHECK(env.gw.count_requests() == requests);
  CHECK(all_succeeded(wait(std::move(slow))));
  CHECK(env.metrics.render().find("outcome=\"throttled\"") != std::string::npos);
}

TEST_CASE("a tenant's backlog does not hold up another tenant's call") {
  Env env;
  env.gw.set([](FakeGateway& g) { g.delay = milliseconds(100); });
  auto& hub = env.hub(env.options());
  auto a = hub.add_tenant(Env::access("tenant-a"));
  auto b = hub.add_tenant(Env::access("tenant-b"));
  std::mutex mu;
  std::vector<std::string> order;
  std::atomic<int> done{0};
  for (int i = 0; i < 50; ++i) {
    a->call(read_fn(), false, [&](CallOutcome) {
      std::lock_guard lock(mu);
      order.push_back("a");
      ++done;
    });
  }
  b->call(read_fn(), false, [&](CallOutcome o) {
    std::lock_guard lock(mu);
    order.push_back(all_succeeded(o) ? "b" : "b-failed");
    ++done;
  });
  REQUIRE(testing::eventually([&] { return done.load() == 51; }, std::chrono::seconds(30)));
  std::lock_guard lock(mu);
  auto at = std::find(order.begin(), order.end(), "b");
  REQUIRE(at != order.end());
  // A holds 2 slots; B's call (login + read) runs beside them, not after 50.
  CHECK(at - order.begin() <= 6);
}

TEST_CASE("the monthly budget counts functions and records, and each alert fires once") {
  Env env;
  auto o = env.options();
  o.budget_alert_ratio = 0.5;
  auto access = Env::access("acme");
  access.monthly_call_budget = 10;
  auto c = env.hub(o).add_tenant(access);
  const std::string key = "isync:{acme}:intacct:calls:2023-11";
  CHECK(all_succeeded(wait(call(*c, read_fn()))));  // 1 (the login is not counted)
  CHECK(all_succeeded(wait(call(*c, {Function{{}, Read{"ARINVOICE", {"1"}, {}, {}}},
                                     Function{{}, Delete{"ARPYMT", {"1", "2", "3"}}}}))));  // +4
  CHECK(testing::eventually([&] { return env.redis.cmd({"GET", key}).str == "5"; }));
  CHECK(testing::eventually([&] { return env.log_count("intacct call budget nearly used") == 1; }));
  for (int i = 0; i < 7; ++i) CHECK(all_succeeded(wait(call(*c, read_fn()))));  // never refused
  CHECK(testing::eventually([&] { return env.redis.cmd({"GET", key}).str == "12"; }));
  // The log line and the gauge follow Redis's answer, a moment after the
  // counter is written.
  CHECK(testing::eventually([&] {
    return env.metrics.render().find("isync_intacct_budget_used{tenant=\"acme\"} 12") !=
           std::string::npos;
  }));
  CHECK(testing::eventually([&] { return env.log_count("intacct call budget exceeded") == 1; }));
  CHECK(env.log_count("intacct call budget nearly used") == 1);
  CHECK(env.redis.cmd({"TTL", key}).integer > 39 * 24 * 3600);
  CHECK(env.metrics.render().find("isync_intacct_budget_limit{tenant=\"acme\"} 10") !=
        std::string::npos);
}

TEST_CASE("metrics and one log line per gateway request") {
  Env env;
  auto c = env.hub(env.options()).add_tenant(Env::access("acme"));
  CHECK(all_succeeded(wait(call(*c, read_fn()))));
  const std::string text = env.metrics.render();
  CHECK(text.find(
            "isync_intacct_calls_total{tenant=\"acme\",function=\"read\",outcome=\"success\"} 1") !=
        std::string::npos);
  CHECK(text.find("function=\"getAPISession\",outcome=\"success\"") != std::string::npos);
  CHECK(text.find("isync_intacct_call_seconds_bucket{function=\"read\"") != std::string::npos);
  CHECK(env.log_count("\"msg\":\"intacct request\"") == 2);
  CHECK(env.log_count("\"functions\":\"getAPISession\"") == 1);
  CHECK(env.log_count("\"functions\":\"read\"") == 1);
  CHECK(env.log_count("senderpw") == 0);
}

TEST_CASE("a 524 after a create is ambiguous and not retried") {
  Env env;
  auto c = env.hub(env.options()).add_tenant(Env::access("acme"));
  CHECK(all_succeeded(wait(call(*c, read_fn()))));
  env.gw.set([](FakeGateway& g) { g.timeout_524_writes = 1; });
  auto out = wait(call(*c, {Function{{}, Create{"ARPYMT", {leaf("CUSTOMERID", "C1")}}}}, true));
  REQUIRE(out.error);
  CHECK(out.error->cls == ErrorClass::ambiguous);
  CHECK(out.error->http_status == 524);
  CHECK(env.gw.count("create") == 1);
  CHECK(env.metrics.render().find("outcome=\"ambiguous\"") != std::string::npos);
}

TEST_CASE("read returns rows by RECORDNO; a key Intacct did not return is absent") {
  Env env;
  auto c = env.hub(env.options()).add_tenant(Env::access("acme"));
  auto p = std::make_shared<std::promise<ReadOutcome>>();
  auto f = p->get_future();
  c->read("ARINVOICE", {"11", "12", "99"}, [p](ReadOutcome o) { p->set_value(std::move(o)); });
  REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  auto out = f.get();
  CHECK_FALSE(out.error);
  CHECK(out.rows.size() == 2);
  CHECK(out.rows.count("11") == 1);
  CHECK(out.rows.count("99") == 0);
  REQUIRE(out.rows.count("12") == 1);
  CHECK(*out.rows.at("12").get("NAME") == "n12");
}
