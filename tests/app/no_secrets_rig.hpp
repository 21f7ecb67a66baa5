// The no-secret test's rig: the sandbox and one intacct-sync configured
// with every kind of secret (env:, file:, enc: under the master key, a
// literal), the commands run at debug level with their output kept, and the
// steps the flow repeats (dead letter ids, a reconcile run to its end).
#pragma once

#include <openssl/evp.h>
#include <rapidjson/document.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "tests/app/no_secrets_fixture.hpp"
#include "tests/support/quiet_reconcile.hpp"

namespace isync::testing::nosecret {

using namespace std::chrono_literals;

inline rapidjson::Document json(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  return d;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string base64(const std::string& raw) {
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

  // Alerts go to `port` on a URL whose path is a secret (given as enc:).
  void alert_to(std::uint16_t port) {
    alert_url = "http://127.0.0.1:" + std::to_string(port) + kAlertPath;
    enc_alert_url = encrypt(alert_url);
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
            {"enc: old Stripe secret", enc_stripe_old},
            {"alert URL", alert_url},
            {"enc: alert URL", enc_alert_url}};
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
        << "[alerts]\nwebhook_url = \"" << enc_alert_url
        << "\"\ndead_threshold = 3\ncheck_interval = \"1s\"\n"
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
    if (args[0] != "status" && args[0] != "check-config") {
      args.insert(args.end(), {"--log-level", "debug"});
    }
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
  std::string alert_url, enc_alert_url;
  std::uint16_t public_port = 0, admin_port = 0, gateway_port = 0, control_port = 0;
  std::unique_ptr<Child> sandbox, service;

 private:
  RedisServer& redis_;
  int cli_runs_ = 0;
};

inline std::vector<std::string> event_ids(const std::string& list_body) {
  std::vector<std::string> out;
  auto d = json(list_body);
  if (!d.IsObject() || !d.HasMember("events")) return out;
  for (const auto& e : d["events"].GetArray()) out.emplace_back(e["id"].GetString());
  return out;
}

inline std::string dead_id(Rig& rig, int recordno) {
  auto ids =
      event_ids(rig.admin(http::verb::get, "/v1/admin/events?tenant=acme&object=CUSTOMER&key=" +
                                               std::to_string(recordno))
                    .body);
  REQUIRE(ids.size() == 1);
  return ids.front();
}

// Starts a reconcile run (waiting out the index back-fill) and waits for its end.
inline std::string reconcile(Rig& rig, const std::string& tenant) {
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

}  // namespace isync::testing::nosecret
