// The trigger route's deliveries beyond the first: an idempotency key that
// makes a retry a duplicate, a change sent both as a smart event and as a
// trigger, a lost reply, Redis down and back, and no token, envelope or
// session key in the logs, the metrics or Redis. Same harness and fixtures as
// trigger_route_test.cpp.
#include <doctest/doctest.h>

#include <boost/asio/write.hpp>
#include <string>
#include <vector>

#include "tests/ingest/trigger_route_harness.hpp"

using isync::testing::close_and_wait;
using isync::testing::eventually;
using isync::testing::exchange;
using isync::testing::RedisServer;
using isync::testing::Reply;
using isync::testing::trigger_fixtures;
using namespace isync::testing::trigger_route;

TEST_CASE("an idempotency key answers a retry as a duplicate, even with another body") {
  const auto& f = trigger_fixtures();
  RedisServer redis;
  Harness h(redis);
  Headers first = bare(f.token("valid_ms"));
  first.emplace_back("X-IdempotencyKey", "delivery-1");
  auto a = exchange(h.port(), post(kRoute, first, f.body("set")));
  REQUIRE(a.status == 200);
  CHECK(a.body.find(R"("duplicate":false)") != std::string::npos);
  // Intacct's retry, under the other header name, with another (signed) body.
  Headers retry = bare(f.token("delete"));
  retry.emplace_back("Idempotency-Key", "delivery-1");
  auto b = exchange(h.port(), post(kRoute, retry, f.body("delete")));
  CHECK(b.status == 200);
  CHECK(b.body == R"({"event_id":")" + event_id_of(a.body) + R"(","duplicate":true})");
  CHECK(h.queued().size() == 1);
  // Both headers with one key are one key.
  Headers same = bare(f.token("delete"));
  same.emplace_back("X-IdempotencyKey", "delivery-2");
  same.emplace_back("Idempotency-Key", "delivery-2");
  auto c = exchange(h.port(), post(kRoute, same, f.body("delete")));
  CHECK(c.status == 200);
  CHECK(c.body.find(R"("duplicate":false)") != std::string::npos);
  CHECK(h.queued().size() == 2);
  // The key lives as long as the dedup window.
  auto ttl = redis.cmd(
      {"TTL",
       isync::queue::key("acme", "dedup:" + isync::sha256_hex("trigger-idempotency:delivery-1"))});
  CHECK(ttl.integer > 71 * 3600);
  CHECK(ttl.integer <= 72 * 3600);
}

TEST_CASE("a change sent as a smart event and as a trigger is queued once") {
  const auto& f = trigger_fixtures();
  RedisServer redis;
  Harness h(redis);
  // The smart event of the same change: an Add, form-encoded, by token.
  std::string form =
      "object=CUSTOMER&action=add&recordno=42&whenmodified=01%2F16%2F2026+21%3A27%3A59";
  auto smart = exchange(h.port(),
                        "POST /v1/intacct/acme/events HTTP/1.1\r\nHost: t\r\n"
                        "Authorization: Bearer acme-token\r\nConnection: close\r\n"
                        "Content-Type: application/x-www-form-urlencoded\r\n"
                        "Content-Length: " +
                            std::to_string(form.size()) + "\r\n\r\n" + form);
  REQUIRE(smart.status == 202);
  Headers keyed = bare(f.token("valid_ms"));
  keyed.emplace_back("X-IdempotencyKey", "delivery-9");
  auto trigger = exchange(h.port(), post(kRoute, keyed, f.body("set")));
  CHECK(trigger.status == 200);
  CHECK(trigger.body == R"({"event_id":")" + event_id_of(smart.body) + R"(","duplicate":true})");
  CHECK(h.queued().size() == 1);
  // Its retry is known by its key too.
  auto retry = exchange(h.port(), post(kRoute, keyed, f.body("set")));
  CHECK(retry.body == trigger.body);
}

TEST_CASE("a lost reply: the retry with the same key is a duplicate and the stream holds one") {
  const auto& f = trigger_fixtures();
  RedisServer redis;
  Harness h(redis);
  Headers keyed = {{"X-IA-Sage-Signature", f.envelopes.at("valid_ms")},
                   {"X-IdempotencyKey", "delivery-lost"}};
  const std::string request = post(kRoute, keyed, f.body("set"));
  {
    // The request leaves whole; the connection is gone before the answer.
    auto s = isync::testing::connect_loopback(h.port());
    boost::asio::write(s, boost::asio::buffer(request));
    boost::system::error_code ec;
    s.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    s.close(ec);
  }
  REQUIRE(eventually([&] { return h.queued().size() == 1; }));
  const std::string original = h.queued()[0].event_id;
  auto retry = exchange(h.port(), request);
  CHECK(retry.status == 200);
  CHECK(retry.body == R"({"event_id":")" + original + R"(","duplicate":true})");
  CHECK(h.queued().size() == 1);
}

TEST_CASE("a verified trigger is 503 while Redis is down, and 200 once it is back") {
  const auto& f = trigger_fixtures();
  RedisServer redis;
  Harness h(redis);
  redis.stop();
  auto r = exchange(h.port(), post(kRoute, bare(f.token("valid_ms")), f.body("set")));
  CHECK(r.status == 503);
  CHECK(r.headers["retry-after"] == "1");
  CHECK(r.body.find(R"("code":"unavailable")") != std::string::npos);
  redis.start();
  REQUIRE(eventually([&] { return h.conn->connected(); }));
  auto ok = exchange(h.port(), post(kRoute, bare(f.token("valid_ms")), f.body("set")));
  CHECK(ok.status == 200);
}

TEST_CASE("no token, envelope or session key reaches the logs, the metrics or Redis") {
  const auto& f = trigger_fixtures();
  RedisServer redis;
  Harness h(redis, isync::Level::debug);
  const std::string& body = f.body("set");
  std::vector<std::string> secrets = {f.envelopes.at("valid_ms"),
                                      f.samples.at("sdk_envelope_null_jwt"),
                                      "Szkw-fixture-session-key-not-real",
                                      "Szkw-placeholder-for-the-elided-session-key",
                                      f.value("secret_one"),
                                      f.value("secret_two")};
  for (const auto& [name, token] : f.tokens) {
    secrets.push_back(token);
    // Each token every way it can come, with a context beside it.
    const std::string& signed_body =
        name == "delete" || name == "other_company" || name == "no_object" ? f.body(name) : body;
    for (Headers headers : {bare(token), Headers{{"Authorization", "Bearer " + token}}}) {
      headers.emplace_back("X-ClientContext", f.samples.at("client_context"));
      exchange(h.port(), post(kRoute, headers, signed_body));
      exchange(h.port(), post(kRoute, headers, signed_body + " "));
      exchange(h.port(), post("/v1/intacct/plain/triggers", headers, signed_body));
    }
  }
  exchange(h.port(), post(kRoute, {{"X-IA-Sage-Signature", f.envelopes.at("valid_ms")}}, body));
  exchange(h.port(),
           post(kRoute, {{"X-IA-Sage-Signature", f.samples.at("sdk_envelope_null_jwt")}}, body));
  CHECK(h.queued().size() >= 1);

  std::string everything;
  for (const auto& line : h.log_lines()) everything += line + "\n";
  CHECK(everything.find("trigger refused") != std::string::npos);
  CHECK(everything.find("trigger verified") != std::string::npos);
  everything += h.metrics.render();
  for (const auto& key : redis.keys()) {
    everything += key + "\n";
    auto type = redis.cmd({"TYPE", key}).str;
    if (type == "string") everything += redis.cmd({"GET", key}).str + "\n";
    if (type == "stream") {
      for (const auto& e : redis.cmd({"XRANGE", key, "-", "+"}).elements) {
        for (const auto& v : e.elements[1].elements) everything += v.str + "\n";
      }
    }
  }
  for (const auto& s : secrets) {
    CAPTURE(s.substr(0, 40));
    CHECK(everything.find(s) == std::string::npos);
    // Nor any of its three parts (a JWT's signature alone is enough to forge
    // nothing, but a header or claims part would show the rest came along).
    auto dot = s.rfind('.');
    if (dot != std::string::npos && dot + 1 < s.size()) {
      CHECK(everything.find(s.substr(dot + 1)) == std::string::npos);
    }
  }
}
