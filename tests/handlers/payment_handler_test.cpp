// PaymentHandler against a real Redis and the sandbox's gateway over HTTP:
// Stripe payments posted to Intacct as ARPYMTs exactly once, through every
// fault the sandbox can inject (PRODUCT.md §2, §3; DESIGN-NOTES.md §6).
#include <doctest/doctest.h>

#include "tests/handlers/payment_fixture.hpp"

namespace isync::testing {
namespace {

// ---- 1 ----------------------------------------------------------------------

TEST_CASE("a payment to an invoice is posted once with the mapped fields, ledger and mirror") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  Pay p;
  p.customer = "C1";
  auto e = stripe(p);
  auto out = f.handle(e);
  CHECK(out.kind == Kind::done);
  CHECK(out.result == "posted");
  auto pays = f.payments();
  REQUIRE(pays.size() == 1);
  const auto& rec = pays[0].fields;
  const std::string n = std::to_string(pays[0].recordno);
  CHECK(rec.at("CUSTOMERID") == "C1");
  CHECK(rec.at("DOCNUMBER") == "pi_1");
  CHECK(rec.at("PAYMENTMETHOD") == "Credit Card");
  CHECK(rec.at("FINANCIALENTITY") == "BOA");
  CHECK(rec.at("RECEIPTDATE") == kReceipt);
  CHECK(rec.at("PAYMENTDATE") == kReceipt);
  CHECK(rec.at("CURRENCY") == "USD");
  CHECK(rec.at("TOTALENTERED") == "40.00");
  CHECK(rec.at("ARPYMTDETAILS.ARPYMTDETAIL.0.RECORDKEY") == inv);
  CHECK(rec.at("ARPYMTDETAILS.ARPYMTDETAIL.0.TRX_PAYMENTAMOUNT") == "40.00");
  CHECK(f.inv_field(inv, "TOTALPAID") == "40.00");
  CHECK(f.inv_field(inv, "TOTALDUE") == "60.00");
  // The ledger.
  CHECK(f.ledger("pi_1", "state") == "posted");
  CHECK(f.ledger("pi_1", "recordno") == n);
  CHECK(f.ledger("pi_1", "sends") == "1");
  CHECK(f.ledger("pi_1", "controlid") ==
        handlers::detail::payment_control_id(kTenant, "pi_1", "create"));
  CHECK_FALSE(f.unsettled("pi_1"));
  CHECK(f.server.cmd({"EXISTS", queue::key(kTenant, "pay-lock:INV-1")}).integer == 0);
  // The mirror: the payment's record, its id lookup, and audit links both ways.
  auto mirrored = f.fields("ARPYMT", n);
  CHECK(mirrored["RECORDNO"] == n);
  CHECK(mirrored["DOCNUMBER"] == "pi_1");
  CHECK(mirrored["CUSTOMERID"] == "C1");
  CHECK(f.server.cmd({"SISMEMBER", queue::key(kTenant, "id:ARPYMT:pi_1"), n}).integer == 1);
  auto pay_audit = f.audit("ARPYMT", n);
  REQUIRE(pay_audit.size() == 1);
  CHECK(has(pay_audit[0], "\"payment_id\":\"pi_1\""));
  CHECK(has(pay_audit[0], "\"invoice\":\"" + inv + "\""));
  CHECK(has(pay_audit[0], "\"event_id\":\"" + e.event_id + "\""));
  CHECK(has(pay_audit[0], "\"result\":\"posted\""));
  auto inv_audit = f.audit("ARINVOICE", inv);
  REQUIRE(inv_audit.size() == 1);
  CHECK(has(inv_audit[0], "\"arpymt\":\"" + n + "\""));
  CHECK(has(inv_audit[0], "\"payment_id\":\"pi_1\""));
  CHECK(f.executed("create") == 1);
}

// ---- 2 ----------------------------------------------------------------------

TEST_CASE("a redelivered payment and its other event type are duplicates, never a second ARPYMT") {
  PayFixture f;
  f.invoice("INV-1", "100.00");
  Pay p;
  auto first = stripe(p);
  auto d = delivery(first);
  REQUIRE(f.handle(d).result == "posted");
  d.attempt = 2;
  auto again = f.handle(d);
  CHECK(again.kind == Kind::done);
  CHECK(again.result == "duplicate");
  Pay charge = p;
  charge.type = "charge.succeeded";
  auto other = f.handle(stripe(charge));
  CHECK(other.kind == Kind::done);
  CHECK(other.result == "duplicate");
  CHECK(f.payments().size() == 1);
  CHECK(f.executed("create") == 1);
}

TEST_CASE("both event types of one payment handled at once: one waits, one ARPYMT") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  sandbox::Faults slow;
  slow.latency = std::chrono::milliseconds(300);
  f.faults(slow);
  Pay p;
  Pay charge = p;
  charge.type = "charge.succeeded";
  auto d1 = delivery(stripe(p));
  auto d2 = delivery(stripe(charge));
  auto p1 = std::make_shared<std::promise<queue::Outcome>>();
  auto p2 = std::make_shared<std::promise<queue::Outcome>>();
  f.pay->handle(d1, [p1](queue::Outcome o) { p1->set_value(std::move(o)); });
  f.pay->handle(d2, [p2](queue::Outcome o) { p2->set_value(std::move(o)); });
  auto r1 = p1->get_future();
  auto r2 = p2->get_future();
  REQUIRE(r1.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  REQUIRE(r2.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  std::vector<queue::Outcome> outs{r1.get(), r2.get()};
  int posted = 0, busy = 0;
  queue::Delivery* retried = nullptr;
  for (std::size_t i = 0; i < 2; ++i) {
    if (outs[i].result == "posted") ++posted;
    if (outs[i].kind == Kind::retry) {
      ++busy;
      CHECK(outs[i].failure.code == "payment_in_progress");
      CHECK(outs[i].failure.message ==
            "payment pi_1 is being handled by another worker; retried later");
      CHECK(outs[i].retry_after.count() > 0);
      retried = i == 0 ? &d1 : &d2;
    }
  }
  CHECK(posted == 1);
  CHECK(busy == 1);
  REQUIRE(retried != nullptr);
  retried->attempt = 2;
  CHECK(f.handle(*retried).result == "duplicate");
  CHECK(f.payments().size() == 1);
  CHECK(f.executed("create") == 1);
  CHECK(f.inv_field(inv, "TOTALDUE") == "60.00");
}

// ---- 3 ----------------------------------------------------------------------

TEST_CASE("a 524 after the create ran is ambiguous; the next attempt reads back and adopts it") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  f.timeout_next_write();
  Pay p;
  auto d = delivery(stripe(p));
  auto first = f.handle(d);
  CHECK(first.kind == Kind::retry);
  CHECK(first.failure.cls == queue::FailureClass::ambiguous);
  CHECK(first.failure.code == "ambiguous");
  CHECK(first.retry_after == std::chrono::milliseconds(300));
  CHECK(has(first.failure.message, "payment pi_1: creating the ARPYMT failed: Intacct transport"));
  CHECK(f.ledger("pi_1", "state") == "unknown");
  CHECK(f.unsettled("pi_1"));
  REQUIRE(f.payments().size() == 1);  // it did run
  d.attempt = 2;
  auto second = f.handle(d);
  CHECK(second.kind == Kind::done);
  CHECK(second.result == "adopted");
  CHECK(f.payments().size() == 1);
  CHECK(f.proxy->creates().size() == 1);
  CHECK(f.ledger("pi_1", "state") == "posted");
  CHECK(f.ledger("pi_1", "recordno") == std::to_string(f.payments()[0].recordno));
  CHECK_FALSE(f.unsettled("pi_1"));
  CHECK(f.readbacks("found") == 1);
  CHECK(f.inv_field(inv, "TOTALDUE") == "60.00");
}

TEST_CASE("the next payment to an invoice waits while an earlier one's create may have run") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  f.timeout_next_write();
  Pay p;
  auto d = delivery(stripe(p));
  REQUIRE(f.handle(d).kind == Kind::retry);  // unknown: the invoice lock stays with pi_1
  CHECK(f.server.cmd({"GET", queue::key(kTenant, "pay-lock:INV-1")}).str == "pi_1");
  Pay q;
  q.id = "pi_2";
  q.amount = 6000;  // the rest of the balance once pi_1's 40.00 is counted
  auto other = f.handle(stripe(q));
  CHECK(other.kind == Kind::retry);
  CHECK(other.failure.code == "invoice_busy");
  CHECK(f.payments().size() == 1);
  d.attempt = 2;
  CHECK(f.handle(d).result == "adopted");  // settled: the lock is free
  CHECK(f.server.cmd({"EXISTS", queue::key(kTenant, "pay-lock:INV-1")}).integer == 0);
  CHECK(f.handle(stripe(q)).result == "posted");
  CHECK(f.payments().size() == 2);
  CHECK(f.inv_field(inv, "TOTALDUE") == "0.00");
}

// ---- 4 ----------------------------------------------------------------------

TEST_CASE("a write landing late is read back without a resend until it lands, then adopted") {
  PayFixture f;
  f.invoice("INV-1", "100.00");
  sandbox::Faults fault;
  fault.land_later = 1;
  fault.land_delay = std::chrono::milliseconds(2000);
  f.faults(fault);
  Pay p;
  auto d = delivery(stripe(p));
  auto first = f.handle(d);
  CHECK(first.kind == Kind::retry);
  CHECK(first.failure.code == "ambiguous");
  CHECK(f.ledger("pi_1", "state") == "unknown");
  CHECK(f.payments().empty());
  // Read-backs within readback_wait find nothing and send nothing.
  for (int i = 0; i < 2; ++i) {
    f.clock.advance(300);
    d.attempt++;
    auto out = f.handle(d);
    CHECK(out.kind == Kind::retry);
    CHECK(out.failure.code == "awaiting_readback");
    CHECK(out.failure.message ==
          "payment pi_1 is not in Intacct yet after an ambiguous send; read back again before any "
          "new attempt");
    CHECK(out.retry_after.count() >= 100);
    CHECK(f.ledger("pi_1", "state") == "unknown");
  }
  CHECK(f.readbacks("not_found") == 2);
  CHECK(f.proxy->creates().size() == 1);
  // It lands.
  f.sandbox_clock.advance(2100);
  REQUIRE(eventually([&] { return f.payments().size() == 1; }));
  f.clock.advance(600);
  d.attempt++;
  auto out = f.handle(d);
  CHECK(out.kind == Kind::done);
  CHECK(out.result == "adopted");
  CHECK(f.payments().size() == 1);
  CHECK(f.proxy->creates().size() == 1);
  CHECK(f.ledger("pi_1", "state") == "posted");
}

TEST_CASE("a write that never landed is sent again with the same controlid after readback_wait") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  f.proxy->fail_creates = 1;  // HTTP 503, never passed on
  Pay p;
  auto d = delivery(stripe(p));
  auto first = f.handle(d);
  CHECK(first.kind == Kind::retry);
  CHECK(first.failure.cls == queue::FailureClass::ambiguous);
  CHECK(has(first.failure.message, "HTTP 503"));
  CHECK(f.ledger("pi_1", "state") == "unknown");
  f.clock.advance(300);
  d.attempt++;
  auto waiting = f.handle(d);
  CHECK(waiting.failure.code == "awaiting_readback");
  CHECK(f.proxy->creates().size() == 1);
  f.clock.advance(5000);
  d.attempt++;
  auto out = f.handle(d);
  CHECK(out.kind == Kind::done);
  CHECK(out.result == "posted");
  auto creates = f.proxy->creates();
  REQUIRE(creates.size() == 2);
  CHECK(controlid_of(creates[0]) ==
        handlers::detail::payment_control_id(kTenant, "pi_1", "create"));
  CHECK(controlid_of(creates[1]) == controlid_of(creates[0]));
  CHECK(f.payments().size() == 1);
  CHECK(f.ledger("pi_1", "sends") == "2");
  CHECK(f.ledger("pi_1", "state") == "posted");
  CHECK(f.inv_field(inv, "TOTALDUE") == "60.00");
}

TEST_CASE(
    "a write landing after readback_wait: the resend is refused as a duplicate, then adopted") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  sandbox::Faults fault;
  fault.land_later = 1;
  fault.land_delay = std::chrono::milliseconds(8000);
  f.faults(fault);
  Pay p;
  auto d = delivery(stripe(p));
  REQUIRE(f.handle(d).failure.code == "ambiguous");
  // Past readback_wait: the same request goes again, and Intacct refuses
  // the controlid it is still working on.
  f.clock.advance(5000);
  d.attempt++;
  auto resent = f.handle(d);
  CHECK(resent.kind == Kind::retry);
  CHECK(f.proxy->creates().size() == 2);
  CHECK(f.payments().empty());
  CHECK(f.ledger("pi_1", "state") == "unknown");
  f.sandbox_clock.advance(8100);
  REQUIRE(eventually([&] { return f.payments().size() == 1; }));
  f.clock.advance(1000);
  d.attempt++;
  auto out = f.handle(d);
  CHECK(out.kind == Kind::done);
  CHECK(out.result == "adopted");
  CHECK(f.payments().size() == 1);
  CHECK(f.ledger("pi_1", "state") == "posted");
  CHECK(f.inv_field(inv, "TOTALDUE") == "60.00");
}

TEST_CASE("a payment naming its invoice by RECORDNO is posted to that invoice") {
  PayFixture f;
  f.invoice("INV-0", "10.00");
  const auto inv = f.invoice("INV-1", "100.00");
  Pay p;
  p.invoice = inv;
  CHECK(f.handle(stripe(p)).result == "posted");
  CHECK(f.payments().at(0).fields.at("ARPYMTDETAILS.ARPYMTDETAIL.0.RECORDKEY") == inv);
  CHECK(f.inv_field(inv, "TOTALDUE") == "60.00");
}

// ---- 5 ----------------------------------------------------------------------

TEST_CASE("after a crash past the intent a new worker reads back before it sends again") {
  PayFixture f;
  f.invoice("INV-1", "100.00");
  // The first worker: its own Redis connection, its call held unanswered.
  auto conn1 = connect(f.io->executor(), f.server.endpoint());
  auto hub1 = f.make_hub(conn1, f.clock);
  handlers::PaymentHandler worker1(
      conn1, f.pay_opts, std::map<std::string, handlers::PaymentPolicy>{{kTenant, f.policy}},
      f.metrics, f.clock, f.log, f.io->executor(), hub1);
  f.proxy->hold_creates = true;
  Pay p;
  auto d = delivery(stripe(p));
  auto lost = std::make_shared<std::promise<queue::Outcome>>();
  worker1.handle(d, [lost](queue::Outcome o) { lost->set_value(std::move(o)); });
  REQUIRE(eventually([&] { return f.proxy->held == 1; }));
  CHECK(f.ledger("pi_1", "state") == "posting");
  CHECK(f.ledger("pi_1", "sends") == "1");
  CHECK_FALSE(f.ledger("pi_1", "body").empty());
  CHECK(f.unsettled("pi_1"));
  // The crash: nothing of worker1 reaches Redis any more; its lease and lock
  // run out.
  conn1->close();
  f.proxy->hold_creates = false;
  REQUIRE(eventually([&] {
    return f.server.cmd({"EXISTS", queue::key(kTenant, "pay-lock:INV-1")}).integer == 0;
  }));
  // A new worker, its clock past the lease.
  ManualClock clock2{f.clock.now_ms() + 2500};
  auto hub2 = f.make_hub(f.conn, clock2);
  handlers::PaymentHandler worker2(
      f.conn, f.pay_opts, std::map<std::string, handlers::PaymentPolicy>{{kTenant, f.policy}},
      f.metrics, clock2, f.log, f.io->executor(), hub2);
  d.attempt = 2;
  auto first = f.handle(d, &worker2);
  CHECK(first.kind == Kind::retry);
  CHECK(first.failure.code == "awaiting_readback");
  CHECK(f.readbacks("not_found") == 1);
  CHECK(f.executed("create") == 0);
  CHECK(f.ledger("pi_1", "state") == "unknown");
  clock2.advance(5000);
  d.attempt = 3;
  auto out = f.handle(d, &worker2);
  CHECK(out.kind == Kind::done);
  CHECK(out.result == "posted");
  CHECK(f.payments().size() == 1);
  CHECK(f.readbacks("not_found") == 2);
  CHECK(f.ledger("pi_1", "state") == "posted");
  CHECK(f.ledger("pi_1", "sends") == "2");
  hub2->shutdown();
  hub1->shutdown();
}

// ---- 6 ----------------------------------------------------------------------

TEST_CASE("a duplicate-number error is adopted when the ARPYMT is ours, dead letter when not") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  f.company.set_settings({false, true});
  // As if our earlier write had landed.
  const auto ours = f.add("ARPYMT", {{"CUSTOMERID", "C1"},
                                     {"PAYMENTMETHOD", "Credit Card"},
                                     {"FINANCIALENTITY", "BOA"},
                                     {"RECEIPTDATE", kReceipt},
                                     {"DOCNUMBER", "pi_6"},
                                     {"ARPYMTDETAILS.ARPYMTDETAIL.0.RECORDKEY", inv},
                                     {"ARPYMTDETAILS.ARPYMTDETAIL.0.TRX_PAYMENTAMOUNT", "40.00"}});
  Pay p;
  p.id = "pi_6";
  auto out = f.handle(stripe(p));
  CHECK(out.kind == Kind::done);
  CHECK(out.result == "adopted");
  CHECK(f.payments().size() == 1);
  CHECK(f.ledger("pi_6", "recordno") == std::to_string(ours.recordno));
  CHECK(f.ledger("pi_6", "state") == "posted");
  // Someone else's payment under our number.
  const auto theirs =
      f.add("ARPYMT", {{"CUSTOMERID", "C1"},
                       {"PAYMENTMETHOD", "Cash"},
                       {"FINANCIALENTITY", "BOA"},
                       {"RECEIPTDATE", kReceipt},
                       {"DOCNUMBER", "pi_7"},
                       {"ARPYMTDETAILS.ARPYMTDETAIL.0.RECORDKEY", inv},
                       {"ARPYMTDETAILS.ARPYMTDETAIL.0.TRX_PAYMENTAMOUNT", "30.00"}});
  Pay q;
  q.id = "pi_7";
  q.amount = 2000;
  auto conflict = f.handle(stripe(q));
  CHECK(conflict.kind == Kind::dead);
  CHECK(conflict.failure.cls == queue::FailureClass::permanent);
  CHECK(conflict.failure.code == "docnumber_conflict");
  CHECK(conflict.failure.message ==
        "Intacct has ARPYMT " + std::to_string(theirs.recordno) +
            " with DOCNUMBER pi_7 for customer C1 and amount 30.00, which is not this payment "
            "(C1, 20.00); nothing was posted.");
  CHECK(conflict.failure.correction ==
        "Check that ARPYMT in Intacct; if it is this payment entered by hand, discard this event, "
        "else post the payment by hand.");
  CHECK(f.payments().size() == 2);
  CHECK(f.ledger("pi_7", "state") == "failed");
  CHECK_FALSE(f.unsettled("pi_7"));
}

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

// ---- 8 ----------------------------------------------------------------------

TEST_CASE("an invoice Intacct does not have is a dead letter naming it") {
  PayFixture f;
  Pay p;
  p.invoice = "INV-404";
  const auto event = stripe(p);
  auto out = f.handle(event);
  CHECK(out.kind == Kind::dead);
  CHECK(out.failure.code == "invoice_not_found");
  CHECK(out.failure.message ==
        "Intacct invoice INV-404 does not exist (no ARINVOICE with that RECORDID or RECORDNO); "
        "payment pi_1 was not posted.");
  CHECK(out.failure.correction ==
        "Find the invoice in Intacct (the payment's metadata intacct_invoice names INV-404), then "
        "correct this event and replay it: intacct-sync events replay " +
            event.event_id +
            " --set INVOICE=<RECORDNO or RECORDID> (admin API: POST /v1/admin/events/replay with "
            "\"set\":{\"INVOICE\":\"<RECORDNO or RECORDID>\"}). Or apply the payment by hand "
            "in Intacct and discard this event.");
  CHECK(f.ledger("pi_1", "state") == "failed");
  CHECK(f.payments().empty());
}

TEST_CASE("an invoice in the mirror but deleted in Intacct is a dead letter invoice_deleted") {
  PayFixture f;
  f.server.cmd({"SADD", queue::key(kTenant, "id:ARINVOICE:INV-9"), "77"});
  Pay p;
  p.invoice = "INV-9";
  auto out = f.handle(stripe(p));
  CHECK(out.kind == Kind::dead);
  CHECK(out.failure.code == "invoice_deleted");
  CHECK(has(out.failure.message,
            "Intacct invoice INV-9 (RECORDNO 77 in the mirror) no longer "
            "exists in Intacct"));
  CHECK(has(out.failure.message, "Payment pi_1 was not posted."));
  CHECK(f.payments().empty());
}

TEST_CASE("an invoice named by a RECORDNO the mirror holds but Intacct lacks is invoice_deleted") {
  PayFixture f;
  f.server.cmd({"HSET", queue::key(kTenant, "rec:ARINVOICE:8801"), "v", "1700000000", "del", "0"});
  Pay p;
  p.invoice = "8801";
  auto out = f.handle(stripe(p));
  CHECK(out.kind == Kind::dead);
  CHECK(out.failure.code == "invoice_deleted");
  CHECK(has(out.failure.message,
            "Intacct invoice 8801 (RECORDNO 8801 in the mirror) no longer exists in Intacct"));
  Pay q;
  q.id = "pi_2";
  q.invoice = "8802";
  CHECK(f.handle(stripe(q)).failure.code == "invoice_not_found");
  CHECK(f.payments().empty());
}

TEST_CASE("Intacct's refusal is a dead letter with its words; a replay after the fix posts it") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  f.company.set_settings({true, false});
  Pay p;
  auto d = delivery(stripe(p));
  auto out = f.handle(d);
  CHECK(out.kind == Kind::dead);
  CHECK(out.failure.cls == queue::FailureClass::permanent);
  CHECK(out.failure.code == "payment_batch_required");
  CHECK(out.failure.message ==
        "payment pi_1: Intacct says \"Please provide a payment batch key.\": its AR is set to "
        "user-specified payment summaries, so each payment needs a batch, and nothing was "
        "posted. Fix: in Intacct set the AR payment summary frequency to Daily or Monthly "
        "(Accounts Receivable > Setup > Configure), or set payment_batch (PRBATCH) for the "
        "tenant; then replay this event.");
  CHECK(out.failure.errorno == "BL01001973");
  CHECK(out.failure.description == "Please provide a payment batch key.");
  CHECK(out.failure.correction ==
        "Send PRBATCH, or set the AR payment summary frequency to Daily or Monthly.");
  CHECK(out.failure.controlid == handlers::detail::payment_control_id(kTenant, "pi_1", "create"));
  CHECK(f.ledger("pi_1", "state") == "failed");
  CHECK_FALSE(f.unsettled("pi_1"));
  CHECK(f.payments().empty());
  // The other event type of a failed payment does not post it behind the
  // dead letter's back.
  Pay charge = p;
  charge.type = "charge.succeeded";
  CHECK(f.handle(stripe(charge)).result == "failed_before");
  CHECK(f.payments().empty());
  // Fixed in Intacct; the dead letter is replayed (same event id).
  f.company.set_settings({false, false});
  d.attempt = 1;
  auto replay = f.handle(d);
  CHECK(replay.kind == Kind::done);
  CHECK(replay.result == "posted");
  CHECK(f.payments().size() == 1);
  CHECK(f.inv_field(inv, "TOTALDUE") == "60.00");
  CHECK(f.ledger("pi_1", "state") == "posted");
}

TEST_CASE("mapping refusals: over the balance, currency, customer, three-decimal currency") {
  PayFixture f;
  f.invoice("INV-1", "100.00");
  f.invoice("INV-EUR", "100.00", "C1", "EUR");
  const std::string label = "INV-1 (RECORDNO 1)";
  SUBCASE("over the balance") {
    Pay p;
    p.amount = 15000;
    auto out = f.handle(stripe(p));
    CHECK(out.kind == Kind::dead);
    CHECK(out.failure.code == "over_balance");
    CHECK(out.failure.message ==
          "Payment pi_1 of 150.00 USD exceeds the balance 100.00 of invoice " + label + ".");
    CHECK(has(out.failure.correction, "overpayment = \"advance\""));
  }
  SUBCASE("currency") {
    Pay p;
    p.currency = "EUR";
    auto out = f.handle(stripe(p));
    CHECK(out.kind == Kind::dead);
    CHECK(out.failure.code == "currency_mismatch");
    CHECK(out.failure.message == "Payment pi_1 is in EUR but invoice " + label + " is in USD.");
  }
  SUBCASE("customer") {
    Pay p;
    p.customer = "C2";
    auto out = f.handle(stripe(p));
    CHECK(out.kind == Kind::dead);
    CHECK(out.failure.code == "customer_mismatch");
    CHECK(out.failure.message ==
          "Payment pi_1 names customer C2 but invoice " + label + " belongs to customer C1.");
  }
  SUBCASE("three decimals") {
    Pay p;
    p.currency = "KWD";
    auto out = f.handle(stripe(p));
    CHECK(out.kind == Kind::dead);
    CHECK(out.failure.code == "unsupported_currency");
    CHECK(out.failure.message ==
          "Payment pi_1 is in KWD, whose amounts have 3 decimals; Intacct amounts have 2. Post it "
          "by hand in Intacct.");
  }
  CHECK(f.payments().empty());
  CHECK(f.ledger("pi_1", "state") == "failed");
  CHECK(f.executed("create") == 0);
}

// ---- 9 ----------------------------------------------------------------------

TEST_CASE("rejected credentials park the payment with the circuit open and post nothing") {
  PayFixture f("wrong-password");
  f.invoice("INV-1", "100.00");
  auto out = f.handle(stripe(Pay{}));
  CHECK(out.kind == Kind::park);
  CHECK(out.failure.code == "intacct_circuit_open");
  CHECK(out.failure.message ==
        "the Intacct credentials of tenant acme were rejected (circuit open); payment pi_1 waits "
        "until they work again");
  CHECK(f.payments().empty());
  CHECK(f.ledger("pi_1", "owner").empty());
}

// ---- 10 ---------------------------------------------------------------------

TEST_CASE("a payment naming only a customer is an unapplied advance") {
  PayFixture f;
  Pay p;
  p.invoice = "";
  p.customer = "C2";
  p.method = "us_bank_account";
  auto out = f.handle(stripe(p));
  CHECK(out.kind == Kind::done);
  CHECK(out.result == "posted");
  auto pays = f.payments();
  REQUIRE(pays.size() == 1);
  const auto& rec = pays[0].fields;
  CHECK(rec.at("CUSTOMERID") == "C2");
  CHECK(rec.at("PAYMENTMETHOD") == "EFT");
  CHECK(rec.at("TOTALENTERED") == "40.00");
  CHECK(rec.at("TOTALUNAPPLIED") == "40.00");
  CHECK(rec.count("ARPYMTDETAILS.ARPYMTDETAIL.0.RECORDKEY") == 0);
  const std::string n = std::to_string(pays[0].recordno);
  CHECK(f.fields("ARPYMT", n)["TOTALENTERED"] == "40.00");
  CHECK(f.ledger("pi_1", "state") == "posted");
}

TEST_CASE("with overpayment as advance the balance is applied and the rest kept unapplied") {
  PayFixture f;
  f.policy.overpayment_as_advance = true;
  f.rebuild_payments();
  const auto inv = f.invoice("INV-1", "100.00");
  Pay p;
  p.amount = 15000;
  auto out = f.handle(stripe(p));
  CHECK(out.kind == Kind::done);
  CHECK(out.result == "posted");
  auto pays = f.payments();
  REQUIRE(pays.size() == 1);
  const auto& rec = pays[0].fields;
  CHECK(rec.at("TOTALENTERED") == "150.00");
  CHECK(rec.at("ARPYMTDETAILS.ARPYMTDETAIL.0.TRX_PAYMENTAMOUNT") == "100.00");
  CHECK(rec.at("TOTALUNAPPLIED") == "50.00");
  CHECK(f.inv_field(inv, "TOTALDUE") == "0.00");
}

// ---- 11 ---------------------------------------------------------------------

TEST_CASE("two payments to one invoice at once are posted one at a time") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  sandbox::Faults slow;
  slow.latency = std::chrono::milliseconds(300);
  f.faults(slow);
  Pay a;
  a.id = "pi_a";
  a.amount = 3000;
  Pay b;
  b.id = "pi_b";
  b.amount = 2000;
  auto da = delivery(stripe(a));
  auto db = delivery(stripe(b));
  auto pa = std::make_shared<std::promise<queue::Outcome>>();
  auto pb = std::make_shared<std::promise<queue::Outcome>>();
  f.pay->handle(da, [pa](queue::Outcome o) { pa->set_value(std::move(o)); });
  f.pay->handle(db, [pb](queue::Outcome o) { pb->set_value(std::move(o)); });
  auto ra = pa->get_future();
  auto rb = pb->get_future();
  REQUIRE(ra.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  REQUIRE(rb.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  auto oa = ra.get();
  auto ob = rb.get();
  CHECK((oa.kind == Kind::retry) != (ob.kind == Kind::retry));
  auto& waited = oa.kind == Kind::retry ? oa : ob;
  auto& retry_d = oa.kind == Kind::retry ? da : db;
  CHECK(waited.failure.code == "invoice_busy");
  CHECK(waited.failure.message ==
        "another payment to invoice INV-1 is being posted; payments to one invoice go one at a "
        "time");
  CHECK(f.payments().size() == 1);
  retry_d.attempt = 2;
  CHECK(f.handle(retry_d).result == "posted");
  CHECK(f.payments().size() == 2);
  CHECK(f.inv_field(inv, "TOTALDUE") == "50.00");
  CHECK(f.inv_field(inv, "TOTALPAID") == "50.00");
  CHECK(f.ledger("pi_a", "state") == "posted");
  CHECK(f.ledger("pi_b", "state") == "posted");
}

// ---- 12 ---------------------------------------------------------------------

TEST_CASE("other event types are ignored; a payment for no invoice or customer is not ours") {
  PayFixture f;
  Pay other;
  other.type = "customer.created";
  auto ignored = f.handle(stripe(other));
  CHECK(ignored.kind == Kind::done);
  CHECK(ignored.result == "ignored");
  Pay none;
  none.invoice = "";
  auto out = f.handle(stripe(none));
  CHECK(out.kind == Kind::done);
  CHECK(out.result == "not_for_intacct");
  CHECK(f.ledger("pi_1", "state").empty());
  CHECK(f.company.stats().requests == 0);
}

// ---- 13 ---------------------------------------------------------------------

TEST_CASE("unsettled_payments lists a payment left unknown until it settles") {
  PayFixture f;
  f.invoice("INV-1", "100.00");
  f.timeout_next_write();
  Pay p;
  auto d = delivery(stripe(p));
  REQUIRE(f.handle(d).failure.code == "ambiguous");
  auto list = await<Result<std::vector<handlers::PaymentState>>>(
      [&](auto cb) { handlers::unsettled_payments(*f.conn, kTenant, 10, cb); });
  REQUIRE(list.has_value());
  REQUIRE(list->size() == 1);
  const auto& s = list->front();
  CHECK(s.payment_id == "pi_1");
  CHECK(s.state == "unknown");
  CHECK(s.sends == 1);
  CHECK(s.amount == "40.00");
  CHECK(s.currency == "USD");
  CHECK(s.customer == "C1");
  CHECK(s.invoice == "1");
  CHECK(s.since_ms == f.clock.now_ms());
  CHECK(has(s.error, "ambiguous: "));
  d.attempt = 2;
  REQUIRE(f.handle(d).result == "adopted");
  auto after = await<Result<std::vector<handlers::PaymentState>>>(
      [&](auto cb) { handlers::unsettled_payments(*f.conn, kTenant, 10, cb); });
  REQUIRE(after.has_value());
  CHECK(after->empty());
}

}  // namespace
}  // namespace isync::testing
