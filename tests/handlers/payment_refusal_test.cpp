// PaymentHandler against a real Redis and the sandbox's gateway over HTTP:
// payments that cannot be posted (an invoice Intacct lacks, Intacct's or the
// mapping's refusal, rejected credentials) as dead letters or parked, with
// what on-call needs (PRODUCT.md §2, §3, §6).
#include <doctest/doctest.h>

#include "tests/handlers/payment_fixture.hpp"

namespace isync::testing {
namespace {

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

}  // namespace
}  // namespace isync::testing
