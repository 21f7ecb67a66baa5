// No secret anywhere. One intacct-sync process (the real binary, `serve
// --log-level debug`) against a real Redis and the intacct-sandbox, with
// every kind of secret configured, each a distinctive marker: tenant tokens
// and a read token, the Intacct sender and user passwords (one tenant's
// refused by Intacct), two Stripe signing secrets, the admin token, and the
// enc: master key, with secrets given as env:, file:, enc: and a literal.
// The flow: smart events, sandbox faults (retries, dead letters), replays by
// the admin API, the CLI, the console and a job, Stripe deliveries (posted,
// dead-lettered, a bad signature), an open circuit, reconcile runs (one
// failing), the console's login. Then no secret — nor its first characters,
// nor the master key in either form — may appear in the service's and the
// commands' logs, /metrics, the console's files and every admin JSON it
// reads, `events show` (CLI and API), or any Redis key or value.
//
// The search is shown to work: it finds the secrets the config file holds,
// and secrets planted in Redis in every data type.
#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "tests/app/no_secrets_fixture.hpp"
#include "tests/support/quiet_reconcile.hpp"

using namespace isync::testing::nosecret;
using isync::testing::Child;
using isync::testing::eventually;
using isync::testing::free_port;
using isync::testing::RedisServer;
using namespace std::chrono_literals;
namespace http = boost::beast::http;

namespace {

rapidjson::Document json(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  return d;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string base64(const std::string& raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(raw.data()),
                                static_cast<int>(raw.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

class Rig {
 public:
  explicit Rig(RedisServer& redis) : redis_(redis) {
    isync::testing::recent_reconcile(redis, "acme");
    isync::testing::recent_reconcile(redis, "beta");
    char tmpl[] = "/tmp/isync-nosecret-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    public_port = free_port();
    admin_port = free_port();
    master_b64 = base64(kMasterKeyRaw);
    enc_acme_token = encrypt(kAcmeToken);
    enc_sender = encrypt(kSenderPassword);
    enc_stripe_old = encrypt(kStripeOld);
  }
  ~Rig() {
    service.reset();
    sandbox.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  std::string encrypt(const std::string& plain) const {
    auto r = isync::config::encrypt_secret(plain, master_b64);
    REQUIRE(r.has_value());
    return *r;
  }

  // Every secret, and what stands for one: the master key in both forms and
  // the enc: values (ciphertexts belong in the config file only).
  std::vector<Needle> needles() const {
    return {{"a secret's prefix", kPrefix},
            {"admin token", kAdminToken},
            {"acme token", kAcmeToken},
            {"acme read token", kAcmeReadToken},
            {"beta token", kBetaToken},
            {"sender password", kSenderPassword},
            {"acme user password", kUserPassword},
            {"beta user password", kBetaPassword},
            {"new Stripe secret", kStripeNew},
            {"old Stripe secret", kStripeOld},
            {"alert URL path", kAlertPath},
            {"master key", kMasterKeyRaw},
            {"master key (base64)", master_b64},
            {"enc: acme token", enc_acme_token},
            {"enc: sender password", enc_sender},
            {"enc: old Stripe secret", enc_stripe_old}};
  }

  void start_sandbox() {
    const std::string port_file = dir + "/sandbox.ports";
    const std::string url_file = dir + "/events-url";
    std::ofstream(url_file) << "http://127.0.0.1:" << public_port
                            << "/v1/intacct/acme/events?token=" << kAcmeToken << "\n";
    sandbox = std::make_unique<Child>(
        ISYNC_SANDBOX_BINARY,
        std::vector<std::string>{
            "serve",       "--gateway-listen",  "127.0.0.1:0", "--control-listen",
            "127.0.0.1:0", "--sender-id",       "sender-ns",   "--company-id",
            "DEMO-CO",     "--user-id",         "ws_user",     "--demo-customers",
            "20",          "--demo-invoices",   "40",          "--seed",
            "7",           "--events-url-file", url_file,      "--port-file",
            port_file},
        std::vector<std::string>{std::string("INTACCT_SANDBOX_SENDER_PASSWORD=") + kSenderPassword,
                                 std::string("INTACCT_SANDBOX_USER_PASSWORD=") + kUserPassword},
        dir + "/sandbox.log");
    if (!isync::testing::read_sandbox_ports(port_file, gateway_port, control_port)) {
      FAIL("sandbox did not come up; log:\n" << sandbox->log());
    }
  }

  std::vector<std::string> env() const {
    return {"INTACCT_SYNC_MASTER_KEY=" + master_b64, std::string("NS_ADMIN_TOKEN=") + kAdminToken,
            std::string("NS_USER_PASSWORD=") + kUserPassword,
            std::string("NS_STRIPE_NEW=") + kStripeNew};
  }

  void start_service() {
    std::ofstream(dir + "/read-token") << kAcmeReadToken << "\n";
    std::ofstream(dir + "/beta-password") << kBetaPassword << "\n";
    config = dir + "/service.toml";
    std::ofstream(config)
        << "[server]\npublic_listen = \"127.0.0.1:" << public_port
        << "\"\nadmin_listen = \"127.0.0.1:" << admin_port
        << "\"\nthreads = 2\ndrain_timeout = \"10s\"\n"
        << "[redis]\nurl = \"" << redis_.url() << "\"\n"
        << "[queue]\nworkers = 4\nretry_base = \"100ms\"\nretry_cap = \"1s\"\n"
        << "[intacct]\nendpoint = \"http://127.0.0.1:" << gateway_port
        << "/ia/xml/xmlgw.phtml\"\nsender_id = \"sender-ns\"\nsender_password = \"" << enc_sender
        << "\"\n[admin]\ntoken = \"env:NS_ADMIN_TOKEN\"\n"
        << "[[tenant]]\nid = \"acme\"\ntoken = \"" << enc_acme_token << "\"\n"
        << "read_token = \"file:" << dir << "/read-token\"\n"
        << "company_id = \"DEMO-CO\"\nuser_id = \"ws_user\"\n"
        << "user_password = \"env:NS_USER_PASSWORD\"\n"
        << "stripe_secrets = [\"env:NS_STRIPE_NEW\", \"" << enc_stripe_old << "\"]\n"
        << "undeposited_account = \"1100\"\n"
        << isync::testing::far_reconcile_at() << "[[tenant]]\nid = \"beta\"\ntoken = \""
        << kBetaToken << "\"\ncompany_id = \"DEMO-CO\"\nuser_id = \"ws_user\"\n"
        << "user_password = \"file:" << dir << "/beta-password\"\n"
        << isync::testing::far_reconcile_at();
    service = std::make_unique<Child>(
        ISYNC_BINARY, std::vector<std::string>{"serve", "--config", config, "--log-level", "debug"},
        env(), dir + "/service.log");
    const bool up = eventually(
        [&] { return request(public_port, http::verb::get, "/readyz").status == 200; }, 10s);
    if (!up) FAIL("service did not come up; log:\n" << service->log());
  }

  // An intacct-sync command at debug level, to its end; its stdout and
  // stderr are kept for the search.
  int cli(std::vector<std::string> args) {
    args.insert(args.end(), {"--config", config});
    if (args[0] != "status") args.insert(args.end(), {"--log-level", "debug"});
    const std::string n = std::to_string(++cli_runs_);
    Child c(ISYNC_BINARY, args, env(), dir + "/cli" + n + ".err", dir + "/cli" + n + ".out");
    auto code = c.wait_exit(120s);
    REQUIRE(code.has_value());
    cli_output += read_file(dir + "/cli" + n + ".out") + read_file(dir + "/cli" + n + ".err");
    return *code;
  }

  Reply admin(http::verb method, const std::string& target, const std::string& body = {}) {
    return request(admin_port, method, target, body,
                   {{"Authorization", std::string("Bearer ") + kAdminToken},
                    {"Content-Type", "application/json"}});
  }
  Reply control(http::verb method, const std::string& target, const std::string& body = {}) {
    return request(control_port, method, target, body, {{"Content-Type", "application/json"}});
  }
  void set_name(int recordno, const std::string& name) {
    auto r = control(http::verb::patch, "/v1/records/CUSTOMER/" + std::to_string(recordno),
                     R"({"fields":{"NAME":")" + name + R"("}})");
    REQUIRE_MESSAGE(r.status == 200, r.body);
  }
  void faults(const std::string& body) {
    auto r = control(http::verb::put, "/v1/faults", body);
    REQUIRE_MESSAGE(r.status == 200, r.body);
  }
  bool mirror_has(int recordno, const std::string& needle) {
    return eventually(
        [&] {
          auto r = admin(http::verb::get, "/v1/tenants/acme/customers/" + std::to_string(recordno));
          return r.status == 200 && r.body.find(needle) != std::string::npos;
        },
        30s);
  }
  long long zcard(const std::string& key) { return redis_.cmd({"ZCARD", key}).integer; }

  std::string dir, config, master_b64, enc_acme_token, enc_sender, enc_stripe_old, cli_output;
  std::uint16_t public_port = 0, admin_port = 0, gateway_port = 0, control_port = 0;
  std::unique_ptr<Child> sandbox, service;

 private:
  RedisServer& redis_;
  int cli_runs_ = 0;
};

std::vector<std::string> event_ids(const std::string& list_body) {
  std::vector<std::string> out;
  auto d = json(list_body);
  if (!d.IsObject() || !d.HasMember("events")) return out;
  for (const auto& e : d["events"].GetArray()) out.emplace_back(e["id"].GetString());
  return out;
}

std::string dead_id(Rig& rig, int recordno) {
  auto ids =
      event_ids(rig.admin(http::verb::get, "/v1/admin/events?tenant=acme&object=CUSTOMER&key=" +
                                               std::to_string(recordno))
                    .body);
  REQUIRE(ids.size() == 1);
  return ids.front();
}

// Starts a reconcile run (waiting out the index back-fill) and waits for its end.
std::string reconcile(Rig& rig, const std::string& tenant) {
  std::string run_id;
  REQUIRE(eventually(
      [&] {
        auto r =
            rig.admin(http::verb::post, "/v1/admin/reconcile", R"({"tenant":")" + tenant + "\"}");
        if (r.status != 202) return false;
        run_id = json(r.body)["run_id"].GetString();
        return true;
      },
      30s));
  REQUIRE(eventually(
      [&] {
        auto r =
            rig.admin(http::verb::get, "/v1/admin/reconcile/runs/" + run_id + "?tenant=" + tenant);
        return r.status == 200 && std::string(json(r.body)["state"].GetString()) != "running";
      },
      120s));
  return run_id;
}

}  // namespace

TEST_CASE("no secret appears in logs, metrics, the console, events show, or Redis") {
  RedisServer redis;
  Rig rig(redis);
  rig.start_sandbox();
  rig.start_service();
  const auto needles = rig.needles();

  // The search finds what the config file holds: the literal token and the enc: values.
  {
    auto in_config = find_secrets("config", read_file(rig.config), needles);
    std::set<std::string> found;
    for (const auto& l : in_config) found.insert(l.secret);
    CHECK(found == std::set<std::string>{"a secret's prefix", "beta token", "enc: acme token",
                                         "enc: sender password", "enc: old Stripe secret"});
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
  CHECK(rig.cli_output.find("BL01001973") != std::string::npos);

  const std::string metrics = rig.admin(http::verb::get, "/metrics").body;
  CHECK(metrics.find("isync_intacct_calls_total") != std::string::npos);

  // The service's log, complete once it has stopped.
  rig.service->signal(SIGTERM);
  CHECK(rig.service->wait_exit(30s) == std::optional<int>(0));
  const std::string log = rig.service->log();
  CHECK(log.find(R"("level":"debug")") != std::string::npos);
  CHECK(log.find(R"("msg":"intacct request")") != std::string::npos);
  CHECK(log.find(R"("outcome":"dead")") != std::string::npos);
  CHECK(log.find(R"("msg":"intacct circuit open")") != std::string::npos);

  CHECK_MESSAGE(find_secrets("log", log, needles).empty(),
                describe(find_secrets("log", log, needles)));
  CHECK_MESSAGE(find_secrets("metrics", metrics, needles).empty(),
                describe(find_secrets("metrics", metrics, needles)));
  CHECK_MESSAGE(find_secrets("console", console, needles).empty(),
                describe(find_secrets("console", console, needles)));
  CHECK_MESSAGE(find_secrets("cli", rig.cli_output, needles).empty(),
                describe(find_secrets("cli", rig.cli_output, needles)));

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
