// POST /v1/payments/{tenant}/stripe: every rejection, its status, code and
// message, and nothing written.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "tests/ingest/stripe_route_harness.hpp"

using namespace isync::testing::stripe_route;

TEST_CASE("every Stripe rejection answers its status, code and message and writes nothing") {
  RedisServer redis;
  Harness h(redis);
  const std::string body = charge_event("evt_1", kCharge);
  const std::string malformed = "Stripe-Signature header is malformed: ";

  auto r405 = expect_rejected(redis, h, "GET " + kRoute + " HTTP/1.1\r\nHost: t\r\n\r\n", 405,
                              "method_not_allowed", "method GET is not allowed here; use POST");
  CHECK(r405.headers["allow"] == "POST");
  expect_rejected(redis, h, "PUT " + kRoute + " HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
                  405, "method_not_allowed", "method PUT is not allowed here; use POST");

  // The header: checked before the tenant is looked up.
  auto missing = expect_rejected(redis, h, post(kRoute, "", body), 401, "unauthorized",
                                 "Stripe-Signature header is missing");
  auto missing_unknown = expect_rejected(redis, h, post("/v1/payments/nobody/stripe", "", body),
                                         401, "unauthorized", "Stripe-Signature header is missing");
  CHECK(missing.head == missing_unknown.head);
  const std::string v1 = ",v1=" + std::string(64, 'a');
  expect_rejected(redis, h, post(kRoute, "v1=" + std::string(64, 'a'), body), 401, "unauthorized",
                  malformed + "no t= timestamp");
  expect_rejected(redis, h, post(kRoute, "t=17000x0000" + v1, body), 401, "unauthorized",
                  malformed + "t= is not a decimal integer");
  expect_rejected(redis, h, post(kRoute, "t=" + std::to_string(kNow), body), 401, "unauthorized",
                  malformed + "no v1= signature");
  expect_rejected(redis, h,
                  post(kRoute, "t=" + std::to_string(kNow) + ",v1=" + std::string(64, 'z'), body),
                  401, "unauthorized", malformed + "a v1= signature is not 64 hex digits");
  expect_rejected(redis, h,
                  post("/v1/payments/nobody/stripe", "t=" + std::to_string(kNow) + ",v1=xyz", body),
                  401, "unauthorized", malformed + "a v1= signature is not 64 hex digits");

  // The signature: one answer for a wrong secret, an unknown tenant, a
  // tenant without Stripe secrets.
  auto wrong =
      expect_rejected(redis, h, signed_post(body, "whsec_wrong"), 401, "unauthorized", kNoMatch);
  std::string altered = signed_post(body);
  altered.replace(altered.find("1234", altered.find("\r\n\r\n")), 4, "1235");
  expect_rejected(redis, h, altered, 401, "unauthorized", kNoMatch);
  auto unknown =
      expect_rejected(redis, h, signed_post(body, kSecretNew, kNow, "/v1/payments/nobody/stripe"),
                      401, "unauthorized", kNoMatch);
  auto plain =
      expect_rejected(redis, h, signed_post(body, kSecretNew, kNow, "/v1/payments/plain/stripe"),
                      401, "unauthorized", kNoMatch);
  CHECK(unknown.head == wrong.head);
  CHECK(unknown.body == wrong.body);
  CHECK(plain.head == wrong.head);
  // Signed for another timestamp than the one sent.
  std::string resent = stripe_header(kSecretNew, kNow - 1, body);
  resent.replace(2, std::to_string(kNow).size(), std::to_string(kNow));
  expect_rejected(redis, h, post(kRoute, resent, body), 401, "unauthorized", kNoMatch);

  // The timestamp, only once a signature matched.
  const std::string expired = "Stripe-Signature timestamp is outside the tolerance of 300 s";
  expect_rejected(redis, h, signed_post(body, kSecretNew, kNow - 301), 401, "signature_expired",
                  expired);
  expect_rejected(redis, h, signed_post(body, kSecretNew, kNow + 301), 401, "signature_expired",
                  expired);
  expect_rejected(redis, h, signed_post(body, "whsec_wrong", kNow - 301), 401, "unauthorized",
                  kNoMatch);

  // The body is read whole before the signature can be checked: an oversized
  // body is 413 even when its signature is wrong.
  std::string big_head = "POST " + kRoute + " HTTP/1.1\r\nHost: t\r\nStripe-Signature: t=1" + v1 +
                         "\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n\r\n";
  expect_rejected(redis, h, big_head, 413, "payload_too_large",
                  "the body is larger than 65536 bytes (Content-Length 2000000)");
  std::string chunked = "POST " + kRoute + " HTTP/1.1\r\nHost: t\r\nStripe-Signature: t=1" + v1 +
                        "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string chunk(16 * 1024, 'a');
  for (int i = 0; i < 6; ++i) chunked += "4000\r\n" + chunk + "\r\n";
  chunked += "0\r\n\r\n";
  expect_rejected(redis, h, chunked, 413, "payload_too_large",
                  "the body is larger than 65536 bytes");

  expect_rejected(redis, h, signed_post(body, kSecretNew, kNow, kRoute, "text/plain"), 415,
                  "unsupported_media_type",
                  "Content-Type \\\"text/plain\\\" is not accepted; send application/json");
  expect_rejected(redis, h, signed_post(body, kSecretNew, kNow, kRoute, ""), 415,
                  "unsupported_media_type",
                  "the Content-Type header is missing; send application/json");
  expect_rejected(redis, h, signed_post(body, kSecretNew, kNow, kRoute, "application/xml"), 415,
                  "unsupported_media_type",
                  "Content-Type \\\"application/xml\\\" is not accepted; send application/json");

  expect_rejected(redis, h, signed_post(R"({"id":"evt_1",)"), 400, "malformed_body",
                  "the JSON body does not parse: Missing a name for object member. at offset 14");
  expect_rejected(redis, h, signed_post(R"({"id":"evt_1"} {})"), 400, "malformed_body",
                  "the JSON body has trailing bytes after the value, at offset 15");
  expect_rejected(redis, h, signed_post(R"({"id":"evt_1","id":"evt_2"})"), 400, "malformed_body",
                  "the JSON body has the key \\\"id\\\" twice in one object");
  expect_rejected(redis, h, signed_post("[]"), 400, "malformed_body",
                  "the JSON body must be one object");
  // The lone-surrogate body, and one with a byte that is not UTF-8.
  expect_rejected(redis, h,
                  signed_post(R"({"id":"evt_","type":"e","data":{"object":{"\ude00":{}}}})"), 400,
                  "malformed_body",
                  "the JSON body has a lone surrogate \\\\ude00 in a string (not a character), "
                  "before offset 50");
  expect_rejected(redis, h, signed_post("{\"id\":\"evt_1\",\"x\":\"\xc3\"}"), 400, "malformed_body",
                  "the JSON body has invalid UTF-8 in a string, at offset 19");
  expect_rejected(
      redis, h,
      signed_post(R"({"id":"evt_1","x":)" + std::string(80, '[') + std::string(80, ']') + "}"), 400,
      "malformed_body", "the JSON body is nested deeper than 64 levels");

  const std::vector<std::pair<std::string, std::string>> fields = {
      {R"({"type":"charge.succeeded","data":{"object":{}}})", "field \"id\" is required"},
      {R"({"id":"ch_1","type":"x","data":{"object":{}}})",
       "field \"id\" must be a string starting with \"evt_\""},
      {R"({"id":"evt_1","data":{"object":{}}})", "field \"type\" is required"},
      {R"({"id":"evt_1","type":"","data":{"object":{}}})",
       "field \"type\" must be a non-empty string"},
      {R"({"id":"evt_1","type":"x"})", "field \"data.object\" is required"},
      {R"({"id":"evt_1","type":"x","data":{"object":"ch_1"}})",
       "field \"data.object\" must be an object"},
      {charge_event("evt_1", R"("amount":1,"currency":"usd","created":1)"),
       "field \"data.object.id\" is required"},
      {charge_event("evt_1", R"("id":"ch_1","currency":"usd","created":1)"),
       "field \"data.object.amount\" is required"},
      {charge_event("evt_1", R"("id":"ch_1","amount":-5,"currency":"usd","created":1)"),
       "field \"data.object.amount\" must be a whole number of at least 0"},
      {charge_event("evt_1", R"("id":"ch_1","amount":5,"currency":"dollars","created":1)"),
       "field \"data.object.currency\" must be a three-letter currency code"},
      {charge_event("evt_1", R"("id":"ch_1","amount":5,"currency":"usd")"),
       "field \"data.object.created\" is required"},
      {charge_event("evt_1", R"("id":"ch_1","amount":5,"currency":"usd","created":1)",
                    "charge.refunded"),
       "field \"data.object.amount_refunded\" is required"},
      {charge_event("evt_1",
                    R"("id":"ch_1","amount":5,"currency":"usd","created":1,"metadata":{"a":[]})"),
       "field \"data.object.metadata\" must be an object of string values"},
  };
  for (const auto& [json, message] : fields) {
    std::string escaped;
    for (char c : message) {
      if (c == '"') escaped += '\\';
      escaped += c;
    }
    CAPTURE(json);
    expect_rejected(redis, h, signed_post(json), 400, "invalid_field", escaped);
  }
}
