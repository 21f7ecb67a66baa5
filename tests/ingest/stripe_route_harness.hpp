// The Stripe route tests' harness and helpers: an ingest::Server on loopback
// ports over a real redis-server, its clock standing still at kNow; the
// request a (signed) Stripe post is, a charge event, and the check of a
// refusal. Shared by stripe_route_test.cpp, stripe_rejection_test.cpp and
// stripe_envelope_test.cpp.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "handlers/handlers.hpp"
#include "ingest/ingest.hpp"
#include "tests/ingest/openssl_hmac.hpp"
#include "tests/ingest/queued.hpp"
#include "tests/ingest/raw_http.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

namespace isync::testing::stripe_route {

using isync::testing::close_and_wait;
using isync::testing::eventually;
using isync::testing::exchange;
using isync::testing::RedisServer;
using isync::testing::Reply;
using isync::testing::stripe_header;
using Pairs = std::vector<std::pair<std::string, std::string>>;

inline constexpr const char* kSecretOld = "whsec_acme_old";
inline constexpr const char* kSecretNew = "whsec_acme_new";
inline constexpr const char* kJson = "application/json";
inline constexpr long long kNow = 1'700'000'000;  // the server's clock, seconds
inline const std::string kRoute = "/v1/payments/acme/stripe";
inline const std::string kNoMatch = "Stripe-Signature: no v1 signature matches";

// A POST with an optional Stripe-Signature (empty = none) and content type.
inline std::string post(const std::string& target, const std::string& signature,
                        const std::string& body, const std::string& content_type = kJson) {
  std::string out = "POST " + target + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n";
  if (!signature.empty()) out += "Stripe-Signature: " + signature + "\r\n";
  if (!content_type.empty()) out += "Content-Type: " + content_type + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return out + "\r\n" + body;
}

// Signed with `secret` at `t` (default: the server's now).
inline std::string signed_post(const std::string& body, const std::string& secret = kSecretNew,
                               long long t = kNow, const std::string& target = kRoute,
                               const std::string& content_type = kJson) {
  return post(target, stripe_header(secret, t, body), body, content_type);
}

inline std::string error_json(const std::string& code, const std::string& message) {
  return R"({"error":{"code":")" + code + R"(","message":")" + message + R"("}})";
}

inline std::string event_id_of(const std::string& body) {
  auto at = body.find(R"("event_id":")");
  REQUIRE(at != std::string::npos);
  return body.substr(at + 12, 26);
}

inline std::string charge_event(const std::string& id, const std::string& members,
                                const std::string& type = "charge.succeeded") {
  return R"({"id":")" + id + R"(","object":"event","type":")" + type +
         R"(","created":1700000000,"livemode":false,"data":{"object":{)" + members + "}}}";
}

inline const std::string kCharge =
    R"("id":"ch_1","amount":1234,"currency":"eur","created":1699999999,"payment_intent":"pi_1",)"
    R"("billing_details":{"email":"jane@example.com","address":{"line1":"1 Main St"}},)"
    R"("payment_method_details":{"type":"card","card":{"last4":"4242"}},)"
    R"("receipt_email":"jane@example.com","metadata":{"intacct_invoice":"INV-1"})";

// A server on loopback ports with its own io_context thread, one producer and
// a clock that stands still at kNow.
struct Harness {
  explicit Harness(RedisServer& redis) : redis_(redis) {
    conn = isync::redis::Connection::create(loop.executor(), redis.endpoint(), {});
    conn->start();
    producer = std::make_shared<isync::queue::Producer>(conn, metrics);
    isync::ingest::Options options;
    options.public_port = 0;
    options.admin_port = 0;
    options.body_limit = 64 * 1024;
    options.tenants = {{"acme", "acme-token", "", {}, {kSecretOld, kSecretNew}},
                       {"plain", "plain-token", "", {}, {}}};
    options.redact_fields = {"billing_details", "payment_method_details", "receipt_email"};
    server = std::make_unique<isync::ingest::Server>(
        loop.executor(), options, std::vector{producer}, nullptr, metrics, clock, log);
    auto started = server->start();
    REQUIRE(started.has_value());
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

  RedisServer& redis_;
  isync::testing::Loop loop{1};
  isync::Metrics metrics;
  isync::ManualClock clock{kNow * 1000};
  isync::Log log{isync::Level::error, [](std::string_view) {}};
  std::shared_ptr<isync::redis::Connection> conn;
  std::shared_ptr<isync::queue::Producer> producer;
  std::unique_ptr<isync::ingest::Server> server;
};

// Sends `bytes`; checks status, body, and that Redis gained no key and the
// stream no entry.
inline Reply expect_rejected(RedisServer& redis, Harness& h, const std::string& bytes,
                             unsigned status, const std::string& code, const std::string& message) {
  auto before = redis.cmd({"DBSIZE"}).integer;
  auto r = exchange(h.port(), bytes);
  CHECK(r.status == status);
  CHECK(r.body == error_json(code, message));
  CHECK(redis.cmd({"DBSIZE"}).integer == before);
  CHECK(redis.cmd({"XLEN", isync::queue::key("acme", "events")}).integer == 0);
  return r;
}

}  // namespace isync::testing::stripe_route
