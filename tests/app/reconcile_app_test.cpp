// The operator's view of reconcile through the real binary: the command's
// refusals and exit codes, `status` with the last run, the admin routes and
// /metrics of `serve` reading what runs of any process left in Redis.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

namespace http = boost::beast::http;
using isync::testing::Child;
using isync::testing::eventually;
using isync::testing::free_port;
using isync::testing::RedisServer;
using Client = isync::testing::HttpClient;
using namespace std::chrono_literals;

namespace {

constexpr const char* kAdminToken = "admin-token-for-reconcile";
const std::vector<std::string> kEnv = {std::string("TEST_ADMIN_TOKEN=") + kAdminToken,
                                       "TEST_ACME_TOKEN=acme-token", "TEST_BETA_TOKEN=beta-token"};

// A report as the engine stores it (the fields status and the routes read).
const std::string kReport =
    R"({"run_id":"01JREPORT","tenant":"acme","trigger":"schedule","dry_run":false,)"
    R"("state":"succeeded","started_at":"2026-11-22T02:30:00.000Z",)"
    R"("finished_at":"2026-11-22T02:31:00.000Z","duration_ms":60000,"since":0,)"
    R"("objects":{"CUSTOMER":{"state":"done","listed":10,"reads_done":1,"created":1,"updated":2,)"
    R"("tombstoned":0,"drafts_removed":0}},"payments":{"examined":1,"adopted":1,"made_due":0,)"
    R"("reversed":0,"conflicts":0},"api_calls":3,"retries":0,"logins":1,"errors":[]})";

// acme has no Intacct credentials, so reconcile has nothing it may run.
class Fixture {
 public:
  explicit Fixture(RedisServer& redis) : public_port(free_port()), admin_port(free_port()) {
    char tmpl[] = "/tmp/isync-rec-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    config = dir + "/config.toml";
    std::ofstream(config) << "[server]\npublic_listen = \"127.0.0.1:" << public_port
                          << "\"\nadmin_listen = \"127.0.0.1:" << admin_port
                          << "\"\nthreads = 2\n[redis]\nurl = \"" << redis.url()
                          << "\"\n[queue]\nworkers = 1\n"
                             "[admin]\ntoken = \"env:TEST_ADMIN_TOKEN\"\n"
                             "[[tenant]]\nid = \"acme\"\ntoken = \"env:TEST_ACME_TOKEN\"\n"
                             "[[tenant]]\nid = \"beta\"\ntoken = \"env:TEST_BETA_TOKEN\"\n";
  }
  ~Fixture() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  struct Run {
    std::optional<int> code;
    std::string out, err;
  };
  Run run(std::vector<std::string> args) {
    const std::string out_path = dir + "/cmd.out", err_path = dir + "/cmd.err";
    std::filesystem::remove(err_path);
    Run r;
    {
      Child child(ISYNC_BINARY, std::move(args), kEnv, err_path, out_path);
      r.code = child.wait_exit(30s);
      r.err = child.log();
    }
    std::ifstream in(out_path);
    std::stringstream s;
    s << in.rdbuf();
    r.out = s.str();
    return r;
  }

  std::uint16_t public_port, admin_port;
  std::string dir, config;
};

void keep_report(RedisServer& redis) {
  redis.cmd({"SET", "isync:{acme}:reconcile:run:01JREPORT", kReport});
  redis.cmd({"LPUSH", "isync:{acme}:reconcile:runs", "01JREPORT"});
  redis.cmd({"HSET", "isync:{acme}:reconcile:stats", "runs:succeeded", "2", "calls", "7",
             "drift:CUSTOMER:updated", "2", "last_success_ms", "1795314660000"});
}

}  // namespace

TEST_CASE("intacct-sync reconcile refuses bad arguments and tenants without Intacct with exit 2") {
  RedisServer redis;
  Fixture fx(redis);
  auto r = fx.run({"reconcile", "--config", fx.config, "--objects", "customers,orders"});
  CHECK(r.code == 2);
  CHECK(r.err ==
        "intacct-sync: --objects: unknown object \"orders\"; expected customers, invoices or "
        "payments\n");
  r = fx.run({"reconcile", "--config", fx.config, "--tenant", "nobody"});
  CHECK(r.code == 2);
  CHECK(r.err == "intacct-sync: --tenant: no tenant \"nobody\" is configured\n");
  r = fx.run({"reconcile", "--config", fx.config, "--tenant", "acme"});
  CHECK(r.code == 2);
  CHECK(r.err ==
        "intacct-sync: --tenant: tenant \"acme\" has no Intacct credentials (company_id, "
        "user_id, user_password)\n");
  r = fx.run({"reconcile", "--config", fx.config});
  CHECK(r.code == 2);
  CHECK(r.err == "intacct-sync: no configured tenant has Intacct credentials\n");
  r = fx.run({"reconcile", "--no-such-flag"});
  CHECK(r.code == 2);
  r = fx.run({"reconcile", "--help"});
  CHECK(r.code == 0);
  CHECK(r.out.find("Exit codes: 0 succeeded; 1 failed or partial") != std::string::npos);
}

TEST_CASE("intacct-sync status shows each tenant's last reconcile run, in text and JSON") {
  RedisServer redis;
  Fixture fx(redis);
  keep_report(redis);
  auto text = fx.run({"status", "--config", fx.config});
  INFO(text.err);
  REQUIRE(text.code == 0);
  CHECK(text.out.find("reconcile (last run per tenant)\n  acme: succeeded, started "
                      "2026-11-22T02:30:00.000Z, finished 2026-11-22T02:31:00.000Z, schedule, 3 "
                      "API calls\n    CUSTOMER: created 1 updated 2 tombstoned 0 drafts_removed 0\n"
                      "    payments: adopted 1 made_due 0 reversed 0 conflicts 0\n  beta: no run "
                      "yet\n") != std::string::npos);
  auto json = fx.run({"status", "--config", fx.config, "--json"});
  REQUIRE(json.code == 0);
  CHECK(json.out.find(
            R"("reconcile":{"run_id":"01JREPORT","state":"succeeded","trigger":"schedule",)"
            R"("dry_run":false,"started_at":"2026-11-22T02:30:00.000Z",)"
            R"("finished_at":"2026-11-22T02:31:00.000Z","api_calls":3,"drift":{"CUSTOMER":)"
            R"({"created":1,"updated":2,"tombstoned":0,"drafts_removed":0},"payments":)"
            R"({"adopted":1,"made_due":0,"reversed":0,"conflicts":0}}})") != std::string::npos);
  CHECK(json.out.find(R"("tenant":"beta")") != std::string::npos);
  CHECK(json.out.find(R"("reconcile":null)") != std::string::npos);
}

TEST_CASE(
    "serve answers the kept reports and their metrics, and a start for a tenant without "
    "Intacct is 422") {
  RedisServer redis;
  Fixture fx(redis);
  keep_report(redis);
  Child service(ISYNC_BINARY, {"serve", "--config", fx.config}, kEnv, fx.dir + "/serve.log");
  REQUIRE(eventually(
      [&] { return Client(fx.public_port).request(http::verb::get, "/readyz").status == 200; },
      10s));
  Client admin(fx.admin_port);
  auto runs =
      admin.request(http::verb::get, "/v1/admin/reconcile/runs?tenant=acme", {}, {}, kAdminToken);
  CHECK(runs.status == 200);
  CHECK(runs.body == "{\"runs\":[" + kReport + "]}");
  auto one =
      admin.request(http::verb::get, "/v1/admin/reconcile/runs/01JREPORT", {}, {}, kAdminToken);
  CHECK(one.status == 200);
  CHECK(one.body == kReport);
  auto start = admin.request(http::verb::post, "/v1/admin/reconcile", R"({"tenant":"acme"})",
                             "application/json", kAdminToken);
  CHECK(start.status == 422);
  CHECK(start.body.rfind(R"({"error":{"code":"no_intacct",)", 0) == 0);
  auto metrics = admin.request(http::verb::get, "/metrics", {}, {}, kAdminToken);
  CHECK(metrics.body.find("isync_reconcile_runs_total{tenant=\"acme\",state=\"succeeded\"} 2\n") !=
        std::string::npos);
  CHECK(metrics.body.find("isync_reconcile_api_calls_total{tenant=\"acme\"} 7\n") !=
        std::string::npos);
  CHECK(metrics.body.find("isync_reconcile_drift_total{tenant=\"acme\",object=\"CUSTOMER\","
                          "kind=\"updated\"} 2\n") != std::string::npos);
  CHECK(metrics.body.find(
            "isync_reconcile_last_success_timestamp_seconds{tenant=\"acme\"} 1795314660\n") !=
        std::string::npos);
  // A run finished by another process shows at the next scrape.
  redis.cmd({"HINCRBY", "isync:{acme}:reconcile:stats", "runs:succeeded", "1"});
  metrics = admin.request(http::verb::get, "/metrics", {}, {}, kAdminToken);
  CHECK(metrics.body.find("isync_reconcile_runs_total{tenant=\"acme\",state=\"succeeded\"} 3\n") !=
        std::string::npos);
  service.signal(SIGTERM);
  CHECK(service.wait_exit(30s) == 0);
}
