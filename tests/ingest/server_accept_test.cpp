// The HTTP front against a real redis-server, spoken to over real sockets:
// the check-order table, accepted and redelivered events, Redis down, and
// the benchmark no-op route.
#include <doctest/doctest.h>

#include "tests/ingest/server_harness.hpp"

using namespace isync::testing::ingest_server;

TEST_CASE(
    "every rejection of the check-order table answers its status, code and message and "
    "leaves Redis unchanged") {
  RedisServer redis;
  isync::ingest::Options options;
  options.body_limit = 64 * 1024;
  Harness h(redis, options);
  const std::string events = "/v1/intacct/acme/events";

  expect_rejected(redis, h.port(), request("POST", "/v1/nope", kForm, event_body(1)), 404,
                  "not_found", "no route for /v1/nope");
  auto r405 = expect_rejected(redis, h.port(), request("GET", events, "", ""), 405,
                              "method_not_allowed", "method GET is not allowed here; use POST");
  CHECK(r405.headers["allow"] == "POST");

  const std::string unauthorized =
      "the tenant is unknown or the token is missing or wrong; send Authorization: Bearer "
      "<token> or ?token=<token>";
  auto unknown = expect_rejected(redis, h.port(),
                                 request("POST", "/v1/intacct/nobody/events", kForm, event_body(1)),
                                 401, "unauthorized", unauthorized);
  auto bad =
      expect_rejected(redis, h.port(), request("POST", events, kForm, event_body(1), "wrong-token"),
                      401, "unauthorized", unauthorized);
  CHECK(unknown.head == bad.head);
  CHECK(unknown.body == bad.body);
  expect_rejected(redis, h.port(), request("POST", events, kForm, event_body(1), ""), 401,
                  "unauthorized", unauthorized);
  expect_rejected(redis, h.port(),
                  request("POST", events + "?token=wrong", kForm, event_body(1), ""), 401,
                  "unauthorized", unauthorized);
  // Another tenant's token does not open this tenant.
  expect_rejected(redis, h.port(), request("POST", events, kForm, event_body(1), "other-token"),
                  401, "unauthorized", unauthorized);

  expect_rejected(redis, h.port(), request("POST", events, "text/plain", event_body(1)), 415,
                  "unsupported_media_type",
                  "Content-Type \\\"text/plain\\\" is not accepted; send "
                  "application/x-www-form-urlencoded, application/json or application/xml");

  // Over the cap by Content-Length: answered from the header, body never sent.
  std::string big_header = "POST " + events + " HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
                           kToken + "\r\nContent-Type: " + kForm +
                           "\r\nContent-Length: 2000000\r\n\r\n";
  expect_rejected(redis, h.port(), big_header, 413, "payload_too_large",
                  "the body is larger than 65536 bytes (Content-Length 2000000)");
  // Over the cap in a chunked body: found while reading it.
  std::string chunked = "POST " + events + " HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
                        kToken + "\r\nContent-Type: " + kForm +
                        "\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string chunk(16 * 1024, 'a');
  for (int i = 0; i < 6; ++i) chunked += "4000\r\n" + chunk + "\r\n";
  chunked += "0\r\n\r\n";
  expect_rejected(redis, h.port(), chunked, 413, "payload_too_large",
                  "the body is larger than 65536 bytes");

  expect_rejected(redis, h.port(), request("POST", events, kForm, "object=CUSTOMER&action"), 400,
                  "malformed_body", "pair \\\"action\\\" has no '='");
  expect_rejected(
      redis, h.port(), request("POST", events, "application/json", R"({"object":"CUSTOMER"} x)"),
      400, "malformed_body", "the JSON body has trailing bytes after the value, at offset 22");
  expect_rejected(redis, h.port(),
                  request("POST", events, "application/xml", "<!DOCTYPE event><event/>"), 400,
                  "malformed_body", "the XML body has a DOCTYPE; DTDs are not accepted");
  expect_rejected(redis, h.port(),
                  request("POST", events, "application/json",
                          R"({"object":"CUSTOMER","action":"set","whenmodified":"01/02/2024"})"),
                  400, "invalid_field", "field \\\"recordno\\\" is required");
  expect_rejected(redis, h.port(), request("POST", events, kForm, event_body(1, "someday")), 400,
                  "invalid_field",
                  "field \\\"whenmodified\\\" \\\"someday\\\" is not a date: expected MM/DD/YYYY "
                  "HH:MM:SS, MM/DD/YYYY or ISO-8601");
  expect_rejected(
      redis, h.port(),
      request("POST", events, kForm, "object=VENDOR&action=set&recordno=1&whenmodified=01/02/2024"),
      400, "invalid_field",
      "field \\\"object\\\" must be CUSTOMER, ARINVOICE or ARPYMT, not \\\"VENDOR\\\"");
}

TEST_CASE(
    "a valid event is 202 and queued; a redelivery is queued once and answers the "
    "original id") {
  RedisServer redis;
  Harness h(redis);
  auto first = exchange(h.port(), request("POST", "/v1/intacct/acme/events", kForm, event_body(7)));
  REQUIRE(first.status == 202);
  REQUIRE(first.body.size() > 40);
  CHECK(first.body.find(R"("duplicate":false)") != std::string::npos);
  std::string id = first.body.substr(first.body.find(R"("event_id":")") + 12, 26);
  CHECK(h.stream_length() == 1);

  auto again = exchange(h.port(), request("POST", "/v1/intacct/acme/events", kForm, event_body(7)));
  CHECK(again.status == 202);
  CHECK(again.body == R"({"event_id":")" + id + R"(","duplicate":true})");
  CHECK(h.stream_length() == 1);

  // The token may come in the query string (Intacct cannot always set headers).
  auto by_query =
      exchange(h.port(), request("POST", std::string("/v1/intacct/acme/events?token=") + kToken,
                                 "application/json",
                                 R"({"object":"ARPYMT","action":"add","recordno":"9",)"
                                 R"("whenmodified":"2024-01-02T10:20:30Z"})",
                                 ""));
  CHECK(by_query.status == 202);
  CHECK(h.stream_length() == 2);
  auto entries = redis.cmd({"XRANGE", isync::queue::key("acme", "events"), "-", "+"});
  REQUIRE(entries.elements.size() == 2);
  std::string all;
  for (const auto& e : entries.elements) {
    for (const auto& f : e.elements[1].elements) all += f.str;
  }
  CHECK(all.find(id) != std::string::npos);
}

TEST_CASE("ingest answers 503 with Retry-After while Redis is down and leaves nothing behind") {
  RedisServer redis;
  Harness h(redis);
  auto before = redis.keys();
  redis.stop();
  auto r = exchange(h.port(), request("POST", "/v1/intacct/acme/events", kForm, event_body(3)));
  CHECK(r.status == 503);
  CHECK(r.headers["retry-after"] == "1");
  CHECK(r.body == error_json("unavailable",
                             "the event queue is unavailable; the event was not accepted, retry "
                             "later"));
  redis.start();
  CHECK(redis.keys() == before);
}

TEST_CASE("the benchmark no-op route runs the same checks, answers 202 and writes nothing") {
  RedisServer redis;
  {
    Harness off(redis);
    CHECK(exchange(off.port(), request("POST", "/v1/noop/acme/events", kForm, event_body(1)))
              .status == 404);
  }
  isync::ingest::Options options;
  options.noop_route = true;
  Harness h(redis, options);
  auto before = redis.keys();
  auto ok = exchange(h.port(), request("POST", "/v1/noop/acme/events", kForm, event_body(1)));
  CHECK(ok.status == 202);
  CHECK(ok.body.find(R"("duplicate":false)") != std::string::npos);
  CHECK(exchange(h.port(), request("POST", "/v1/noop/acme/events", kForm, event_body(1), "bad"))
            .status == 401);
  CHECK(exchange(h.port(), request("POST", "/v1/noop/acme/events", kForm, "junk")).status == 400);
  CHECK(redis.keys() == before);
}
