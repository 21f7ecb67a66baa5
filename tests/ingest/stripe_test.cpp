// Stripe-Signature parsing, the HMAC against the openssl command line, and
// Stripe events decoded into queued envelopes.
#include "ingest/detail/stripe.hpp"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "tests/ingest/openssl_hmac.hpp"

using namespace isync::ingest::detail;
using Pairs = std::vector<std::pair<std::string, std::string>>;

namespace {

const std::string kSig(64, 'a');
const std::vector<std::string> kRedact = {"billing_details", "payment_method_details",
                                          "receipt_email"};

std::string header_error(const std::string& header) {
  auto r = parse_stripe_signature(header);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "unauthorized");
  return r.error().message;
}

std::pair<std::string, std::string> event_error(const std::string& body) {
  auto r = parse_stripe_event(body, kRedact);
  REQUIRE_FALSE(r.has_value());
  return {r.error().code, r.error().message};
}

StripeEvent event_ok(const std::string& body) {
  auto r = parse_stripe_event(body, kRedact);
  if (!r) FAIL(r.error().message);
  return *r;
}

// A charge.succeeded event whose data.object holds `members` (JSON members).
std::string charge(const std::string& members, const std::string& type = "charge.succeeded") {
  return R"({"id":"evt_1","type":")" + type + R"(","created":1700000000,"data":{"object":{)" +
         members + "}}}";
}

const std::string kChargeMembers =
    R"("id":"ch_1","amount":1234,"currency":"eur","created":1699999999,"amount_refunded":0)";

}  // namespace

TEST_CASE("a Stripe-Signature header gives its timestamp and every v1; other keys are ignored") {
  auto sig = parse_stripe_signature("t=1700000000,v1=" + kSig + ",v0=" + std::string(64, 'b') +
                                    ", v1=" + std::string(64, 'C') + ",foo=bar");
  REQUIRE(sig.has_value());
  CHECK(sig->timestamp_text == "1700000000");
  CHECK(sig->timestamp == 1700000000);
  REQUIRE(sig->v1.size() == 2);
  CHECK(sig->v1[0] == kSig);
  CHECK(sig->v1[1] == std::string(64, 'c'));  // upper-case hex is lowered
}

TEST_CASE("a malformed Stripe-Signature header is refused with what is wrong and no value") {
  const std::string p = "Stripe-Signature header is malformed: ";
  CHECK(header_error("") == p + "an element is empty");
  CHECK(header_error("v1=" + kSig) == p + "no t= timestamp");
  CHECK(header_error("t=12a4,v1=" + kSig) == p + "t= is not a decimal integer");
  CHECK(header_error("t=-5,v1=" + kSig) == p + "t= is not a decimal integer");
  CHECK(header_error("t=,v1=" + kSig) == p + "t= is not a decimal integer");
  CHECK(header_error("t=1234567890123456789,v1=" + kSig) == p + "t= is not a decimal integer");
  CHECK(header_error("t=1,t=2,v1=" + kSig) == p + "t= appears more than once");
  CHECK(header_error("t=1700000000") == p + "no v1= signature");
  CHECK(header_error("t=1700000000,v0=" + kSig) == p + "no v1= signature");
  CHECK(header_error("t=1700000000,v1=abc") == p + "a v1= signature is not 64 hex digits");
  CHECK(header_error("t=1700000000,v1=" + std::string(63, 'a') + "g") ==
        p + "a v1= signature is not 64 hex digits");
  CHECK(header_error("t=1700000000,v1") == p + "an element is not key=value");
  CHECK(header_error("t=1700000000,,v1=" + kSig) == p + "an element is empty");
  std::string many = "t=1";
  for (int i = 0; i < 17; ++i) many += ",v1=" + kSig;
  CHECK(header_error(many) == p + "more than 16 v1= signatures");
}

TEST_CASE("the signature equals openssl's HMAC-SHA256 over t.body") {
  const std::string body = R"({"id":"evt_1","object":"event"})";
  CHECK(stripe_signature("whsec_abc", "1700000000", body) ==
        isync::testing::openssl_hmac_sha256("whsec_abc", "1700000000." + body));
  CHECK(stripe_signature("k", "1", "") == isync::testing::openssl_hmac_sha256("k", "1."));
}

TEST_CASE("any v1 may match any secret; no secrets never match") {
  const std::string body = R"({"id":"evt_1"})";
  StripeSignature sig;
  sig.timestamp_text = "1700000000";
  sig.timestamp = 1700000000;
  sig.v1 = {std::string(64, '0'), stripe_signature("new_secret", "1700000000", body)};
  CHECK(stripe_signature_matches(sig, body, {"new_secret"}));
  CHECK(stripe_signature_matches(sig, body, {"old_secret", "new_secret"}));
  CHECK_FALSE(stripe_signature_matches(sig, body, {"old_secret"}));
  CHECK_FALSE(stripe_signature_matches(sig, body, {}));
  // An empty secret never matches, even a signature made with the empty key.
  StripeSignature empty_key = sig;
  empty_key.v1 = {stripe_signature("", "1700000000", body)};
  CHECK_FALSE(stripe_signature_matches(empty_key, body, {""}));
  CHECK_FALSE(stripe_signature_matches(empty_key, body, {"", "new_secret"}));
  CHECK_FALSE(stripe_signature_matches(sig, body + " ", {"new_secret"}));
  sig.timestamp_text = "1700000001";
  CHECK_FALSE(stripe_signature_matches(sig, body, {"new_secret"}));
}

TEST_CASE("the timestamp is fresh within the tolerance either way") {
  CHECK(stripe_timestamp_fresh(1000, 1300, 300));
  CHECK(stripe_timestamp_fresh(1300, 1000, 300));
  CHECK_FALSE(stripe_timestamp_fresh(1000, 1301, 300));
  CHECK_FALSE(stripe_timestamp_fresh(1301, 1000, 300));
}

TEST_CASE("a Stripe body that is not one JSON object is malformed_body") {
  using P = std::pair<std::string, std::string>;
  CHECK(event_error("[1]") == P{"malformed_body", "the JSON body must be one object"});
  CHECK(event_error(R"({"id":"evt_1"} x)") ==
        P{"malformed_body", "the JSON body has trailing bytes after the value, at offset 15"});
  CHECK(event_error(R"({"id":"evt_1",)") ==
        P{"malformed_body",
          "the JSON body does not parse: Missing a name for object member. at offset 14"});
  CHECK(event_error(R"({"id":"evt_1","data":{"object":{"a":1,"a":2}}})") ==
        P{"malformed_body", "the JSON body has the key \"a\" twice in one object"});
  std::string deep = R"({"id":"evt_1","x":)" + std::string(70, '[') + std::string(70, ']') + "}";
  CHECK(event_error(deep) == P{"malformed_body", "the JSON body is nested deeper than 64 levels"});
  CHECK(event_error(std::string("{\"id\":\"evt_1\"}\0", 15)).second ==
        "the JSON body has trailing bytes after the value, at offset 14");
}

TEST_CASE("each missing or invalid Stripe field is invalid_field naming it") {
  auto msg = [](const std::string& body) {
    auto e = event_error(body);
    CHECK(e.first == "invalid_field");
    return e.second;
  };
  CHECK(msg(R"({"type":"charge.succeeded","data":{"object":{}}})") == "field \"id\" is required");
  CHECK(msg(R"({"id":"ch_1","type":"x","data":{"object":{}}})") ==
        "field \"id\" must be a string starting with \"evt_\"");
  CHECK(msg(R"({"id":5,"type":"x","data":{"object":{}}})") ==
        "field \"id\" must be a string starting with \"evt_\"");
  CHECK(msg(R"({"id":"evt_1","data":{"object":{}}})") == "field \"type\" is required");
  CHECK(msg(R"({"id":"evt_1","type":"","data":{"object":{}}})") ==
        "field \"type\" must be a non-empty string");
  CHECK(msg(R"({"id":"evt_1","type":"x"})") == "field \"data.object\" is required");
  CHECK(msg(R"({"id":"evt_1","type":"x","data":{}})") == "field \"data.object\" is required");
  CHECK(msg(R"({"id":"evt_1","type":"x","data":{"object":[]}})") ==
        "field \"data.object\" must be an object");
  CHECK(msg(R"({"id":"evt_1","type":"x","created":"today","data":{"object":{}}})") ==
        "field \"created\" must be a whole number");
  CHECK(msg(R"({"id":"evt_1","type":"x","data":{"object":{"metadata":{"a":1}}}})") ==
        "field \"data.object.metadata\" must be an object of string values");
  CHECK(msg(charge(kChargeMembers + R"(,"metadata":"x")")) ==
        "field \"data.object.metadata\" must be an object of string values");

  CHECK(msg(charge(R"("amount":1,"currency":"usd","created":1)")) ==
        "field \"data.object.id\" is required");
  CHECK(msg(charge(R"("id":"","amount":1,"currency":"usd","created":1)")) ==
        "field \"data.object.id\" must be a non-empty string");
  CHECK(msg(charge(R"("id":"ch_1","currency":"usd","created":1)")) ==
        "field \"data.object.amount\" is required");
  CHECK(msg(charge(R"("id":"ch_1","amount":-1,"currency":"usd","created":1)")) ==
        "field \"data.object.amount\" must be a whole number of at least 0");
  CHECK(msg(charge(R"("id":"ch_1","amount":1.5,"currency":"usd","created":1)")) ==
        "field \"data.object.amount\" must be a whole number of at least 0");
  CHECK(msg(charge(R"("id":"ch_1","amount":"100","currency":"usd","created":1)")) ==
        "field \"data.object.amount\" must be a whole number of at least 0");
  CHECK(msg(charge(R"("id":"ch_1","amount":1,"created":1)")) ==
        "field \"data.object.currency\" is required");
  for (auto bad : {R"("us")", R"("usd1")", R"("u$d")", "840"}) {
    CHECK(msg(charge(R"("id":"ch_1","amount":1,"created":1,"currency":)" + std::string(bad))) ==
          "field \"data.object.currency\" must be a three-letter currency code");
  }
  CHECK(msg(charge(R"("id":"ch_1","amount":1,"currency":"usd")")) ==
        "field \"data.object.created\" is required");
  CHECK(msg(charge(R"("id":"ch_1","amount":1,"currency":"usd","created":"x")")) ==
        "field \"data.object.created\" must be a whole number");
  CHECK(msg(charge(R"("id":"ch_1","amount":1,"currency":"usd","created":1)", "charge.refunded")) ==
        "field \"data.object.amount_refunded\" is required");
  CHECK(msg(charge(R"("id":"ch_1","amount":1,"currency":"usd","created":1,"amount_refunded":-2)",
                   "charge.refunded")) ==
        "field \"data.object.amount_refunded\" must be a whole number of at least 0");
  CHECK(msg(charge(R"("amount":1,"currency":"usd","created":1)", "payment_intent.succeeded")) ==
        "field \"data.object.id\" is required");
}

TEST_CASE("a payment_intent.succeeded event becomes an ARPYMT envelope keyed by the intent") {
  auto ev = event_ok(
      R"({"id":"evt_pi","object":"event","type":"payment_intent.succeeded","created":1700000005,)"
      R"("livemode":false,"data":{"object":{"id":"pi_123","object":"payment_intent",)"
      R"("amount":5000,"amount_received":4500,"currency":"usd","created":1700000000,)"
      R"("latest_charge":"ch_9","payment_method_types":["card"],)"
      R"("metadata":{"intacct_invoice":"INV-7","intacct_customer":"C-1","other":"x"},)"
      R"("receipt_email":"a@example.com"}}})");
  CHECK(ev.id == "evt_pi");
  const auto& e = ev.envelope;
  CHECK(e.v == 1);
  CHECK(e.source == "stripe");
  CHECK(e.object == "ARPYMT");
  CHECK(e.action == "payment_intent.succeeded");
  CHECK(e.key == "pi_123");
  CHECK(e.version == 1700000005);
  CHECK(e.whenmodified.empty());
  CHECK(e.snapshot == Pairs{{"AMOUNT", "4500"},
                            {"CHARGE_ID", "ch_9"},
                            {"CREATED", "1700000000"},
                            {"CURRENCY", "USD"},
                            {"CUSTOMER", "C-1"},
                            {"EVENT_ID", "evt_pi"},
                            {"INVOICE", "INV-7"},
                            {"LIVEMODE", "false"},
                            {"METHOD", "card"},
                            {"PAYMENT_ID", "pi_123"}});
  CHECK(e.raw.find("a@example.com") == std::string::npos);
  CHECK(e.raw.find(R"("receipt_email":"[redacted]")") != std::string::npos);
}

TEST_CASE("payment_intent: amount when nothing was received, no METHOD for several types") {
  auto ev = event_ok(
      R"({"id":"evt_2","type":"payment_intent.succeeded","data":{"object":{"id":"pi_2",)"
      R"("amount":700,"amount_received":0,"currency":"GBP","created":5,"latest_charge":null,)"
      R"("payment_method_types":["card","link"],"metadata":{"intacct_invoice":""}}}})");
  CHECK(ev.envelope.version == 0);
  CHECK(ev.envelope.snapshot == Pairs{{"AMOUNT", "700"},
                                      {"CREATED", "5"},
                                      {"CURRENCY", "GBP"},
                                      {"EVENT_ID", "evt_2"},
                                      {"PAYMENT_ID", "pi_2"}});
}

TEST_CASE(
    "charge events: PAYMENT_ID is the intent when set, else the charge; refunds carry the "
    "refunded amount") {
  auto with_pi = event_ok(
      charge(kChargeMembers + R"(,"payment_intent":"pi_1","payment_method_details":)"
                              R"({"type":"us_bank_account","us_bank_account":{"last4":"6789"}})"));
  CHECK(with_pi.envelope.key == "pi_1");
  CHECK(with_pi.envelope.snapshot == Pairs{{"AMOUNT", "1234"},
                                           {"CHARGE_ID", "ch_1"},
                                           {"CREATED", "1699999999"},
                                           {"CURRENCY", "EUR"},
                                           {"EVENT_ID", "evt_1"},
                                           {"METHOD", "us_bank_account"},
                                           {"PAYMENT_ID", "pi_1"}});
  CHECK(with_pi.envelope.raw.find("6789") == std::string::npos);

  auto bare = event_ok(charge(kChargeMembers + R"(,"payment_intent":null)"));
  CHECK(bare.envelope.key == "ch_1");
  auto empty_pi = event_ok(charge(kChargeMembers + R"(,"payment_intent":"")"));
  CHECK(empty_pi.envelope.key == "ch_1");

  auto refund = event_ok(
      charge(R"("id":"ch_3","amount":1000,"amount_refunded":250,"currency":"usd","created":7,)"
             R"("payment_intent":"pi_3","metadata":{"intacct_customer":"C9"})",
             "charge.refunded"));
  CHECK(refund.envelope.action == "charge.refunded");
  CHECK(refund.envelope.key == "pi_3");
  CHECK(refund.envelope.snapshot == Pairs{{"AMOUNT", "1000"},
                                          {"AMOUNT_REFUNDED", "250"},
                                          {"CHARGE_ID", "ch_3"},
                                          {"CREATED", "7"},
                                          {"CURRENCY", "USD"},
                                          {"CUSTOMER", "C9"},
                                          {"EVENT_ID", "evt_1"},
                                          {"PAYMENT_ID", "pi_3"}});
}

TEST_CASE("an unhandled event type keeps its type and only EVENT_ID") {
  auto ev =
      event_ok(R"({"id":"evt_cu","type":"customer.created","created":1700000100,"livemode":true,)"
               R"("data":{"object":{"id":"cus_1","email":"a@example.com"}}})");
  CHECK(ev.envelope.action == "customer.created");
  CHECK(ev.envelope.key == "cus_1");
  CHECK(ev.envelope.version == 1700000100);
  CHECK(ev.envelope.snapshot == Pairs{{"EVENT_ID", "evt_cu"}});
  auto no_id = event_ok(R"({"id":"evt_x","type":"balance.available","data":{"object":{}}})");
  CHECK(no_id.envelope.key.empty());
}

TEST_CASE("the stored copy is compact JSON with redacted members at any depth, numbers kept") {
  auto ev = event_ok(
      "{ \"id\" : \"evt_r\", \"type\":\"charge.succeeded\",\n \"data\":{\"object\":{"
      "\"id\":\"ch_1\",\"amount\":1234,\"currency\":\"usd\",\"created\":1,\"fee\":0.25,"
      "\"big\":18446744073709551615,\"billing_details\":{\"name\":\"Jane\"},"
      "\"refunds\":{\"data\":[{\"billing_details\":\"x\",\"receipt_email\":null,"
      "\"keep\":\"k\"}]},\"payment_method_details\":{\"type\":\"card\"}}}}");
  CHECK(ev.envelope.raw ==
        R"({"id":"evt_r","type":"charge.succeeded","data":{"object":{"id":"ch_1","amount":1234,)"
        R"("currency":"usd","created":1,"fee":0.25,"big":18446744073709551615,)"
        R"("billing_details":"[redacted]","refunds":{"data":[{"billing_details":"[redacted]",)"
        R"("receipt_email":"[redacted]","keep":"k"}]},"payment_method_details":"[redacted]"}}})");
  // METHOD is read before the redaction.
  CHECK(ev.envelope.snapshot.at(5) == std::pair<std::string, std::string>{"METHOD", "card"});
  auto none = parse_stripe_event(
      R"({"id":"evt_1","type":"x","data":{"object":{"billing_details":1}}})", {});
  REQUIRE(none.has_value());
  CHECK(none->envelope.raw.find(R"("billing_details":1)") != std::string::npos);
}

// ---- bodies that once crashed or corrupted the service ------------------------------

TEST_CASE("a body with a 170-digit number and exponent -491 is accepted, its text kept") {
  // The exact bytes of the body that once crashed the process (SIGSEGV in
  // RapidJSON 1.1.0's full-precision strtod).
  const std::string body =
      R"({"id":"evt_1","type":"customer.created","data":{"object":{"id":"cus_1","n":)"
      "11844184067474435070.951617443023372000000000000000000000000000000000000000000000000000000"
      "000000000000000000000000000000000000000000000000000000000000000000000000000001E-491}}}";
  REQUIRE(body.size() == 251);
  auto ev = event_ok(body);
  CHECK(ev.envelope.raw == body);
  CHECK(ev.envelope.key == "cus_1");
}

TEST_CASE("0E80, 0e100 and 3e308 in a Stripe body are stored as their text") {
  // The exact bytes of the 3e308 body: its copy was once cut short at "fee":.
  const std::string f8 =
      R"({"id":"evt_1","type":"charge.succeeded","data":{"object":{"id":"ch_1","amount":100,"currency":"usd","created":1,"fee":3e308}}})";
  auto ev = event_ok(f8);
  CHECK(ev.envelope.raw == f8);
  CHECK(ev.envelope.raw.find(R"("fee":3e308)") != std::string::npos);
  // 0E80 is the exact text of the zero-with-exponent input.
  for (std::string number : {"0E80", "0e100", "-0.0e-400", "1E308"}) {
    CAPTURE(number);
    auto e = event_ok(charge(kChargeMembers + R"(,"fee":)" + number));
    CHECK(e.envelope.raw.find(R"("fee":)" + number + "}") != std::string::npos);
  }
}

TEST_CASE("a number in the stored copy stays a number") {
  auto ev = event_ok(R"({"id":"evt_1","type":"x","data":{"object":{"amount":100,"s":"100"}}})");
  CHECK(ev.envelope.raw.find(R"("amount":100,)") != std::string::npos);
  CHECK(ev.envelope.raw.find(R"("s":"100")") != std::string::npos);
}

TEST_CASE("a lone surrogate in a Stripe body is malformed_body naming it") {
  // The exact bytes of the lone-surrogate input: stored once as invalid UTF-8.
  const std::string body = R"({"id":"evt_","type":"e","data":{"object":{"\ude00":{}}}})";
  CHECK(event_error(body) ==
        std::pair<std::string, std::string>{
            "malformed_body",
            "the JSON body has a lone surrogate \\ude00 in a string (not a character), before "
            "offset 50"});
  CHECK(event_error(charge(kChargeMembers + ",\"note\":\"\xff\"")) ==
        std::pair<std::string, std::string>{
            "malformed_body", "the JSON body has invalid UTF-8 in a string, at offset 171"});
}

TEST_CASE("checked integers are digits only, within 64 bits") {
  auto msg = [](const std::string& amount) {
    auto e = event_error(charge(R"("id":"ch_1","currency":"usd","created":1,"amount":)" + amount));
    CHECK(e.first == "invalid_field");
    return e.second;
  };
  for (std::string bad : {"100.0", "1e2", "\"+1\"", "18446744073709551616", "-1", "1E0"}) {
    CAPTURE(bad);
    CHECK(msg(bad) == "field \"data.object.amount\" must be a whole number of at least 0");
  }
  // A bare +1 is not JSON at all.
  CHECK(event_error(charge(R"("id":"ch_1","currency":"usd","created":1,"amount":+1)")).first ==
        "malformed_body");
  auto max =
      event_ok(charge(R"("id":"ch_1","currency":"usd","created":1,"amount":18446744073709551615)"));
  CHECK(max.envelope.snapshot.at(0) ==
        std::pair<std::string, std::string>{"AMOUNT", "18446744073709551615"});
  auto created = event_error(charge(R"("id":"ch_1","currency":"usd","amount":1,"created":1.0)"));
  CHECK(created.second == "field \"data.object.created\" must be a whole number");
}
