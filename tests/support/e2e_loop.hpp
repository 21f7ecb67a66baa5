// Test support for the end-to-end tests: the intacct-sandbox binary and one
// or more intacct-sync processes wired to each other (smart events one way,
// gateway calls the other) in a temporary directory, on fresh ports.
#pragma once

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.hpp"
#include "tests/support/quiet_reconcile.hpp"
#include "tests/support/redis_server.hpp"

namespace isync::testing::e2e {

using namespace std::chrono_literals;
namespace http = boost::beast::http;
using isync::testing::Child;
using isync::testing::eventually;
using isync::testing::free_port;
using isync::testing::HttpClient;
using isync::testing::read_sandbox_ports;
using isync::testing::RedisServer;
using isync::testing::Response;

inline constexpr const char* kAdminToken = "admin-token-for-e2e";
inline constexpr const char* kTenantToken = "acme-token-for-e2e";
inline constexpr const char* kSenderPassword = "sender-secret-e2e";
inline constexpr const char* kUserPassword = "user-secret-e2e";
// The OAuth client secret the sandbox signs trigger webhooks with (its
// INTACCT_SANDBOX_TRIGGER_SECRET; a service reads it as TEST_TRIGGER_SECRET).
inline constexpr const char* kTriggerSecret = "oauth-client-secret-e2e";

inline rapidjson::Document json(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  return d;
}

inline std::int64_t stat_of(const rapidjson::Document& stats, const char* function) {
  if (!stats.IsObject() || !stats.HasMember("calls_by_function")) return 0;
  const auto& calls = stats["calls_by_function"];
  if (!calls.IsObject() || !calls.HasMember(function)) return 0;
  return calls[function].GetInt64();
}

// A temporary directory holding the sandbox and one or more services wired
// to each other, on fresh ports.
class Loop {
 public:
  explicit Loop(RedisServer& redis) : redis_(redis) {
    // serve's reconcile scheduler stays out of these tests (see quiet_reconcile.hpp).
    recent_reconcile(redis, "acme");
    char tmpl[] = "/tmp/isync-e2e-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    public_port = free_port();
  }
  ~Loop() {
    services.clear();
    sandbox.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  // `extra`: more `serve` arguments (e.g. --push triggers; the triggers URL
  // of tenant acme is always given).
  void start_sandbox(int customers = 20, int invoices = 40,
                     const std::vector<std::string>& extra = {}) {
    const std::string port_file = dir + "/sandbox.ports";
    const std::string url_file = dir + "/events-url";
    const std::string triggers_file = dir + "/triggers-url";
    std::ofstream(url_file) << "http://127.0.0.1:" << public_port
                            << "/v1/intacct/acme/events?token=" << kTenantToken << "\n";
    std::ofstream(triggers_file) << "http://127.0.0.1:" << public_port
                                 << "/v1/intacct/acme/triggers\n";
    std::vector<std::string> args{"serve",
                                  "--gateway-listen",
                                  "127.0.0.1:0",
                                  "--control-listen",
                                  "127.0.0.1:0",
                                  "--sender-id",
                                  "sender-e2e",
                                  "--company-id",
                                  "DEMO-CO",
                                  "--user-id",
                                  "ws_user",
                                  "--demo-customers",
                                  std::to_string(customers),
                                  "--demo-invoices",
                                  std::to_string(invoices),
                                  "--seed",
                                  "7",
                                  "--events-url-file",
                                  url_file,
                                  "--port-file",
                                  port_file,
                                  "--triggers-url-file",
                                  triggers_file};
    args.insert(args.end(), extra.begin(), extra.end());
    sandbox = std::make_unique<Child>(
        ISYNC_SANDBOX_BINARY, args,
        std::vector<std::string>{std::string("INTACCT_SANDBOX_SENDER_PASSWORD=") + kSenderPassword,
                                 std::string("INTACCT_SANDBOX_USER_PASSWORD=") + kUserPassword,
                                 std::string("INTACCT_SANDBOX_TRIGGER_SECRET=") + kTriggerSecret},
        dir + "/sandbox.log");
    bool up = read_sandbox_ports(port_file, gateway_port, control_port);
    if (!up) FAIL("sandbox did not come up; log:\n" << sandbox->log());
  }

  // Starts a service process; `extra` is appended to its config.
  Child& start_service(const std::string& user_password = kUserPassword, int concurrency = 2,
                       const std::string& extra_tenant = {}) {
    const int n = static_cast<int>(services.size());
    const std::uint16_t pub = n == 0 ? public_port : free_port();
    const std::uint16_t adm = free_port();
    if (n == 0) admin_port = adm;
    const std::string config = dir + "/service" + std::to_string(n) + ".toml";
    std::ofstream(config) << "[server]\npublic_listen = \"127.0.0.1:" << pub
                          << "\"\nadmin_listen = \"127.0.0.1:" << adm
                          << "\"\nthreads = 2\ndrain_timeout = \"10s\"\n"
                          << "[redis]\nurl = \"" << redis_.url() << "\"\n"
                          << "[queue]\nworkers = 4\nretry_base = \"100ms\"\nretry_cap = \"1s\"\n"
                          << "[intacct]\nendpoint = \"http://127.0.0.1:" << gateway_port
                          << "/ia/xml/xmlgw.phtml\"\nsender_id = \"sender-e2e\"\n"
                          << "sender_password = \"env:TEST_SENDER_PASSWORD\"\n"
                          << "[admin]\ntoken = \"env:TEST_ADMIN_TOKEN\"\n"
                          << "[[tenant]]\nid = \"acme\"\ntoken = \"env:TEST_ACME_TOKEN\"\n"
                          << "company_id = \"DEMO-CO\"\nuser_id = \"ws_user\"\n"
                          << "user_password = \"env:TEST_USER_PASSWORD\"\n"
                          << "concurrency = " << concurrency << "\n"
                          << far_reconcile_at() << extra_tenant;
    services.push_back(std::make_unique<Child>(
        ISYNC_BINARY, std::vector<std::string>{"serve", "--config", config},
        service_environment(user_password), dir + "/service" + std::to_string(n) + ".log"));
    // Ready = Redis reachable: a smart event posted before that would be
    // answered 503, and the sandbox, like Intacct, never posts it again.
    bool up = eventually(
        [&] { return HttpClient(pub).request(http::verb::get, "/readyz").status == 200; }, 10s);
    if (!up) FAIL("service did not come up; log:\n" << services.back()->log());
    return *services.back();
  }

  std::vector<std::string> service_environment(const std::string& user_password) const {
    std::vector<std::string> env{std::string("TEST_ADMIN_TOKEN=") + kAdminToken,
                                 std::string("TEST_ACME_TOKEN=") + kTenantToken,
                                 std::string("TEST_SENDER_PASSWORD=") + kSenderPassword,
                                 "TEST_USER_PASSWORD=" + user_password,
                                 std::string("TEST_TRIGGER_SECRET=") + kTriggerSecret};
    env.insert(env.end(), service_env.begin(), service_env.end());
    return env;
  }

  Response control(http::verb method, const std::string& target, const std::string& body = {}) {
    return HttpClient(control_port).request(method, target, body, "application/json");
  }
  void set_fields(const std::string& object, int recordno, const std::string& fields_json) {
    auto r = control(http::verb::patch, "/v1/records/" + object + "/" + std::to_string(recordno),
                     "{\"fields\":" + fields_json + "}");
    REQUIRE_MESSAGE(r.status == 200, r.body);
  }
  rapidjson::Document stats() { return json(control(http::verb::get, "/v1/stats").body); }
  void faults(const std::string& body) {
    auto r = control(http::verb::put, "/v1/faults", body);
    REQUIRE_MESSAGE(r.status == 200, r.body);
  }

  Response mirror(const std::string& collection, int recordno) {
    return HttpClient(admin_port)
        .request(http::verb::get, "/v1/tenants/acme/" + collection + "/" + std::to_string(recordno),
                 {}, {}, kAdminToken);
  }
  // Waits until the mirror's record contains `needle`.
  bool mirror_has(const std::string& collection, int recordno, const std::string& needle,
                  std::chrono::milliseconds deadline = 30s) {
    return eventually(
        [&] {
          auto r = mirror(collection, recordno);
          return r.status == 200 && r.body.find(needle) != std::string::npos;
        },
        deadline);
  }
  std::string logs() {
    std::string out = "--- sandbox\n" + (sandbox ? sandbox->log() : std::string());
    for (auto& s : services) out += "--- service\n" + s->log();
    return out;
  }

  std::string dir;
  // More NAME=value pairs for the services started after it is set (e.g.
  // INTACCT_SYNC_QUEUE_WORKERS=0).
  std::vector<std::string> service_env;
  std::uint16_t public_port = 0, admin_port = 0, gateway_port = 0, control_port = 0;
  std::unique_ptr<Child> sandbox;
  std::vector<std::unique_ptr<Child>> services;

 private:
  RedisServer& redis_;
};

}  // namespace isync::testing::e2e
