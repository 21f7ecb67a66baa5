// PaymentHandler against a real Redis and the sandbox's gateway over HTTP:
// Stripe payments posted to Intacct as ARPYMTs once, with the mapped fields,
// to an invoice or as an advance, and one at a time per invoice (PRODUCT.md
// §2, §3; DESIGN-NOTES.md §6).
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

}  // namespace
}  // namespace isync::testing
