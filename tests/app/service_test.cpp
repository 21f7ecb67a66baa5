#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/alerts/receiver.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

extern char** environ;

namespace asio = boost::asio;
namespace http = boost::beast::http;
using isync::testing::eventually;
using isync::testing::free_port;
using isync::testing::RedisServer;
using namespace std::chrono_literals;

namespace {

using isync::testing::Child;
using isync::testing::Response;
using Client = isync::testing::HttpClient;

constexpr const char* kAdminToken = "admin-token-for-tests";
constexpr const char* kTenantToken = "acme-token-for-tests";

// The intacct-sync binary with the test tokens in its environment.
class Service : public Child {
 public:
  Service(const std::string& config_path, const std::string& log_path)
      : Child(ISYNC_BINARY, {"serve", "--config", config_path},
              {std::string("TEST_ADMIN_TOKEN=") + kAdminToken,
               std::string("TEST_ACME_TOKEN=") + kTenantToken},
              log_path) {}
};

std::string extract_event_id(const std::string& body) {
  const std::string key = "\"event_id\":\"";
  auto at = body.find(key);
  if (at == std::string::npos) return {};
  auto end = body.find('"', at + key.size());
  return body.substr(at + key.size(), end - at - key.size());
}

std::string customer_event(int recordno) {
  return "object=CUSTOMER\naction=set\nrecordno=" + std::to_string(recordno) +
         "\nwhenmodified=06/01/2024 10:00:00\nCUSTOMERID=C-" + std::to_string(recordno) +
         "\nNAME=Customer " + std::to_string(recordno);
}

// A temporary directory with a config for `redis`, on fresh ports.
class Fixture {
 public:
  explicit Fixture(RedisServer& redis, const std::string& extra = {})
      : public_port(free_port()), admin_port(free_port()) {
    char tmpl[] = "/tmp/isync-app-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    config = dir + "/config.toml";
    std::ofstream(config) << "[server]\npublic_listen = \"127.0.0.1:" << public_port
                          << "\"\nadmin_listen = \"127.0.0.1:" << admin_port
                          << "\"\nthreads = 2\ndrain_timeout = \"10s\"\n"
                          << extra << "\n[redis]\nurl = \"" << redis.url()
                          << "\"\n[queue]\nworkers = 4\n"
                             "[admin]\ntoken = \"env:TEST_ADMIN_TOKEN\"\n"
                             "[[tenant]]\nid = \"acme\"\ntoken = \"env:TEST_ACME_TOKEN\"\n";
  }
  ~Fixture() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  std::unique_ptr<Service> start(const std::string& log_name = "service.log") {
    auto s = std::make_unique<Service>(config, dir + "/" + log_name);
    // Ready, not just up: every accept connection to Redis can write.
    bool up = eventually(
        [&] { return Client(public_port).request(http::verb::get, "/readyz").status == 200; }, 10s);
    if (!up) FAIL("service did not come up; log:\n" << s->log());
    return s;
  }

  std::uint16_t public_port;
  std::uint16_t admin_port;
  std::string dir;
  std::string config;
};

}  // namespace

TEST_CASE("a smart event posted over HTTP appears in the mirror") {
  RedisServer redis;
  Fixture fx(redis);
  auto service = fx.start();

  Client pub(fx.public_port);
  auto res = pub.request(http::verb::post, "/v1/intacct/acme/events",
                         "object=ARINVOICE\naction=set\nrecordno=42\n"
                         "whenmodified=06/01/2024 10:00:00\nRECORDID=INV-0042\nSTATE=Posted",
                         "application/x-www-form-urlencoded", kTenantToken);
  REQUIRE(res.status == 202);
  auto event_id = extract_event_id(res.body);
  REQUIRE(event_id.size() == 26);
  CHECK(res.body.find("\"duplicate\":false") != std::string::npos);

  Client admin(fx.admin_port);
  Response record;
  bool found = eventually([&] {
    record = admin.request(http::verb::get, "/v1/tenants/acme/invoices/42", {}, {}, kAdminToken);
    return record.status == 200;
  });
  INFO(service->log());
  REQUIRE(found);
  CHECK(record.body.find("\"RECORDID\":\"INV-0042\"") != std::string::npos);
  CHECK(record.body.find(event_id) != std::string::npos);
  // Indexed by RECORDNO for reconcile; the one-time index back-fill ran at
  // start-up (nothing to add) and marked the tenant ready.
  CHECK(redis.cmd({"HGET", "isync:{acme}:idxv:ARINVOICE", "42"}).str == "1717236000:");
  CHECK(eventually([&] {
    return redis.cmd({"HGET", "isync:{acme}:idx-state", "ready"}).str == "1";
  }));
  // Not "isync-handler": the back-fill waits while a connection of that
  // (older versions') name exists.
  const std::string clients = redis.cmd({"CLIENT", "LIST"}).str;
  CHECK(clients.find("name=isync-handler-2 ") != std::string::npos);
  CHECK(clients.find("name=isync-handler ") == std::string::npos);

  service->signal(SIGTERM);
  CHECK(service->wait_exit(30s) == 0);
}

TEST_CASE("the service refuses to start when Redis has AOF off, naming appendonly") {
  RedisServer redis({"--appendonly", "no"});
  Fixture fx(redis);
  Service service(fx.config, fx.dir + "/service.log");
  auto code = service.wait_exit(10s);
  REQUIRE(code.has_value());
  CHECK(*code == 2);
  auto log = service.log();
  CHECK(log.find("appendonly") != std::string::npos);
  CHECK(log.find(kAdminToken) == std::string::npos);
  CHECK(log.find(kTenantToken) == std::string::npos);
}

TEST_CASE("the service refuses to start when Redis may evict keys") {
  RedisServer redis({"--maxmemory-policy", "allkeys-lru"});
  Fixture fx(redis);
  Service service(fx.config, fx.dir + "/service.log");
  auto code = service.wait_exit(10s);
  REQUIRE(code.has_value());
  CHECK(*code == 2);
  CHECK(service.log().find("maxmemory-policy") != std::string::npos);
}

TEST_CASE("SIGTERM under load loses no accepted event") {
  RedisServer redis;
  Fixture fx(redis);
  auto service = fx.start();

  constexpr int kClients = 4;
  std::atomic<bool> stop{false};
  std::atomic<int> accepted_count{0};
  std::mutex mu;
  std::map<int, std::string> accepted;  // recordno -> event_id
  std::vector<std::string> unexpected;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      Client client(fx.public_port);
      for (int i = 1; !stop.load(); ++i) {
        int recordno = (c + 1) * 1'000'000 + i;
        auto res =
            client.request(http::verb::post, "/v1/intacct/acme/events", customer_event(recordno),
                           "application/x-www-form-urlencoded", kTenantToken);
        std::lock_guard lock(mu);
        if (res.status == 202) {
          accepted[recordno] = extract_event_id(res.body);
          accepted_count.fetch_add(1);
        } else if (res.status == 0 || res.status == 503) {
          if (res.status == 0) std::this_thread::sleep_for(10ms);  // refused: do not spin
        } else {
          unexpected.push_back(std::to_string(res.status) + " " + res.body);
        }
      }
    });
  }

  REQUIRE(eventually([&] { return accepted_count.load() >= 300; }, 30s));
  service->signal(SIGTERM);
  auto code = service->wait_exit(40s);
  // Keep posting a little after the exit: those must all fail to connect.
  std::this_thread::sleep_for(200ms);
  stop = true;
  for (auto& t : clients) t.join();
  INFO(service->log());
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(unexpected.empty());

  // Start again to drain whatever was queued, then find every accepted event.
  auto again = fx.start("service2.log");
  Client admin(fx.admin_port);
  std::map<int, std::string> missing = accepted;
  bool all = eventually(
      [&] {
        for (auto it = missing.begin(); it != missing.end();) {
          auto r = admin.request(http::verb::get,
                                 "/v1/tenants/acme/customers/" + std::to_string(it->first), {}, {},
                                 kAdminToken);
          if (r.status == 200 && r.body.find(it->second) != std::string::npos) {
            it = missing.erase(it);
          } else {
            ++it;
          }
        }
        return missing.empty();
      },
      60s);
  INFO("accepted " << accepted.size() << ", missing " << missing.size());
  CHECK(all);
  again->signal(SIGTERM);
  CHECK(again->wait_exit(30s) == 0);
}

namespace {

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
