// POST /v1/payments/{tenant}/stripe against a real redis-server over real
// sockets, with signatures made by the openssl command line: accepted,
// redelivered, odd numbers kept as sent, and Redis down.
#include <doctest/doctest.h>

#include "tests/ingest/stripe_route_harness.hpp"

using namespace isync::testing::stripe_route;

TEST_CASE("a Stripe event signed by openssl is 202 and queued, with any v1 and any secret") {
  RedisServer redis;
  Harness h(redis);
  auto first = exchange(h.port(), signed_post(charge_event("evt_a", kCharge)));
  CHECK(first.status == 202);
  CHECK(first.body.find(R"("duplicate":false)") != std::string::npos);
  CHECK(first.headers["content-type"] == "application/json");

  // Two v1 values, the second the right one.
  std::string body = charge_event("evt_b", kCharge);
  std::string good = stripe_header(kSecretNew, kNow, body);
  std::string two = "t=" + std::to_string(kNow) + ",v1=" + std::string(64, '0') + "," +
                    good.substr(good.find("v1="));
  CHECK(exchange(h.port(), post(kRoute, two, body)).status == 202);

  // Signed with the tenant's other secret (rotation), a v0 alongside, a charset.
  std::string rotated = charge_event("evt_c", kCharge);
  CHECK(exchange(
            h.port(),
            post(kRoute, stripe_header(kSecretOld, kNow, rotated) + ",v0=" + std::string(64, 'f'),
                 rotated, "Application/JSON; charset=utf-8"))
            .status == 202);

  // At the edge of the tolerance, either way.
  CHECK(exchange(h.port(), signed_post(charge_event("evt_d", kCharge), kSecretNew, kNow - 300))
            .status == 202);
  CHECK(exchange(h.port(), signed_post(charge_event("evt_e", kCharge), kSecretNew, kNow + 300))
            .status == 202);
  CHECK(h.queued().size() == 5);
}

TEST_CASE("a Stripe redelivery, even re-signed later, is 202 duplicate with the first event_id") {
  RedisServer redis;
  Harness h(redis);
  std::string body = charge_event("evt_dup", kCharge);
  auto first = exchange(h.port(), signed_post(body, kSecretNew, kNow - 100));
  REQUIRE(first.status == 202);
  std::string id = event_id_of(first.body);
  auto again = exchange(h.port(), signed_post(body, kSecretOld, kNow));
  CHECK(again.status == 202);
  CHECK(again.body == R"({"event_id":")" + id + R"(","duplicate":true})");
  CHECK(h.queued().size() == 1);
  // Another tenant's same Stripe event id is its own event.
  CHECK(redis.cmd({"XLEN", isync::queue::key("plain", "events")}).integer == 0);
}

TEST_CASE("signed bodies with numbers that once crashed or were cut short are 202, kept as sent") {
  RedisServer redis;
  Harness h(redis);
  // The exact bytes of the body that once killed the process (SIGSEGV in
  // RapidJSON's full-precision strtod), then the 3e308 body whose stored copy
  // was cut short, then a zero with a large exponent.
  const std::vector<std::string> bodies = {
      R"({"id":"evt_1","type":"customer.created","data":{"object":{"id":"cus_1","n":)"
      "11844184067474435070.951617443023372000000000000000000000000000000000000000000000000000000"
      "000000000000000000000000000000000000000000000000000000000000000000000000000001E-491}}}",
      R"({"id":"evt_2","type":"charge.succeeded","data":{"object":{"id":"ch_1","amount":100,)"
      R"("currency":"usd","created":1,"fee":3e308}}})",
      R"({"id":"evt_3","type":"charge.succeeded","data":{"object":{"id":"ch_2","amount":100,)"
      R"("currency":"usd","created":1,"fee":0E80}}})"};
  for (const auto& body : bodies) {
    auto r = exchange(h.port(), signed_post(body));
    CHECK(r.status == 202);
  }
  auto queued = h.queued();
  REQUIRE(queued.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK(queued[i].raw == bodies[i]);
  // And the service still answers.
  CHECK(exchange(h.port(), signed_post(charge_event("evt_after", kCharge))).status == 202);
}

TEST_CASE("a Stripe event is 503 with Retry-After while Redis is down and leaves nothing") {
  RedisServer redis;
  Harness h(redis);
  auto before = redis.keys();
  redis.stop();
  auto r = exchange(h.port(), signed_post(charge_event("evt_down", kCharge)));
  CHECK(r.status == 503);
  CHECK(r.headers["retry-after"] == "1");
  CHECK(r.body == error_json("unavailable",
                             "the event queue is unavailable; the event was not accepted, retry "
                             "later"));
  redis.start();
  CHECK(redis.keys() == before);
}
