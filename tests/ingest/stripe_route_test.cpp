// POST /v1/payments/{tenant}/stripe against a real redis-server over real
// sockets, with signatures made by the openssl command line.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "handlers/handlers.hpp"
#include "ingest/ingest.hpp"
#include "tests/ingest/openssl_hmac.hpp"
#include "tests/ingest/raw_http.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::ip::tcp;
using isync::testing::close_and_wait;
using isync::testing::eventually;
using isync::testing::exchange;
using isync::testing::RedisServer;
using isync::testing::Reply;
using isync::testing::stripe_header;
using Pairs = std::vector<std::pair<std::string, std::string>>;

namespace {

constexpr const char* kSecretOld = "whsec_acme_old";
constexpr const char* kSecretNew = "whsec_acme_new";
constexpr const char* kJson = "application/json";
constexpr long long kNow = 1'700'000'000;  // the server's clock, seconds
const std::string kRoute = "/v1/payments/acme/stripe";
const std::string kNoMatch = "Stripe-Signature: no v1 signature matches";

// A POST with an optional Stripe-Signature (empty = none) and content type.
std::string post(const std::string& target, const std::string& signature, const std::string& body,
                 const std::string& content_type = kJson) {
  std::string out = "POST " + target + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n";
  if (!signature.empty()) out += "Stripe-Signature: " + signature + "\r\n";
  if (!content_type.empty()) out += "Content-Type: " + content_type + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return out + "\r\n" + body;
}

// Signed with `secret` at `t` (default: the server's now).
std::string signed_post(const std::string& body, const std::string& secret = kSecretNew,
                        long long t = kNow, const std::string& target = kRoute,
                        const std::string& content_type = kJson) {
  return post(target, stripe_header(secret, t, body), body, content_type);
}

std::string error_json(const std::string& code, const std::string& message) {
  return R"({"error":{"code":")" + code + R"(","message":")" + message + R"("}})";
}

std::string event_id_of(const std::string& body) {
  auto at = body.find(R"("event_id":")");
  REQUIRE(at != std::string::npos);
  return body.substr(at + 12, 26);
}

std::string charge_event(const std::string& id, const std::string& members,
                         const std::string& type = "charge.succeeded") {
  return R"({"id":")" + id + R"(","object":"event","type":")" + type +
         R"(","created":1700000000,"livemode":false,"data":{"object":{)" + members + "}}}";
}

const std::string kCharge =
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
Reply expect_rejected(RedisServer& redis, Harness& h, const std::string& bytes, unsigned status,
                      const std::string& code, const std::string& message) {
  auto before = redis.cmd({"DBSIZE"}).integer;
  auto r = exchange(h.port(), bytes);
  CHECK(r.status == status);
  CHECK(r.body == error_json(code, message));
  CHECK(redis.cmd({"DBSIZE"}).integer == before);
  CHECK(redis.cmd({"XLEN", isync::queue::key("acme", "events")}).integer == 0);
  return r;
}

}  // namespace

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

TEST_CASE("the queued envelope carries the payment fields for the worker, raw redacted") {
  RedisServer redis;
  Harness h(redis);
  const std::vector<std::string> bodies = {
      // payment_intent.succeeded
      R"({"id":"evt_pi","object":"event","type":"payment_intent.succeeded","created":1700000005,)"
      R"("livemode":true,"data":{"object":{"id":"pi_9","object":"payment_intent","amount":5000,)"
      R"("amount_received":5000,"currency":"usd","created":1700000001,"latest_charge":"ch_9",)"
      R"("payment_method_types":["us_bank_account"],)"
      R"("metadata":{"intacct_invoice":"INV-9","intacct_customer":"CUST-9"},)"
      R"("charges":{"data":[{"billing_details":{"name":"Jane Roe"}}]}}}})",
      // charge.succeeded with a payment intent
      charge_event("evt_ch", kCharge),
      // a charge without a payment intent
      charge_event("evt_bare", R"("id":"ch_2","amount":300,"currency":"jpy","created":1699999000,)"
                               R"("payment_intent":null,"payment_method_details":{"type":"card"})"),
      // charge.refunded
      charge_event("evt_ref",
                   R"("id":"ch_3","amount":1000,"amount_refunded":1000,"currency":"usd",)"
                   R"("created":1699990000,"payment_intent":"pi_3",)"
                   R"("metadata":{"intacct_customer":"CUST-3"})",
                   "charge.refunded"),
      // an unhandled type
      R"({"id":"evt_cus","type":"customer.created","created":1700000009,)"
      R"("data":{"object":{"id":"cus_1","email":"cus@example.com","receipt_email":"x"}}})",
  };
  std::vector<std::string> ids;
  for (const auto& body : bodies) {
    auto r = exchange(h.port(), signed_post(body));
    REQUIRE(r.status == 202);
    ids.push_back(event_id_of(r.body));
  }
  auto queued = h.queued();
  REQUIRE(queued.size() == 5);
  for (std::size_t i = 0; i < queued.size(); ++i) {
    const auto& e = queued[i];
    CHECK(e.v == 1);
    CHECK(e.event_id == ids[i]);
    CHECK(e.source == "stripe");
    CHECK(e.tenant == "acme");
    CHECK(e.object == "ARPYMT");
    CHECK(e.whenmodified.empty());
    CHECK(e.received_at_ms == kNow * 1000);
    CHECK(e.content_type == kJson);
    CHECK(e.raw.find("Jane") == std::string::npos);
    CHECK(e.raw.find("jane@example.com") == std::string::npos);
    CHECK(e.raw.find("4242") == std::string::npos);
  }

  CHECK(queued[0].action == "payment_intent.succeeded");
  CHECK(queued[0].key == "pi_9");
  CHECK(queued[0].version == 1700000005);
  CHECK(queued[0].snapshot == Pairs{{"AMOUNT", "5000"},
                                    {"CHARGE_ID", "ch_9"},
                                    {"CREATED", "1700000001"},
                                    {"CURRENCY", "USD"},
                                    {"CUSTOMER", "CUST-9"},
                                    {"EVENT_ID", "evt_pi"},
                                    {"INVOICE", "INV-9"},
                                    {"LIVEMODE", "true"},
                                    {"METHOD", "us_bank_account"},
                                    {"PAYMENT_ID", "pi_9"}});
  CHECK(queued[0].raw.find(R"("charges":{"data":[{"billing_details":"[redacted]"}]})") !=
        std::string::npos);

  CHECK(queued[1].action == "charge.succeeded");
  CHECK(queued[1].key == "pi_1");
  CHECK(queued[1].version == 1700000000);
  CHECK(queued[1].snapshot == Pairs{{"AMOUNT", "1234"},
                                    {"CHARGE_ID", "ch_1"},
                                    {"CREATED", "1699999999"},
                                    {"CURRENCY", "EUR"},
                                    {"EVENT_ID", "evt_ch"},
                                    {"INVOICE", "INV-1"},
                                    {"LIVEMODE", "false"},
                                    {"METHOD", "card"},
                                    {"PAYMENT_ID", "pi_1"}});
  CHECK(queued[1].raw ==
        R"({"id":"evt_ch","object":"event","type":"charge.succeeded","created":1700000000,)"
        R"("livemode":false,"data":{"object":{"id":"ch_1","amount":1234,"currency":"eur",)"
        R"("created":1699999999,"payment_intent":"pi_1","billing_details":"[redacted]",)"
        R"("payment_method_details":"[redacted]","receipt_email":"[redacted]",)"
        R"("metadata":{"intacct_invoice":"INV-1"}}}})");

  CHECK(queued[2].key == "ch_2");
  CHECK(queued[2].snapshot == Pairs{{"AMOUNT", "300"},
                                    {"CHARGE_ID", "ch_2"},
                                    {"CREATED", "1699999000"},
                                    {"CURRENCY", "JPY"},
                                    {"EVENT_ID", "evt_bare"},
                                    {"LIVEMODE", "false"},
                                    {"METHOD", "card"},
                                    {"PAYMENT_ID", "ch_2"}});

  CHECK(queued[3].action == "charge.refunded");
  CHECK(queued[3].key == "pi_3");
  CHECK(queued[3].snapshot == Pairs{{"AMOUNT", "1000"},
                                    {"AMOUNT_REFUNDED", "1000"},
                                    {"CHARGE_ID", "ch_3"},
                                    {"CREATED", "1699990000"},
                                    {"CURRENCY", "USD"},
                                    {"CUSTOMER", "CUST-3"},
                                    {"EVENT_ID", "evt_ref"},
                                    {"LIVEMODE", "false"},
                                    {"PAYMENT_ID", "pi_3"}});

  CHECK(queued[4].action == "customer.created");
  CHECK(queued[4].key == "cus_1");
  CHECK(queued[4].version == 1700000009);
  CHECK(queued[4].snapshot == Pairs{{"EVENT_ID", "evt_cus"}});
  CHECK(queued[4].raw.find(R"("receipt_email":"[redacted]")") != std::string::npos);
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
