// The events route across a Redis outage: how soon it accepts again once
// Redis is back. Real sockets, a real redis-server stopped and restarted on
// its port.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "handlers/handlers.hpp"
#include "ingest/ingest.hpp"
#include "tests/ingest/raw_http.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

namespace {

using isync::testing::close_and_wait;
using isync::testing::eventually;
using isync::testing::RedisServer;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kToken = "acme-secret-token";

std::string post_event(int recordno) {
  const std::string body = "object=CUSTOMER&action=set&recordno=" + std::to_string(recordno) +
                           "&whenmodified=01/02/2024 10:20:30&NAME=Acme+Ltd";
  return "POST /v1/intacct/acme/events HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
         "Authorization: Bearer " +
         std::string(kToken) +
         "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// The ingest server as the service wires it: one accept connection with the
// service's default redis::Options (only the client name set).
struct Ingest {
  explicit Ingest(RedisServer& redis) {
    isync::redis::Options ropts;
    ropts.client_name = "isync-ingest-0";
    conn = isync::redis::Connection::create(loop.executor(), redis.endpoint(), ropts);
    conn->start();
    auto producer = std::make_shared<isync::queue::Producer>(conn, metrics);
    isync::ingest::Options options;
    options.public_port = 0;
    options.admin_port = 0;
    options.tenants = {{"acme", kToken, "", {}, {}}};
    server = std::make_unique<isync::ingest::Server>(
        loop.executor(), options, std::vector<std::shared_ptr<isync::queue::Producer>>{producer},
        nullptr, metrics, clock, log);
    REQUIRE(server->start().has_value());
    REQUIRE(eventually([this] { return conn->connected(); }));
  }
  ~Ingest() {
    std::promise<void> done;
    server->stop([&] { done.set_value(); });
    done.get_future().wait_for(30s);
    close_and_wait(*conn);
    loop.stop();
  }

  isync::testing::Loop loop{1};
  isync::Metrics metrics;
  isync::SystemClock clock;
  isync::Log log{isync::Level::error, [](std::string_view) {}};
  std::shared_ptr<isync::redis::Connection> conn;
  std::unique_ptr<isync::ingest::Server> server;
};

}  // namespace

TEST_CASE(
    "after Redis was down for 10 s the events route answers 202 within a second of "
    "Redis's first PONG") {
  RedisServer redis;
  Ingest ingest(redis);
  const auto port = ingest.server->public_port();
  REQUIRE(isync::testing::exchange(port, post_event(1)).status == 202);

  redis.stop();
  REQUIRE(eventually([&] { return !ingest.conn->connected(); }));
  std::this_thread::sleep_for(10s);

  // A webhook sender retrying every 20 ms, and a separate client asking Redis
  // for PONG every 10 ms; each notes when it first succeeded.
  std::atomic<bool> stop{false};
  std::atomic<bool> accepted{false};
  SteadyClock::time_point first_202, first_pong;  // each written by its thread only
  std::vector<unsigned> statuses;
  std::thread sender([&] {
    for (int recordno = 2; !stop; ++recordno) {
      auto r = isync::testing::exchange(port, post_event(recordno));
      statuses.push_back(r.status);
      if (r.status == 202) {
        first_202 = SteadyClock::now();
        accepted = true;
        return;
      }
      std::this_thread::sleep_for(20ms);
    }
  });
  std::atomic<bool> ponged{false};
  std::thread poller([&] {
    while (!stop) {
      auto c = isync::redis::SyncConnection::connect(redis.endpoint(), 200ms);
      if (c) {
        auto r = c->command({"PING"});
        if (r && r->type == isync::redis::Reply::Type::status) {
          first_pong = SteadyClock::now();
          ponged = true;
          return;
        }
      }
      std::this_thread::sleep_for(10ms);
    }
  });
  redis.start();  // returns once PING answers
  eventually([&] { return accepted.load(); }, 15s);
  stop = true;
  sender.join();
  poller.join();

  REQUIRE(accepted);
  REQUIRE(ponged);
  CHECK(statuses.front() == 503);  // the sender did start during the outage
  const auto late = std::chrono::duration_cast<std::chrono::milliseconds>(first_202 - first_pong);
  MESSAGE("first 202 " << late.count() << " ms after the first PONG");
  CHECK(late <= 1s);
}
