// Payment mapping: Stripe event facts and amounts.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "tests/handlers/payment_map_fixture.hpp"

using namespace isync;
using namespace isync::handlers::detail;
using namespace isync::handlers::detail::test;

// ---- Stripe events -----------------------------------------------------------

TEST_CASE("stripe_kind: succeeded payments and charges, refunds, and nothing else") {
  CHECK(stripe_kind("payment_intent.succeeded") == StripeKind::succeeded);
  CHECK(stripe_kind("charge.succeeded") == StripeKind::succeeded);
  CHECK(stripe_kind("charge.refunded") == StripeKind::refunded);
  CHECK(stripe_kind("payment_intent.payment_failed") == StripeKind::other);
  CHECK(stripe_kind("charge.refund.updated") == StripeKind::other);
  CHECK(stripe_kind("") == StripeKind::other);
}

TEST_CASE("payment_facts reads every field of a succeeded payment") {
  for (const char* type : {"payment_intent.succeeded", "charge.succeeded"}) {
    CAPTURE(type);
    auto r = payment_facts(stripe_event(type, succeeded_fields()));
    REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().message));
    CHECK(r->event_type == type);
    CHECK(r->event_id == "evt_1");
    CHECK(r->payment_id == "pi_1");
    CHECK(r->charge_id == "ch_1");
    CHECK(r->amount == 12345);
    CHECK(r->amount_refunded == 0);
    CHECK(r->currency == "USD");
    CHECK(r->created == 1795318200);
    CHECK(r->invoice == "INV-0042");
    CHECK(r->customer == "C-1");
    CHECK(r->method == "card");
  }
}

TEST_CASE("payment_facts reads the refunded amount of a refund") {
  auto r = payment_facts(
      stripe_event("charge.refunded", with_value(succeeded_fields(), "AMOUNT_REFUNDED", "12345")));
  REQUIRE(r.has_value());
  CHECK(r->event_type == "charge.refunded");
  CHECK(r->amount == 12345);
  CHECK(r->amount_refunded == 12345);
}

TEST_CASE("payment_facts leaves absent optional fields empty") {
  Pairs minimal = {
      {"PAYMENT_ID", "ch_9"}, {"AMOUNT", "500"}, {"CURRENCY", "JPY"}, {"CREATED", "1767225600"}};
  auto r = payment_facts(stripe_event("charge.succeeded", minimal));
  REQUIRE(r.has_value());
  CHECK(r->payment_id == "ch_9");
  CHECK(r->event_id.empty());
  CHECK(r->charge_id.empty());
  CHECK(r->invoice.empty());
  CHECK(r->customer.empty());
  CHECK(r->method.empty());
}

TEST_CASE("payment_facts names each missing required field and the Stripe event") {
  for (const char* field : {"PAYMENT_ID", "AMOUNT", "CURRENCY", "CREATED"}) {
    CAPTURE(field);
    auto r =
        payment_facts(stripe_event("payment_intent.succeeded", without(succeeded_fields(), field)));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == "invalid_event");
    CHECK(r.error().message == std::string(field) + " is missing in Stripe event evt_1");
  }
  auto refund = payment_facts(stripe_event("charge.refunded", succeeded_fields()));
  REQUIRE_FALSE(refund.has_value());
  CHECK(refund.error().code == "invalid_event");
  CHECK(refund.error().message == "AMOUNT_REFUNDED is missing in Stripe event evt_1");
}

TEST_CASE("payment_facts names each unreadable required field") {
  struct Bad {
    const char* field;
    const char* value;
  };
  for (Bad b : {Bad{"PAYMENT_ID", ""}, Bad{"PAYMENT_ID", "pi 1"}, Bad{"PAYMENT_ID", "pi_<1>"},
                Bad{"AMOUNT", ""}, Bad{"AMOUNT", "12.34"}, Bad{"AMOUNT", "1e5"}, Bad{"AMOUNT", "-"},
                Bad{"AMOUNT", "1234567890123456789"}, Bad{"CURRENCY", "US"},
                Bad{"CURRENCY", "USD1"}, Bad{"CURRENCY", "U$D"}, Bad{"CREATED", "-1"},
                Bad{"CREATED", "yesterday"}, Bad{"CREATED", "1234567890123"}}) {
    CAPTURE(b.field);
    CAPTURE(b.value);
    auto r = payment_facts(
        stripe_event("payment_intent.succeeded", with_value(succeeded_fields(), b.field, b.value)));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == "invalid_event");
    CHECK(r.error().message == std::string(b.field) + " is invalid in Stripe event evt_1");
  }
  auto refund = payment_facts(
      stripe_event("charge.refunded", with_value(succeeded_fields(), "AMOUNT_REFUNDED", "all")));
  REQUIRE_FALSE(refund.has_value());
  CHECK(refund.error().message == "AMOUNT_REFUNDED is invalid in Stripe event evt_1");
}

TEST_CASE("payment_facts upper-cases the currency and keeps a negative amount for map_payment") {
  auto r = payment_facts(
      stripe_event("charge.succeeded",
                   with_value(with_value(succeeded_fields(), "CURRENCY", "usd"), "AMOUNT", "-5")));
  REQUIRE(r.has_value());
  CHECK(r->currency == "USD");
  CHECK(r->amount == -5);
}

TEST_CASE("payment_facts falls back to the queue's event id when Stripe's is absent") {
  auto r = payment_facts(stripe_event("payment_intent.succeeded",
                                      without(without(succeeded_fields(), "EVENT_ID"), "AMOUNT")));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "AMOUNT is missing in Stripe event 01J0000000000000000000000Q");
}

TEST_CASE("payment_facts refuses events that are not Stripe payments") {
  auto other = payment_facts(stripe_event("customer.updated", succeeded_fields()));
  REQUIRE_FALSE(other.has_value());
  CHECK(other.error().code == "invalid_event");
  CHECK(other.error().message ==
        "Stripe event evt_1 of type 'customer.updated' is not a payment event");
  auto e = stripe_event("payment_intent.succeeded", succeeded_fields());
  e.source = "intacct";
  auto intacct = payment_facts(e);
  REQUIRE_FALSE(intacct.has_value());
  CHECK(intacct.error().message ==
        "Stripe event evt_1 of type 'payment_intent.succeeded' is not a payment event");
}

// ---- Amounts -------------------------------------------------------------------

TEST_CASE("currency_exponent: Stripe's zero-decimal and three-decimal currencies") {
  for (const char* c : {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX",
                        "VND", "VUV", "XAF", "XOF", "XPF"}) {
    CAPTURE(c);
    CHECK(currency_exponent(c) == 0);
  }
  for (const char* c : {"BHD", "JOD", "KWD", "OMR", "TND"}) {
    CAPTURE(c);
    CHECK(currency_exponent(c) == 3);
  }
  for (const char* c : {"USD", "EUR", "GBP", "CAD", "INR", "XYZ", ""}) {
    CAPTURE(c);
    CHECK(currency_exponent(c) == 2);
  }
}

TEST_CASE("format_amount writes minor units as decimal text") {
  CHECK(format_amount(12345, 2) == "123.45");
  CHECK(format_amount(5, 2) == "0.05");
  CHECK(format_amount(0, 2) == "0.00");
  CHECK(format_amount(100, 2) == "1.00");
  CHECK(format_amount(500, 0) == "500");
  CHECK(format_amount(0, 0) == "0");
  CHECK(format_amount(-150, 2) == "-1.50");
  CHECK(format_amount(-5, 2) == "-0.05");
  CHECK(format_amount(1234, 3) == "1.234");
  CHECK(format_amount(std::numeric_limits<std::int64_t>::max(), 2) == "92233720368547758.07");
  CHECK(format_amount(std::numeric_limits<std::int64_t>::min(), 2) == "-92233720368547758.08");
}

TEST_CASE("parse_amount reads Intacct decimal text into minor units") {
  CHECK(parse_amount("100", 2) == 10000);
  CHECK(parse_amount("100.5", 2) == 10050);
  CHECK(parse_amount("100.50", 2) == 10050);
  CHECK(parse_amount("100.500", 2) == 10050);
  CHECK(parse_amount("-3.25", 2) == -325);
  CHECK(parse_amount("1,234.50", 2) == 123450);
  CHECK(parse_amount("1,234,567.89", 2) == 123456789);
  CHECK(parse_amount("0", 2) == 0);
  CHECK(parse_amount("0.05", 2) == 5);
  CHECK(parse_amount(" 12.00 ", 2) == 1200);
  CHECK(parse_amount("500", 0) == 500);
  CHECK(parse_amount("500.00", 0) == 500);
  CHECK(parse_amount("000123.4", 2) == 12340);
}

TEST_CASE("parse_amount refuses unreadable text and decimals the currency cannot hold") {
  for (const char* s :
       {"", " ", "-", "abc", "1.2.3", "1.", ".5", "1,23", "12,3456", ",123", "1,234,", "1e5", "+5",
        "--5", "5-", "1 000", "12.3a", "1234567890123456789", "99999999999999999.99"}) {
    CAPTURE(s);
    CHECK_FALSE(parse_amount(s, 2).has_value());
  }
  CHECK_FALSE(parse_amount("1.005", 2).has_value());
  CHECK_FALSE(parse_amount("500.5", 0).has_value());
  CHECK_FALSE(parse_amount("1", -1).has_value());
}
