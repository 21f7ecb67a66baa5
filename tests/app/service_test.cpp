// intacct-sync serve as a child process against a real redis-server: an
// event over HTTP into the mirror, the Redis settings it refuses to start
// with, and a SIGTERM under load. Status and alerts: service_ops_test.cpp.
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

#include "tests/app/service_fixture.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

extern char** environ;

namespace asio = boost::asio;
namespace http = boost::beast::http;
using isync::testing::eventually;
using isync::testing::free_port;
using isync::testing::RedisServer;
using namespace std::chrono_literals;

using isync::testing::service::Fixture;
using isync::testing::service::kAdminToken;
using isync::testing::service::kTenantToken;
using isync::testing::service::Service;

namespace {

using isync::testing::Child;
using isync::testing::Response;
using Client = isync::testing::HttpClient;

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
