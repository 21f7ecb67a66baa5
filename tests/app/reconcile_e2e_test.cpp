// Reconcile end to end: the sandbox binary posting smart events (some
// dropped) to intacct-sync processes, runs started through the admin API and
// the command line, a runner killed mid-run. Real processes, sockets, Redis.
#include <signal.h>

#include <set>

#include "tests/support/e2e_loop.hpp"
#include "tests/support/mirror_compare.hpp"

using namespace isync::testing::e2e;
using namespace std::chrono_literals;
namespace http = boost::beast::http;

namespace {

// Service settings for these tests: the tenant at concurrency 1 (reconcile
// then pauses 1 s after each call, so a run lasts long enough to be met),
// and a short run lock.
const std::string kReconcileConfig = "[reconcile]\nlock_ttl = \"3s\"\n";

Response admin(Loop& loop, http::verb method, const std::string& target,
               const std::string& body = {}) {
  return HttpClient(loop.admin_port)
      .request(method, target, body, body.empty() ? "" : "application/json", kAdminToken);
}

// Starts a run through POST /v1/admin/reconcile (waiting out the index
// back-fill of a fresh start) and returns its id.
std::string post_run(Loop& loop, const std::string& body = R"({"tenant":"acme"})") {
  std::string run_id;
  bool started = eventually(
      [&] {
        auto r = admin(loop, http::verb::post, "/v1/admin/reconcile", body);
        if (r.status != 202) return false;
        run_id = json(r.body)["run_id"].GetString();
        return true;
      },
      30s);
  REQUIRE_MESSAGE(started, loop.logs());
  return run_id;
}

// Waits for the run to end; its report.
rapidjson::Document finished(Loop& loop, const std::string& run_id) {
  rapidjson::Document doc;
  bool done = eventually(
      [&] {
        auto r = admin(loop, http::verb::get, "/v1/admin/reconcile/runs/" + run_id);
        if (r.status != 200) return false;
        doc = json(r.body);
        return std::string(doc["state"].GetString()) != "running";
      },
      120s);
  REQUIRE_MESSAGE(done, loop.logs());
  return doc;
}

std::int64_t count(const rapidjson::Document& report, const char* object, const char* field) {
  return report["objects"][object][field].GetInt64();
}

// Every event handled: nothing on the stream, pending, retrying or awaiting
// its settled read.
bool drained(RedisServer& redis) {
  return redis.cmd({"XLEN", "isync:{acme}:events"}).integer == 0 &&
         redis.cmd({"ZCARD", "isync:{acme}:retry"}).integer == 0 &&
         redis.cmd({"ZCARD", "isync:{acme}:recheck"}).integer == 0;
}

std::vector<std::string> differences(Loop& loop, RedisServer& redis) {
  std::vector<isync::sandbox::Record> records;
  for (const char* object : {"CUSTOMER", "ARINVOICE", "ARPYMT"}) {
    auto r = loop.control(http::verb::get, std::string("/v1/records/") + object + "?limit=1000");
    REQUIRE(r.status == 200);
    auto page = isync::testing::parse_records_page(r.body);
    REQUIRE(page.has_value());
    records.insert(records.end(), page->begin(), page->end());
  }
  auto sc = isync::redis::SyncConnection::connect(redis.endpoint(), 5s);
  REQUIRE(sc.has_value());
  auto since = redis.cmd({"GET", "isync:{acme}:reconcile:since"});
  REQUIRE(since.type == isync::redis::Reply::Type::string);
  auto d = isync::testing::mirror_differences(*sc, "acme", records, std::stoll(since.str));
  REQUIRE(d.has_value());
  return *d;
}

// How many records the differences name ("CUSTOMER 12: …" lines).
std::size_t records_of(const std::vector<std::string>& differences) {
  std::set<std::string> names;
  for (const auto& d : differences) names.insert(d.substr(0, d.find(':')));
  return names.size();
}

}  // namespace

TEST_CASE("events dropped at 10% are made good by a run; a second start meanwhile answers 409") {
  RedisServer redis;
  Loop loop(redis);
  loop.start_sandbox(60, 80);
  loop.start_service(kUserPassword, 1, kReconcileConfig);
  INFO(loop.logs());
  // The first run imports the demo company.
  auto first = finished(loop, post_run(loop));
  REQUIRE(std::string(first["state"].GetString()) == "succeeded");
  CHECK(count(first, "CUSTOMER", "created") == 60);

  loop.faults(R"({"drop_events_ratio":0.1})");
  for (int i = 1; i <= 60; ++i)
    loop.set_fields("CUSTOMER", i, "{\"NAME\":\"Changed " + std::to_string(i) + "\"}");
  loop.faults(R"({"drop_events_ratio":0})");
  REQUIRE(eventually([&] { return drained(redis); }, 60s));
  auto dropped = json(loop.control(http::verb::get, "/v1/events/dropped").body);
  const auto lost = dropped["count"].GetInt64();
  REQUIRE(lost > 0);  // seed 7 drops some of 60
  CHECK(records_of(differences(loop, redis)) == static_cast<std::size_t>(lost));

  const auto run_id = post_run(loop);
  auto again = admin(loop, http::verb::post, "/v1/admin/reconcile", R"({"tenant":"acme"})");
  CHECK(again.status == 409);
  auto body = json(again.body);
  CHECK(std::string(body["error"]["code"].GetString()) == "already_running");
  CHECK(std::string(body["run_id"].GetString()) == run_id);
  // Live events for other records land during the run.
  for (int i = 1; i <= 5; ++i)
    loop.set_fields("ARINVOICE", i, "{\"DOCNUMBER\":\"LIVE-" + std::to_string(i) + "\"}");
  auto report = finished(loop, run_id);
  CHECK(std::string(report["state"].GetString()) == "succeeded");
  CHECK(count(report, "CUSTOMER", "updated") == lost);
  CHECK(count(report, "CUSTOMER", "created") == 0);
  CHECK(count(report, "CUSTOMER", "tombstoned") == 0);
  REQUIRE(eventually([&] { return drained(redis); }, 60s));
  CHECK(differences(loop, redis) == std::vector<std::string>{});
  for (int i = 1; i <= 5; ++i) CHECK(loop.mirror_has("invoices", i, "LIVE-" + std::to_string(i)));

  // Right after: no drift, and only the listing is paid for.
  auto quiet = finished(loop, post_run(loop));
  for (const char* o : {"CUSTOMER", "ARINVOICE", "ARPYMT"}) {
    CHECK(quiet["objects"][o]["calls"]["read"].GetInt64() == 0);
    CHECK(quiet["objects"][o]["calls"]["list"].GetInt64() == 1);
  }
  // The figures are in every process's metrics.
  auto metrics = admin(loop, http::verb::get, "/metrics");
  CHECK(metrics.body.find("isync_reconcile_runs_total{tenant=\"acme\",state=\"succeeded\"} 3") !=
        std::string::npos);
}

TEST_CASE("a runner killed mid-run leaves a lock that expires, and a rerun converges") {
  RedisServer redis;
  Loop loop(redis);
  loop.start_sandbox(60, 150);
  loop.start_service(kUserPassword, 1, kReconcileConfig);
  INFO(loop.logs());
  const std::string config = loop.dir + "/service0.toml";
  const std::vector<std::string> env = {std::string("TEST_ADMIN_TOKEN=") + kAdminToken,
                                        std::string("TEST_ACME_TOKEN=") + kTenantToken,
                                        std::string("TEST_SENDER_PASSWORD=") + kSenderPassword,
                                        std::string("TEST_USER_PASSWORD=") + kUserPassword,
                                        // A killed runner's concurrency slot is freed after
                                        // 3 call timeouts (at least 10 s), not 3 minutes.
                                        "INTACCT_SYNC_INTACCT_CALL_TIMEOUT=2s"};
  // Wait for the index before the command line tries.
  REQUIRE(eventually(
      [&] {
        return redis.cmd({"HGET", "isync:{acme}:idx-state", "ready"}).str == "1";
      },
      30s));
  {
    Child cli(ISYNC_BINARY, {"reconcile", "--config", config, "--tenant", "acme"}, env,
              loop.dir + "/cli1.log", loop.dir + "/cli1.out");
    // Killed once it has listed and read some customers.
    REQUIRE(eventually(
        [&] {
          return redis.cmd({"EXISTS", "isync:{acme}:rec:CUSTOMER:1"}).integer == 1;
        },
        60s));
    cli.signal(SIGKILL);
    cli.wait_exit(10s);
  }
  // The lock outlives its runner until its expiry (3 s). On a slow machine it
  // may have expired already: then the service starts a run of its own, which
  // ends and releases it.
  auto held = admin(loop, http::verb::post, "/v1/admin/reconcile", R"({"tenant":"acme"})");
  if (held.status == 409) {
    CHECK(json(held.body)["error"]["code"].GetString() == std::string("already_running"));
  } else {
    REQUIRE_MESSAGE(held.status == 202, held.body);
    finished(loop, json(held.body)["run_id"].GetString());
  }
  REQUIRE(eventually(
      [&] {
        return redis.cmd({"EXISTS", "isync:{acme}:reconcile:lock"}).integer == 0;
      },
      30s));
  Child rerun(ISYNC_BINARY, {"reconcile", "--config", config, "--tenant", "acme", "--json"}, env,
              loop.dir + "/cli2.log", loop.dir + "/cli2.out");
  auto code = rerun.wait_exit(120s);
  REQUIRE_MESSAGE(code.has_value(), rerun.log());
  CHECK(*code == 0);
  CHECK(differences(loop, redis) == std::vector<std::string>{});
}
