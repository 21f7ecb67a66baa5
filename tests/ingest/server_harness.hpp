// The HTTP front's tests' harness and helpers: an ingest::Server on loopback
// ports over a real redis-server (and a second producer when asked), the
// request an event post is, and the check of a rejection. Shared by
// server_accept_test.cpp, server_connections_test.cpp and server_admin_test.cpp.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handlers/handlers.hpp"
#include "ingest/ingest.hpp"
#include "tests/ingest/raw_http.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

namespace isync::testing::ingest_server {

using isync::testing::close_and_wait;
using isync::testing::eventually;
using isync::testing::exchange;
using isync::testing::RedisServer;
using isync::testing::Reply;

inline constexpr const char* kToken = "acme-secret-token";
inline constexpr const char* kReadToken = "acme-read-token";
inline constexpr const char* kAdminToken = "admin-secret-token";
inline constexpr const char* kForm = "application/x-www-form-urlencoded";

inline std::string request(const std::string& method, const std::string& target,
                           const std::string& content_type, const std::string& body,
                           const std::string& token = kToken) {
  std::string out = method + " " + target + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n";
  if (!token.empty()) out += "Authorization: Bearer " + token + "\r\n";
  if (!content_type.empty()) out += "Content-Type: " + content_type + "\r\n";
  if (!body.empty() || method == "POST") {
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return out + "\r\n" + body;
}

inline std::string event_body(int recordno, const std::string& when = "01/02/2024 10:20:30") {
  return "object=CUSTOMER&action=set&recordno=" + std::to_string(recordno) +
         "&whenmodified=" + when + "&NAME=Acme+Ltd";
}

inline std::string error_json(const std::string& code, const std::string& message) {
  return R"({"error":{"code":")" + code + R"(","message":")" + message + R"("}})";
}

// A server on loopback ports with its own io_context thread and one producer
// (a second one on `second` when given).
struct Harness {
  explicit Harness(RedisServer& redis, isync::ingest::Options options = {},
                   std::optional<isync::redis::Endpoint> second = {})
      : redis_(redis) {
    conn = isync::redis::Connection::create(loop.executor(), redis.endpoint(), {});
    conn->start();
    producer = std::make_shared<isync::queue::Producer>(conn, metrics);
    std::vector<std::shared_ptr<isync::queue::Producer>> producers{producer};
    if (second) {
      conn2 = isync::redis::Connection::create(loop.executor(), *second, {});
      conn2->start();
      producers.push_back(std::make_shared<isync::queue::Producer>(conn2, metrics));
    }
    mirror = std::make_shared<isync::handlers::MirrorReader>(conn);
    options.public_port = 0;
    options.admin_port = 0;
    options.tenants = {{"acme", kToken, kReadToken, {}, {}}, {"other", "other-token", "", {}, {}}};
    options.admin_token = kAdminToken;
    server = std::make_unique<isync::ingest::Server>(loop.executor(), options, producers, mirror,
                                                     metrics, clock, log);
    auto started = server->start();
    REQUIRE(started.has_value());
    REQUIRE(eventually([this] { return conn->connected(); }));
  }

  ~Harness() {
    if (!stopped) {
      std::promise<void> done;
      server->stop([&] { done.set_value(); });
      done.get_future().wait_for(std::chrono::seconds(30));
    }
    close_and_wait(*conn);
    if (conn2) close_and_wait(*conn2);
    loop.stop();
  }

  std::uint16_t port() const { return server->public_port(); }
  std::uint16_t admin() const { return server->admin_port(); }

  long long stream_length() {
    return redis_.cmd({"XLEN", isync::queue::key("acme", "events")}).integer;
  }

  RedisServer& redis_;
  isync::testing::Loop loop{1};
  isync::Metrics metrics;
  isync::SystemClock clock;
  isync::Log log{isync::Level::error, [](std::string_view) {}};
  std::shared_ptr<isync::redis::Connection> conn, conn2;
  std::shared_ptr<isync::queue::Producer> producer;
  std::shared_ptr<isync::handlers::MirrorReader> mirror;
  std::unique_ptr<isync::ingest::Server> server;
  bool stopped = false;
};

// Sends `bytes`, checks status, body and that Redis holds the same keys as before.
inline Reply expect_rejected(RedisServer& redis, std::uint16_t port, const std::string& bytes,
                             unsigned status, const std::string& code, const std::string& message) {
  auto before = redis.keys();
  auto r = exchange(port, bytes);
  CHECK(r.status == status);
  CHECK(r.body == error_json(code, message));
  CHECK(r.headers["content-type"] == "application/json");
  CHECK(redis.keys() == before);
  return r;
}

}  // namespace isync::testing::ingest_server
