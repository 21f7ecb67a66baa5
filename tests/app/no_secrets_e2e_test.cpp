// No secret anywhere. One intacct-sync process (the real binary, `serve
// --log-level debug`) against a real Redis and the intacct-sandbox, with
// every kind of secret configured, each a distinctive marker: tenant tokens
// and a read token, the Intacct sender and user passwords (one tenant's
// refused by Intacct), two Stripe signing secrets, the admin token, the
// alert webhook's URL, and the enc: master key, with secrets given as env:,
// file:, enc: and a literal.
// The flow: smart events, sandbox faults (retries, dead letters), replays by
// the admin API, the CLI, the console and a job, Stripe deliveries (posted,
// dead-lettered, a bad signature), an open circuit, reconcile runs (one
// failing), the console's login, alerts posted to a local receiver. Then no secret — nor its first
// characters, nor the master key in either form — may appear in the service's and the commands'
// logs, /metrics, the console's files and every admin JSON it reads, `events show` (CLI and API),
// the alert messages, or any Redis key or value.
//
// The search is shown to work: it finds the secrets the config file holds,
// the alert URL's path where it belongs (the receiver's request line), and
// secrets planted in Redis in every data type.
#include <doctest/doctest.h>
#include <signal.h>

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tests/app/no_secrets_rig.hpp"

using namespace isync::testing::nosecret;
using isync::testing::eventually;
using isync::testing::RedisServer;
using namespace std::chrono_literals;
namespace http = boost::beast::http;

TEST_CASE("no secret appears in logs, metrics, the console, events show, or Redis") {
  Receiver receiver;
  RedisServer redis;
  Rig rig(redis);
  rig.alert_to(receiver.port);
  rig.start_sandbox();
  rig.start_service();
  const auto needles = rig.needles();

  // The search finds what the config file holds: the literal token and the enc: values.
  {
    auto in_config = find_secrets("config", read_file(rig.config), needles);
    std::set<std::string> found;
    for (const auto& l : in_config) found.insert(l.secret);
    CHECK(found == std::set<std::string>{"a secret's prefix", "beta token", "enc: acme token",
                                         "enc: sender password", "enc: old Stripe secret",
                                         "enc: alert URL"});
  }

  // A change read from Intacct; a read with the tenant's read token.
  rig.set_name(1, "Plain change 1");
  REQUIRE_MESSAGE(rig.mirror_has(1, "Plain change 1"), rig.service->log());
  CHECK(request(rig.admin_port, http::verb::get, "/v1/tenants/acme/customers/1", {},
                {{"Authorization", std::string("Bearer ") + kAcmeReadToken}})
            .status == 200);
  // Transient faults: retried until done.
  rig.faults(R"({"server_error":3})");
  rig.set_name(2, "After retries 2");
  REQUIRE_MESSAGE(rig.mirror_has(2, "After retries 2"), rig.service->log());

  // Dead letters: reads denied (a permanent failure).
  rig.faults(R"({"deny_read_objects":["CUSTOMER"]})");
  for (int r = 3; r <= 7; ++r) rig.set_name(r, "Dead then fixed " + std::to_string(r));
  REQUIRE_MESSAGE(eventually([&] { return rig.zcard("isync:{acme}:dead") == 5; }, 30s),
                  rig.service->log());
  rig.faults(R"({"deny_read_objects":[]})");
  auto alerted = [&](const std::string& text) {
    return eventually(
        [&] {
          for (const auto& p : receiver.posts()) {
            if (p.body.find(text) != std::string::npos) return true;
          }
          return false;
        },
        30s);
  };
  CHECK(alerted(" dead letters, at or over the alert threshold of 3."));

  // Replays: the admin API, the CLI, the console (cookie + CSRF), a job by filter.
  auto r = rig.admin(http::verb::post, "/v1/admin/events/replay",
                     R"({"ids":[")" + dead_id(rig, 3) + R"("],"reason":"fixed"})");
  CHECK(r.status == 200);
  CHECK(rig.cli({"events", "replay", dead_id(rig, 4), "--reason", "fixed"}) == 0);
  CHECK(request(rig.admin_port, http::verb::post, "/console/login", R"({"token":"wrong"})",
                {{"Content-Type", "application/json"}})
            .status == 401);
  auto login = request(rig.admin_port, http::verb::post, "/console/login",
                       std::string(R"({"token":")") + kAdminToken + "\"}",
                       {{"Content-Type", "application/json"}});
  REQUIRE(login.status == 200);
  const std::string set_cookie = login.headers["set-cookie"];
  const auto eq = set_cookie.find('=');
  REQUIRE(eq != std::string::npos);
  const std::string cookie =
      "isync_console=" + set_cookie.substr(eq + 1, set_cookie.find(';') - eq - 1);
  const std::string csrf = json(login.body)["csrf"].GetString();
  r = request(rig.admin_port, http::verb::post, "/v1/admin/events/replay",
              R"({"ids":[")" + dead_id(rig, 5) + R"("],"reason":"fixed"})",
              {{"Cookie", cookie}, {"X-CSRF-Token", csrf}, {"Content-Type", "application/json"}});
  CHECK(r.status == 200);
  r = rig.admin(
      http::verb::post, "/v1/admin/events/replay",
      R"({"filter":{"tenant":"acme","state":"dead","object":"CUSTOMER"},"reason":"bulk"})");
  REQUIRE(r.status == 202);
  const std::string job = json(r.body)["job_id"].GetString();
  for (int n = 3; n <= 7; ++n) {
    CHECK_MESSAGE(rig.mirror_has(n, "Dead then fixed " + std::to_string(n)), n);
  }

  CHECK(alerted("acme: recovered: dead letters are back under the threshold of 3"));

  // Stripe: a payment posted (the new secret), one dead-lettered (the old
  // secret, an invoice Intacct does not have), one with a wrong signature.
  std::string invoice;
  const auto invoices = json(rig.control(http::verb::get, "/v1/records/ARINVOICE?limit=100").body);
  for (const auto& rec : invoices["records"].GetArray()) {
    const auto& f = rec["fields"];
    if (std::string(f["STATE"].GetString()) != "Draft" &&
        std::stod(f["TOTALDUE"].GetString()) >= 2) {
      invoice = f["RECORDID"].GetString();
      break;
    }
  }
  REQUIRE_FALSE(invoice.empty());
  CHECK(post_stripe(rig.public_port, kStripeNew, payment_event("1", invoice, 100)).status == 202);
  CHECK(post_stripe(rig.public_port, kStripeOld, payment_event("2", "INV-NOPE", 100)).status ==
        202);
  CHECK(post_stripe(rig.public_port, "whsec_wrong", payment_event("3", invoice, 100)).status ==
        401);
  REQUIRE_MESSAGE(eventually(
                      [&] {
                        auto m = rig.admin(http::verb::get, "/metrics").body;
                        return m.find("result=\"posted\"") != std::string::npos &&
                               rig.zcard("isync:{acme}:dead") == 1;
                      },
                      60s),
                  rig.service->log());

  // beta's password is refused: its circuit opens and its event parks.
  r = request(rig.public_port, http::verb::post, "/v1/intacct/beta/events",
              "object=CUSTOMER\naction=set\nrecordno=1\nwhenmodified=06/01/2024 10:00:00",
              {{"Content-Type", "application/x-www-form-urlencoded"},
               {"Authorization", std::string("Bearer ") + kBetaToken}});
  CHECK(r.status == 202);
  REQUIRE_MESSAGE(eventually([&] { return rig.zcard("isync:{beta}:parked") == 1; }, 30s),
                  rig.service->log());

  // Reconcile: acme succeeds (API and CLI); beta's run fails.
  const std::string acme_run = reconcile(rig, "acme");
  const std::string beta_run = reconcile(rig, "beta");
  CHECK(rig.cli({"reconcile", "--tenant", "acme"}) == 0);
  CHECK(alerted("beta: the Intacct circuit is open"));
  CHECK(alerted("beta: reconcile run " + beta_run));
  CHECK(alerted(" dead-lettered since the last alert ("));

  // What the operator reads: the console's files and every JSON it reads.
  std::string console;
  auto page = request(rig.admin_port, http::verb::get, "/console");
  CHECK(page.status == 200);
  console += page.body;
  int assets = 0;
  for (const auto& f : std::filesystem::directory_iterator(ISYNC_CONSOLE_ASSETS)) {
    const std::string name = f.path().filename().string();
    if (name == "index.html") continue;
    auto a = request(rig.admin_port, http::verb::get, "/console/assets/" + name);
    CHECK_MESSAGE(a.status == 200, name);
    console += a.body;
    ++assets;
  }
  CHECK(assets >= 5);
  console += set_cookie + login.body;
  std::vector<std::string> targets = {"/console/session",
                                      "/v1/admin/status",
                                      "/v1/admin/jobs",
                                      "/v1/admin/jobs/" + job,
                                      "/v1/admin/reconcile/runs/" + acme_run + "?tenant=acme",
                                      "/v1/admin/reconcile/runs/" + beta_run + "?tenant=beta"};
  std::vector<std::string> shown;
  for (const std::string t : {"acme", "beta"}) {
    targets.push_back("/v1/admin/activity?tenant=" + t);
    targets.push_back("/v1/admin/reconcile/runs?tenant=" + t);
    const auto list = "/v1/admin/events?limit=1000&tenant=" + t;
    targets.push_back(list);
    for (const auto& id : event_ids(rig.admin(http::verb::get, list).body)) {
      targets.push_back("/v1/admin/events/" + id);
      shown.push_back(id);
    }
  }
  for (int n = 1; n <= 7; ++n) targets.push_back("/v1/tenants/acme/customers/" + std::to_string(n));
  for (const auto& t : targets) {
    auto a = request(rig.admin_port, http::verb::get, t, {}, {{"Cookie", cookie}});
    CHECK_MESSAGE(a.status == 200, t);
    console += a.body;
  }
  CHECK(shown.size() >= 7);  // 5 replayed, the payment, beta's parked event
  CHECK(console.find("BL01001973") != std::string::npos);  // the dead letters' errorno

  // events show and the other commands, text and JSON.
  for (const auto& id : shown) {
    CHECK(rig.cli({"events", "show", id}) == 0);
    CHECK(rig.cli({"events", "show", id, "--json"}) == 0);
  }
  CHECK(rig.cli({"events", "list", "--tenant", "acme"}) == 0);
  CHECK(rig.cli({"events", "jobs"}) == 0);
  CHECK(rig.cli({"records", "show", "CUSTOMER", "3", "--tenant", "acme"}) == 0);
  rig.cli({"status"});
  rig.cli({"status", "--json"});
  CHECK(rig.cli({"check-config"}) == 0);
  CHECK(rig.cli_output.find("BL01001973") != std::string::npos);

  const std::string metrics = rig.admin(http::verb::get, "/metrics").body;
  CHECK(metrics.find("isync_intacct_calls_total") != std::string::npos);

  // The service's log, complete once it has stopped.
  rig.service->signal(SIGTERM);
  const auto exit_code = rig.service->wait_exit(30s);
  const std::string log = rig.service->log();
  CHECK_MESSAGE(exit_code == std::optional<int>(0),
                "exit " << (exit_code ? std::to_string(*exit_code) : "none") << "; log tail:\n"
                        << log.substr(log.size() > 4000 ? log.size() - 4000 : 0));
  CHECK(log.find(R"("level":"debug")") != std::string::npos);
  CHECK(log.find(R"("msg":"intacct request")") != std::string::npos);
  CHECK(log.find(R"("outcome":"dead")") != std::string::npos);
  CHECK(log.find(R"("msg":"intacct circuit open")") != std::string::npos);
  CHECK(log.find(R"("msg":"intacct call not sent")") != std::string::npos);

  CHECK_MESSAGE(find_secrets("log", log, needles).empty(),
                describe(find_secrets("log", log, needles)));
  CHECK_MESSAGE(find_secrets("metrics", metrics, needles).empty(),
                describe(find_secrets("metrics", metrics, needles)));
  CHECK_MESSAGE(find_secrets("console", console, needles).empty(),
                describe(find_secrets("console", console, needles)));
  CHECK_MESSAGE(find_secrets("cli", rig.cli_output, needles).empty(),
                describe(find_secrets("cli", rig.cli_output, needles)));
  // The alerts: the URL's secret path is in each request line, and nowhere in a message.
  std::string alerts;
  for (const auto& p : receiver.posts()) {
    CHECK(p.target == kAlertPath);
    alerts += p.body + "\n";
  }
  CHECK(find_secrets("alert target", receiver.posts().front().target, needles).size() == 2);
  CHECK_MESSAGE(find_secrets("alerts", alerts, needles).empty(),
                describe(find_secrets("alerts", alerts, needles)));

  // Redis: secrets planted in every type are found, and nothing else.
  redis.cmd({"SET", "canary:string", kAdminToken});
  redis.cmd({"HSET", "canary:hash", "f", kAcmeToken});
  redis.cmd({"RPUSH", "canary:list", kUserPassword});
  redis.cmd({"SADD", "canary:set", kSenderPassword});
  redis.cmd({"ZADD", "canary:zset", "1", kStripeNew});
  redis.cmd({"XADD", "canary:stream", "*", "f", kBetaToken});
  int unreadable = 0;
  auto keys = dump_redis(redis, unreadable);
  CHECK(unreadable == 0);
  CHECK(keys.size() > 20);
  std::set<std::string> leaking;
  std::vector<Leak> leaks;
  for (const auto& [key, text] : keys) {
    auto found = find_secrets("redis " + key, text, needles);
    if (!found.empty()) leaking.insert(key);
    if (key.rfind("canary:", 0) != 0) leaks.insert(leaks.end(), found.begin(), found.end());
  }
  CHECK(leaking.count("canary:string") + leaking.count("canary:hash") +
            leaking.count("canary:list") + leaking.count("canary:set") +
            leaking.count("canary:zset") + leaking.count("canary:stream") ==
        6);
  CHECK_MESSAGE(leaks.empty(), describe(leaks));
}
