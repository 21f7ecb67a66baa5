// POST /v1/intacct/{tenant}/triggers against a real redis-server over real
// sockets, with the tokens python3-jwt made (tests/ingest/fixtures/triggers)
// and the server's clock set to the fixtures' now.
#include <doctest/doctest.h>

#include <boost/asio/write.hpp>
#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "ingest/ingest.hpp"
#include "tests/ingest/raw_http.hpp"
#include "tests/ingest/trigger_fixtures.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

using isync::testing::close_and_wait;
using isync::testing::eventually;
using isync::testing::exchange;
using isync::testing::RedisServer;
using isync::testing::Reply;
using isync::testing::trigger_fixtures;
using Headers = std::vector<std::pair<std::string, std::string>>;

namespace {

const std::string kRoute = "/v1/intacct/acme/triggers";
const std::string kUnauthorized =
    "the trigger could not be authenticated: send a token signed (HS256) with the OAuth client "
    "secret of the trigger's client ID, in X-IA-Sage-Signature or Authorization: Bearer";
const std::string kExpired =
    "the trigger's token has expired or is not valid yet (exp/iat); check the clock of the sender";

std::string error_json(const std::string& code, const std::string& message) {
  return R"({"error":{"code":")" + code + R"(","message":")" + message + R"("}})";
}

std::string post(const std::string& target, const Headers& headers, const std::string& body,
                 const std::string& content_type = "application/json") {
  std::string out = "POST " + target + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  if (!content_type.empty()) out += "Content-Type: " + content_type + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return out + "\r\n" + body;
}

// The token bare in X-IA-Sage-Signature.
Headers bare(const std::string& token) { return {{"X-IA-Sage-Signature", token}}; }

std::string event_id_of(const std::string& body) {
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
    auto entries = redis_.cmd({"XRANGE", isync::queue::key("acme", "events"), "-", "+"});
    std::vector<isync::queue::Envelope> out;
    for (const auto& e : entries.elements) {
      const auto& fields = e.elements[1].elements;
      for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
        if (fields[i].str != "e") continue;
        auto env = isync::queue::decode(fields[i + 1].str);
        REQUIRE(env.has_value());
        out.push_back(*env);
      }
    }
    return out;
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
void expect_refused(RedisServer& redis, Harness& h, const std::string& bytes, unsigned status,
                    const std::string& code, const std::string& message, const std::string& reason,
                    const std::string& token_from) {
  auto before = redis.keys();
  auto r = exchange(h.port(), bytes);
  CHECK(r.status == status);
  CHECK(r.body == error_json(code, message));
  CHECK(redis.keys() == before);
  auto line = h.last_line_with("\"trigger refused\"");
  CHECK(line.find("\"reason\":\"" + reason + "\"") != std::string::npos);
  CHECK(line.find("\"token_from\":\"" + token_from + "\"") != std::string::npos);
}

std::uint64_t counter(Harness& h, const std::string& tenant, const std::string& reason) {
  return h.metrics
      .counter("isync_trigger_rejections_total", "", {{"tenant", tenant}, {"reason", reason}})
      .value();
}

}  // namespace

TEST_CASE("a trigger signed by python3-jwt is 200 and queued, from the envelope, bare or Bearer") {
  const auto& f = trigger_fixtures();
  RedisServer redis;
  Harness h(redis);
  const std::string& body = f.body("set");
  struct Way {
    const char* name;
    Headers headers;
  };
  const Way ways[] = {
      {"envelope", {{"X-IA-Sage-Signature", f.envelopes.at("valid_ms")}}},
      {"bare", bare(f.token("valid_ms"))},
      {"authorization", {{"Authorization", "Bearer " + f.token("valid_ms")}}},
      {"seconds", bare(f.token("valid_seconds"))},
      {"second secret", bare(f.token("second_secret"))},
      {"upper-case payload_signature", bare(f.token("upper_payload_signature"))},
      {"malformed context",
       {{"X-IA-Sage-Signature", f.token("valid_ms")}, {"X-ClientContext", "%%not base64%%"}}},
      {"no content type", bare(f.token("valid_ms"))},
  };
  for (const auto& way : ways) {
    CAPTURE(way.name);
    redis.cmd({"FLUSHALL"});
    std::string content_type = std::string(way.name) == "no content type" ? "" : "application/json";
    auto r = exchange(h.port(), post(kRoute, way.headers, body, content_type));
    CHECK(r.status == 200);
    CHECK(r.body.find(R"("duplicate":false)") != std::string::npos);
    auto q = h.queued();
    REQUIRE(q.size() == 1);
    CHECK(q[0].event_id == event_id_of(r.body));
    CHECK(q[0].source == "intacct");
    CHECK(q[0].channel == "trigger");
    CHECK(q[0].object == "CUSTOMER");
    CHECK(q[0].action == "set");
    CHECK(q[0].key == "42");
    CHECK(q[0].whenmodified == "01/16/2026 21:27:59");
    CHECK(q[0].version == 1768598879);
    CHECK(q[0].snapshot.empty());  // company is no snapshot field
    CHECK(q[0].raw == body);
  }
  CHECK(h.last_line_with("trigger context unreadable; ignored")
            .find("X-ClientContext is not base64") != std::string::npos);

  // The delete template.
  redis.cmd({"FLUSHALL"});
  auto del = exchange(h.port(), post(kRoute, bare(f.token("delete")), f.body("delete")));
  CHECK(del.status == 200);
  REQUIRE(h.queued().size() == 1);
  CHECK(h.queued()[0].action == "delete");
}

TEST_CASE("every trigger refusal answers its status and message, logs its check, writes nothing") {
  const auto& f = trigger_fixtures();
  RedisServer redis;
  Harness h(redis);
  const std::string& body = f.body("set");

  std::string changed = body;
  changed.replace(changed.find("\"42\""), 4, "\"43\"");
  expect_refused(redis, h, post(kRoute, bare(f.token("valid_ms")), changed), 401, "unauthorized",
                 kUnauthorized, "payload_signature", "bare");
  CHECK(h.last_line_with("trigger refused")
            .find("payload_signature does not match the SHA-256 of the body") != std::string::npos);
  expect_refused(redis, h, post(kRoute, bare(f.token("wrong_secret")), body), 401, "unauthorized",
                 kUnauthorized, "signature", "bare");
  for (const char* alg : {"alg_none", "alg_hs512", "alg_rs256"}) {
    CAPTURE(alg);
    expect_refused(redis, h, post(kRoute, bare(f.token(alg)), body), 401, "unauthorized",
                   kUnauthorized, "alg", "bare");
  }
  expect_refused(redis, h, post(kRoute, bare(f.token("expired_seconds")), body), 401,
                 "signature_expired", kExpired, "expired", "bare");
  expect_refused(redis, h,
                 post(kRoute, {{"Authorization", "Bearer " + f.token("expired_ms")}}, body), 401,
                 "signature_expired", kExpired, "expired", "authorization");
  expect_refused(redis, h, post(kRoute, bare(f.token("iat_future")), body), 401,
                 "signature_expired", kExpired, "not_yet_valid", "bare");
  expect_refused(redis, h, post(kRoute, bare(f.token("wrong_iss")), body), 401, "unauthorized",
                 kUnauthorized, "issuer", "bare");
  expect_refused(redis, h, post(kRoute, bare(f.token("wrong_tenant_id")), body), 401,
                 "unauthorized", kUnauthorized, "client_id", "bare");
  expect_refused(redis, h, post(kRoute, bare(f.token("other_company")), f.body("other_company")),
                 401, "unauthorized", kUnauthorized, "company", "bare");
  CHECK(h.last_line_with("trigger refused")
            .find("the body's company \\\"OTHER-CO\\\" is not the tenant's company_id "
                  "\\\"acme-co\\\"") != std::string::npos);
  expect_refused(redis, h, post(kRoute, bare(f.token("no_object")), f.body("no_object")), 400,
                 "invalid_field", "field \\\"object\\\" is required", "invalid_field", "bare");

  // Sage's SDK sample envelope: jwtData null, and no token elsewhere.
  expect_refused(
      redis, h,
      post(kRoute, {{"X-IA-Sage-Signature", f.samples.at("sdk_envelope_null_jwt")}}, body), 401,
      "unauthorized", kUnauthorized, "no_token", "none");
  CHECK(h.last_line_with("trigger refused")
            .find("X-IA-Sage-Signature is an envelope whose jwtData is null, and there is no "
                  "Authorization: Bearer token") != std::string::npos);
  expect_refused(redis, h, post(kRoute, {}, body), 401, "unauthorized", kUnauthorized, "no_token",
                 "none");

  // An unknown tenant and a tenant without trigger secrets: the same bytes.
  auto unknown =
      exchange(h.port(), post("/v1/intacct/nobody/triggers", bare(f.token("valid_ms")), body));
  auto plain =
      exchange(h.port(), post("/v1/intacct/plain/triggers", bare(f.token("valid_ms")), body));
  CHECK(unknown.status == 401);
  CHECK(unknown.body == error_json("unauthorized", kUnauthorized));
  CHECK(plain.head == unknown.head);
  CHECK(plain.body == unknown.body);
  CHECK(h.last_line_with("trigger refused").find("the tenant has no trigger_client_secrets") !=
        std::string::npos);

  // After the token: 415 for a form, 413 for a body over the cap.
  expect_refused(
      redis, h, post(kRoute, bare(f.token("valid_ms")), body, "application/x-www-form-urlencoded"),
      415, "unsupported_media_type",
      "Content-Type \\\"application/x-www-form-urlencoded\\\" is a form; a trigger's body "
      "is its JSON document template: send application/json",
      "content_type", "bare");
  expect_refused(redis, h, post(kRoute, bare(f.token("valid_ms")), std::string(5000, ' ')), 413,
                 "payload_too_large", "the body is larger than 4096 bytes (Content-Length 5000)",
                 "payload_too_large", "bare");
  // Idempotency keys that disagree or do not fit.
  Headers both = bare(f.token("valid_ms"));
  both.emplace_back("X-IdempotencyKey", "k-1");
  both.emplace_back("Idempotency-Key", "k-2");
  expect_refused(redis, h, post(kRoute, both, body), 400, "invalid_field",
                 "X-IdempotencyKey and Idempotency-Key carry different idempotency keys; send "
                 "one key",
                 "idempotency_key", "bare");
  Headers long_key = bare(f.token("valid_ms"));
  long_key.emplace_back("Idempotency-Key", std::string(201, 'k'));
  expect_refused(redis, h, post(kRoute, long_key, body), 400, "invalid_field",
                 "the idempotency key (X-IdempotencyKey or Idempotency-Key) is longer than 200 "
                 "bytes",
                 "idempotency_key", "bare");

  CHECK(counter(h, "acme", "alg") == 3);
  CHECK(counter(h, "acme", "expired") == 2);
  CHECK(counter(h, "acme", "no_token") == 2);
  CHECK(counter(h, "acme", "company") == 1);
  CHECK(counter(h, "(unknown)", "signature") == 1);
  CHECK(counter(h, "plain", "signature") == 1);
  auto text = h.metrics.render();
  CHECK(
      text.find(R"(isync_trigger_rejections_total{tenant="acme",reason="payload_signature"} 1)") !=
      std::string::npos);
  CHECK(text.find("nobody") == std::string::npos);
}

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
