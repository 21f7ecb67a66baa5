// The trigger route tests' harness and helpers: an ingest::Server on loopback
// ports over a real redis-server with two tenants (acme takes triggers,
// plain does not), its clock at the fixtures' now and its log kept; the
// request a trigger post is, and the checks of a refusal. Shared by
// trigger_route_test.cpp and trigger_delivery_test.cpp.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "ingest/ingest.hpp"
#include "tests/ingest/queued.hpp"
#include "tests/ingest/raw_http.hpp"
#include "tests/ingest/trigger_fixtures.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

namespace isync::testing::trigger_route {

using Headers = std::vector<std::pair<std::string, std::string>>;

inline const std::string kRoute = "/v1/intacct/acme/triggers";
inline const std::string kUnauthorized =
    "the trigger could not be authenticated: send a token signed (HS256) with the OAuth client "
    "secret of the trigger's client ID, in X-IA-Sage-Signature or Authorization: Bearer";
inline const std::string kExpired =
    "the trigger's token has expired or is not valid yet (exp/iat); check the clock of the sender";

inline std::string error_json(const std::string& code, const std::string& message) {
  return R"({"error":{"code":")" + code + R"(","message":")" + message + R"("}})";
}

inline std::string post(const std::string& target, const Headers& headers, const std::string& body,
                        const std::string& content_type = "application/json") {
  std::string out = "POST " + target + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  if (!content_type.empty()) out += "Content-Type: " + content_type + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return out + "\r\n" + body;
}

// The token bare in X-IA-Sage-Signature.
inline Headers bare(const std::string& token) { return {{"X-IA-Sage-Signature", token}}; }

inline std::string event_id_of(const std::string& body) {
  auto at = body.find(R"("event_id":")");
  REQUIRE(at != std::string::npos);
  return body.substr(at + 12, 26);
}

// A server on loopback ports with its own io_context thread, one producer, a
// clock standing at the fixtures' now, and the log kept.
struct Harness {
  explicit Harness(RedisServer& redis, isync::Level level = isync::Level::info) : redis_(redis) {
    const auto& f = trigger_fixtures();
    clock.set(f.now_ms);
    log = std::make_unique<isync::Log>(level, [this](std::string_view line) {
      std::lock_guard lock(mu);
      lines.emplace_back(line);
    });
    conn = isync::redis::Connection::create(loop.executor(), redis.endpoint(), {});
    conn->start();
    producer = std::make_shared<isync::queue::Producer>(conn, metrics);
    isync::ingest::Options options;
    options.public_port = 0;
    options.admin_port = 0;
    options.body_limit = 4096;
    isync::ingest::Tenant acme{"acme", "acme-token", "", {}, {}};
    acme.trigger_secrets = {f.value("secret_one"), f.value("secret_two")};
    acme.trigger_client_id = f.value("client_id");
    acme.company_id = "acme-co";  // compared ignoring case
    isync::ingest::Tenant plain{"plain", "plain-token", "", {}, {}};
    plain.company_id = "ACME-CO";
    options.tenants = {acme, plain};
    server = std::make_unique<isync::ingest::Server>(
        loop.executor(), options, std::vector{producer}, nullptr, metrics, clock, *log);
    REQUIRE(server->start().has_value());
    REQUIRE(eventually([this] { return conn->connected(); }));
  }

  ~Harness() {
    std::promise<void> done;
    server->stop([&] { done.set_value(); });
    done.get_future().wait_for(std::chrono::seconds(30));
    close_and_wait(*conn);
    loop.stop();
  }

  std::uint16_t port() const { return server->public_port(); }

  std::vector<isync::queue::Envelope> queued() {
    return isync::testing::queued_envelopes(redis_, "acme");
  }

  std::vector<std::string> log_lines() {
    std::lock_guard lock(mu);
    return lines;
  }
  // The last log line holding `text`, or "".
  std::string last_line_with(const std::string& text) {
    auto all = log_lines();
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
      if (it->find(text) != std::string::npos) return *it;
    }
    return {};
  }

  RedisServer& redis_;
  isync::testing::Loop loop{1};
  isync::Metrics metrics;
  isync::ManualClock clock{0};
  std::mutex mu;
  std::vector<std::string> lines;
  std::unique_ptr<isync::Log> log;
  std::shared_ptr<isync::redis::Connection> conn;
  std::shared_ptr<isync::queue::Producer> producer;
  std::unique_ptr<isync::ingest::Server> server;
};

// Sends `bytes`; checks status and body, that Redis did not change, and that
// the refusal was logged with `reason`.
inline void expect_refused(RedisServer& redis, Harness& h, const std::string& bytes,
                           unsigned status, const std::string& code, const std::string& message,
                           const std::string& reason, const std::string& token_from) {
  auto before = redis.keys();
  auto r = exchange(h.port(), bytes);
  CHECK(r.status == status);
  CHECK(r.body == error_json(code, message));
  CHECK(redis.keys() == before);
  auto line = h.last_line_with("\"trigger refused\"");
  CHECK(line.find("\"reason\":\"" + reason + "\"") != std::string::npos);
  CHECK(line.find("\"token_from\":\"" + token_from + "\"") != std::string::npos);
}

inline std::uint64_t counter(Harness& h, const std::string& tenant, const std::string& reason) {
  return h.metrics
      .counter("isync_trigger_rejections_total", "", {{"tenant", tenant}, {"reason", reason}})
      .value();
}

}  // namespace isync::testing::trigger_route
