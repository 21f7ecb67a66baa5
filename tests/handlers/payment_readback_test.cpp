// PaymentHandler against a real Redis and the sandbox's gateway over HTTP:
// writes whose fate is unknown (a 524, a write landing late or never, a crash
// past the intent, a duplicate-number refusal) are read back and adopted,
// never sent twice (PRODUCT.md §2, §3; DESIGN-NOTES.md §6).
#include <doctest/doctest.h>

#include "tests/handlers/payment_fixture.hpp"

namespace isync::testing {
namespace {

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
