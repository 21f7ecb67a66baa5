// PaymentHandler against a real Redis and the sandbox's gateway over HTTP:
// Stripe refunds reversing the ARPYMT once, through the sandbox's faults
// (PRODUCT.md §2, §3; DESIGN-NOTES.md §6).
#include <doctest/doctest.h>

#include "tests/handlers/payment_fixture.hpp"

namespace isync::testing {
namespace {

// ---- 7 ----------------------------------------------------------------------

TEST_CASE("a full refund reverses the payment once; a redelivered refund is a duplicate") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  Pay p;
  REQUIRE(f.handle(stripe(p)).result == "posted");
  REQUIRE(f.inv_field(inv, "TOTALDUE") == "60.00");
  Pay refund = p;
  refund.type = "charge.refunded";
  refund.refunded = 4000;
  auto d = delivery(stripe(refund));
  auto out = f.handle(d);
  CHECK(out.kind == Kind::done);
  CHECK(out.result == "reversed");
  auto pays = f.payments();
  REQUIRE(pays.size() == 1);
  CHECK(pays[0].fields.at("STATE") == "Reversed");
  CHECK(pays[0].fields.at("REVERSEDDATE") == kReceipt);
  CHECK(f.inv_field(inv, "TOTALDUE") == "100.00");
  CHECK(f.inv_field(inv, "TOTALPAID") == "0.00");
  CHECK(f.ledger("pi_1", "state") == "reversed");
  CHECK(f.ledger("pi_1", "rcontrolid") ==
        handlers::detail::payment_control_id(kTenant, "pi_1", "reverse"));
  CHECK_FALSE(f.unsettled("pi_1"));
  const std::string n = std::to_string(pays[0].recordno);
  auto audit = f.audit("ARPYMT", n);
  REQUIRE(audit.size() == 2);
  CHECK(has(audit[0], "\"action\":\"refund\""));
  CHECK(f.audit("ARINVOICE", inv).size() == 2);
  d.attempt = 2;
  CHECK(f.handle(d).result == "duplicate");
  CHECK(f.handle(stripe(refund)).result == "duplicate");
  CHECK(f.executed("reverse_arpayment") == 1);
  CHECK(f.inv_field(inv, "TOTALDUE") == "100.00");
}

TEST_CASE("a reversal answered by a 524 is read back by RECORDNO and not sent twice") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  Pay p;
  REQUIRE(f.handle(stripe(p)).result == "posted");
  f.timeout_next_write();
  Pay refund = p;
  refund.type = "charge.refunded";
  refund.refunded = 4000;
  auto d = delivery(stripe(refund));
  auto first = f.handle(d);
  CHECK(first.kind == Kind::retry);
  CHECK(first.failure.cls == queue::FailureClass::ambiguous);
  CHECK(f.ledger("pi_1", "state") == "reverse_unknown");
  CHECK(f.unsettled("pi_1"));
  d.attempt = 2;
  auto out = f.handle(d);
  CHECK(out.kind == Kind::done);
  CHECK(out.result == "reversed");
  CHECK(f.executed("reverse_arpayment") == 1);
  CHECK(f.ledger("pi_1", "state") == "reversed");
  CHECK_FALSE(f.unsettled("pi_1"));
  CHECK(f.inv_field(inv, "TOTALDUE") == "100.00");
}

TEST_CASE("a reversal landing late is read back until it lands, without a second reversal") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  Pay p;
  REQUIRE(f.handle(stripe(p)).result == "posted");
  sandbox::Faults fault;
  fault.land_later = 1;
  fault.land_delay = std::chrono::milliseconds(2000);
  f.faults(fault);
  Pay refund = p;
  refund.type = "charge.refunded";
  refund.refunded = 4000;
  auto d = delivery(stripe(refund));
  REQUIRE(f.handle(d).failure.cls == queue::FailureClass::ambiguous);
  f.clock.advance(300);
  d.attempt++;
  auto waiting = f.handle(d);
  CHECK(waiting.kind == Kind::retry);
  CHECK(waiting.failure.code == "awaiting_readback");
  CHECK(f.ledger("pi_1", "state") == "reverse_unknown");
  f.sandbox_clock.advance(2100);
  REQUIRE(eventually([&] { return f.payments().at(0).fields.at("STATE") == "Reversed"; }));
  f.clock.advance(300);
  d.attempt++;
  CHECK(f.handle(d).result == "reversed");
  CHECK(f.inv_field(inv, "TOTALDUE") == "100.00");
  CHECK(f.ledger("pi_1", "rsends") == "1");
}

TEST_CASE("a partial refund is a dead letter that tells on-call what to do in Intacct") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  Pay p;
  REQUIRE(f.handle(stripe(p)).result == "posted");
  const std::string n = std::to_string(f.payments().at(0).recordno);
  Pay refund = p;
  refund.type = "charge.refunded";
  refund.refunded = 1500;
  auto out = f.handle(stripe(refund));
  CHECK(out.kind == Kind::dead);
  CHECK(out.failure.cls == queue::FailureClass::permanent);
  CHECK(out.failure.code == "partial_refund");
  CHECK(out.failure.message == "payment pi_1 (Intacct ARPYMT " + n +
                                   ") was partly refunded: 15.00 of 40.00 USD. Intacct cannot "
                                   "reverse part of a payment.");
  CHECK(out.failure.correction ==
        "In Intacct, reverse ARPYMT " + n +
            " and record a new payment of 25.00 USD for the same invoice (or keep the payment and "
            "record the refund as an AR adjustment); then discard this event. A later full refund "
            "is reversed automatically.");
  CHECK(f.executed("reverse_arpayment") == 0);
  CHECK(f.ledger("pi_1", "state") == "posted");
  CHECK(f.inv_field(inv, "TOTALDUE") == "60.00");
}

TEST_CASE("a refund of a payment not posted yet is retried until the payment is") {
  PayFixture f;
  f.invoice("INV-1", "100.00");
  Pay refund;
  refund.type = "charge.refunded";
  refund.refunded = 4000;
  auto d = delivery(stripe(refund));
  auto out = f.handle(d);
  CHECK(out.kind == Kind::retry);
  CHECK(out.failure.code == "payment_not_posted");
  CHECK(out.failure.message ==
        "refund of payment pi_1 waits until the payment itself is posted to Intacct");
  CHECK(f.executed("reverse_arpayment") == 0);
  REQUIRE(f.handle(stripe(Pay{})).result == "posted");
  d.attempt = 2;
  CHECK(f.handle(d).result == "reversed");
  CHECK(f.payments().at(0).fields.at("STATE") == "Reversed");
}

}  // namespace
}  // namespace isync::testing
