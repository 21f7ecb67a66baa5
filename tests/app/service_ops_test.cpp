// What an operator sees of a running intacct-sync: `status` (text, JSON, and
// exit 1 without Redis), GET /v1/admin/status for the admin token only, and
// the alert webhook called when a tenant's Intacct circuit opens.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tests/alerts/receiver.hpp"
#include "tests/app/service_fixture.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

namespace http = boost::beast::http;
using isync::testing::eventually;
using isync::testing::RedisServer;
using namespace std::chrono_literals;

namespace {

using isync::testing::Child;
using isync::testing::Response;
using Client = isync::testing::HttpClient;
using isync::testing::service::Fixture;
using isync::testing::service::kAdminToken;
using isync::testing::service::kTenantToken;
using isync::testing::service::Service;

// `intacct-sync status [--json]` for the fixture's config; stdout and the exit code.
struct StatusRun {
  std::optional<int> code;
  std::string out, err;
};

StatusRun run_status(Fixture& fx, bool json) {
  std::vector<std::string> args{"status", "--config", fx.config};
  if (json) args.push_back("--json");
  const std::string out_path = fx.dir + "/status.out";
  const std::string err_path = fx.dir + "/status.err";
  std::filesystem::remove(err_path);
  StatusRun run;
  {
    Child child(ISYNC_BINARY, args,
                {std::string("TEST_ADMIN_TOKEN=") + kAdminToken,
                 std::string("TEST_ACME_TOKEN=") + kTenantToken},
                err_path, out_path);
    run.code = child.wait_exit(30s);
    run.err = child.log();
  }
  std::ifstream in(out_path);
  std::stringstream s;
  s << in.rdbuf();
  run.out = s.str();
  return run;
}

// An unsettled payment as the payment handler's ledger keeps it.
void write_unsettled(RedisServer& redis, const std::string& id, std::int64_t since_ms) {
  redis.cmd({"HSET", "isync:{acme}:pay:" + id, "state", "unknown", "since",
             std::to_string(since_ms), "sends", "1", "invoice", "1001", "customer", "C-0042",
             "amount", "120.50", "currency", "USD", "error",
             "ambiguous: creating the ARPYMT failed: HTTP 524"});
  redis.cmd({"ZADD", "isync:{acme}:payments:unsettled", std::to_string(since_ms), id});
}

void settle(RedisServer& redis, const std::string& id) {
  redis.cmd({"HSET", "isync:{acme}:pay:" + id, "state", "posted", "recordno", "7001"});
  redis.cmd({"ZREM", "isync:{acme}:payments:unsettled", id});
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TEST_CASE("intacct-sync status lists an unsettled payment until it is settled") {
  RedisServer redis;
  Fixture fx(redis);
  write_unsettled(redis, "pi_status_1", now_ms() - 125'000);

  auto run = run_status(fx, false);
  INFO(run.err);
  REQUIRE(run.code == 0);
  CHECK(run.out.find("tenant acme") != std::string::npos);
  CHECK(run.out.find("1 unsettled") != std::string::npos);
  auto at = run.out.find("pi_status_1");
  REQUIRE(at != std::string::npos);
  const auto start = run.out.rfind('\n', at) + 1;
  const auto row = run.out.substr(start, run.out.find('\n', at) - start);
  CHECK(row.find("unknown") != std::string::npos);
  CHECK(row.find("2m") != std::string::npos);  // 2m05s, give or take the run's own time
  CHECK(row.find("120.50 USD") != std::string::npos);

  auto json = run_status(fx, true);
  REQUIRE(json.code == 0);
  CHECK(json.out.rfind(R"({"tenants":[{"tenant":"acme","queue":{"depth":0,)", 0) == 0);
  CHECK(json.out.find(R"("payment_id":"pi_status_1","state":"unknown")") != std::string::npos);
  CHECK(json.out.find(R"("unsettled_count":1)") != std::string::npos);

  settle(redis, "pi_status_1");
  auto after = run_status(fx, false);
  REQUIRE(after.code == 0);
  CHECK(after.out.find("0 unsettled") != std::string::npos);
  CHECK(after.out.find("pi_status_1") == std::string::npos);
  CHECK(after.out.find(kAdminToken) == std::string::npos);
  CHECK(after.out.find(kTenantToken) == std::string::npos);
}

TEST_CASE("intacct-sync status exits 1 when Redis cannot be reached") {
  RedisServer redis;
  Fixture fx(redis);
  redis.stop();
  auto run = run_status(fx, false);
  REQUIRE(run.code == 1);
  CHECK(run.out.empty());
  CHECK(run.err.find("cannot reach Redis at redis://127.0.0.1:" + std::to_string(redis.port())) !=
        std::string::npos);
}

TEST_CASE("GET /v1/admin/status answers the status document to the admin token only") {
  RedisServer redis;
  Fixture fx(redis);
  std::ofstream(fx.dir + "/read-token") << "acme-read-token-for-tests";
  std::ofstream(fx.config, std::ios::app) << "read_token = \"file:" << fx.dir << "/read-token\"\n";
  write_unsettled(redis, "pi_status_2", now_ms() - 5'000);
  auto service = fx.start();

  Client admin(fx.admin_port);
  auto res = admin.request(http::verb::get, "/v1/admin/status", {}, {}, kAdminToken);
  INFO(service->log());
  REQUIRE(res.status == 200);
  CHECK(res.body.rfind(R"({"tenants":[{"tenant":"acme",)", 0) == 0);
  CHECK(res.body.find(R"("payment_id":"pi_status_2")") != std::string::npos);
  CHECK(res.body.find(R"("circuit":"closed")") != std::string::npos);
  // The tenant's configured budget (the default here) beside the month's calls.
  CHECK(res.body.find(R"("calls_this_month":0,"monthly_call_budget":100000})") !=
        std::string::npos);
  // The console's chart data, through the on-call engine.
  auto activity =
      admin.request(http::verb::get, "/v1/admin/activity?tenant=acme", {}, {}, kAdminToken);
  CHECK(activity.status == 200);
  CHECK(activity.body.rfind(R"({"tenant":"acme","minute_ms":60000,"from_ms":)", 0) == 0);

  auto read_token =
      admin.request(http::verb::get, "/v1/admin/status", {}, {}, "acme-read-token-for-tests");
  CHECK(read_token.status == 401);
  CHECK(read_token.body ==
        R"({"error":{"code":"unauthorized","message":"the admin token is missing or wrong; send )"
        R"(Authorization: Bearer <admin token>"}})");
  CHECK(admin.request(http::verb::get, "/v1/admin/status").status == 401);
  CHECK(admin.request(http::verb::post, "/v1/admin/status", "{}", "application/json", kAdminToken)
            .status == 405);

  settle(redis, "pi_status_2");
  res = admin.request(http::verb::get, "/v1/admin/status", {}, {}, kAdminToken);
  REQUIRE(res.status == 200);
  CHECK(res.body.find("pi_status_2") == std::string::npos);
  CHECK(res.body.find(R"("unsettled_count":0)") != std::string::npos);

  redis.stop();
  Response down;
  REQUIRE(eventually([&] {
    down = admin.request(http::verb::get, "/v1/admin/status", {}, {}, kAdminToken);
    return down.status == 503;
  }));
  CHECK(down.body.find(R"("code":"unavailable")") != std::string::npos);
  redis.start();

  service->signal(SIGTERM);
  CHECK(service->wait_exit(30s) == 0);
}

TEST_CASE("serve alerts the webhook when a tenant's Intacct circuit opens, never logging its URL") {
  RedisServer redis;
  isync::testing::Receiver receiver;
  Fixture fx(redis,
             "[alerts]\nwebhook_url = \"" + receiver.url() + "\"\ncheck_interval = \"1s\"\n");
  auto service = fx.start();
  redis.cmd({"HSET", "isync:{acme}:intacct:circuit", "fingerprint", "0123456789abcdef", "reason",
             "XL03000006 Sign-in information is incorrect"});
  INFO(service->log());
  REQUIRE(eventually([&] { return receiver.count() == 1; }, 30s));
  CHECK(receiver.bodies()[0].find("acme: the Intacct circuit is open") != std::string::npos);
  Client admin(fx.admin_port);
  CHECK(eventually([&] {
    return admin.request(http::verb::get, "/metrics", {}, {}, kAdminToken)
               .body.find("isync_alerts_total{kind=\"circuit\",outcome=\"sent\"} 1") !=
           std::string::npos;
  }));
  service->signal(SIGTERM);
  CHECK(service->wait_exit(30s) == 0);
  const auto log = service->log();
  CHECK(log.find("\"alerts\":\"on\"") != std::string::npos);
  CHECK(log.find("XXXXtokenXXXX") == std::string::npos);
  CHECK(receiver.count() == 1);
}
