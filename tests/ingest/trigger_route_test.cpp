// POST /v1/intacct/{tenant}/triggers against a real redis-server over real
// sockets, with the tokens python3-jwt made (tests/ingest/fixtures/triggers)
// and the server's clock set to the fixtures' now: each accepted way, and each
// refusal with its status, message, log reason and no Redis write. Retries,
// duplicates, Redis down and leaks: trigger_delivery_test.cpp.
#include <doctest/doctest.h>

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
