// Payment mapping: every refusal, of the payment, the invoice and the tenant.
#include <doctest/doctest.h>

#include <string>

#include "tests/handlers/payment_map_fixture.hpp"

using namespace isync;
using namespace isync::handlers::detail;
using namespace isync::handlers::detail::test;

// ---- Refusals --------------------------------------------------------------------

TEST_CASE("a three-decimal currency is refused: Intacct amounts have 2 decimals") {
  auto f = refused(map_payment(facts(1500, "KWD"), invoice("2.000", "KWD"), "", policy()));
  CHECK(f.code == "unsupported_currency");
  CHECK(f.message ==
        "Payment pi_1 is in KWD, whose amounts have 3 decimals; Intacct amounts have 2. Post it "
        "by hand in Intacct.");
}

TEST_CASE("a payment of zero or less is refused") {
  for (std::int64_t amount : {0, -100}) {
    auto f = refused(map_payment(facts(amount), invoice(), "", policy()));
    CHECK(f.code == "invalid_amount");
    CHECK(f.message == "Payment pi_1 has no amount to post.");
  }
}

TEST_CASE("a payment in another currency than the invoice's is refused") {
  auto f = refused(map_payment(facts(12345, "EUR"), invoice(), "", policy()));
  CHECK(f.code == "currency_mismatch");
  CHECK(f.message == "Payment pi_1 is in EUR but invoice INV-0042 (RECORDNO 101) is in USD.");
  auto blank = refused(map_payment(facts(12345, "EUR"), invoice("200.00", ""), "", policy()));
  CHECK(blank.message == "Payment pi_1 is in EUR but invoice INV-0042 (RECORDNO 101) is in USD.");
}

TEST_CASE("a payment naming another customer than the invoice's is refused") {
  auto p = facts();
  p.customer = "C-2";
  auto f = refused(map_payment(p, invoice(), "", policy()));
  CHECK(f.code == "customer_mismatch");
  CHECK(f.message ==
        "Payment pi_1 names customer C-2 but invoice INV-0042 (RECORDNO 101) belongs to customer "
        "C-1.");
  auto pol = policy();
  pol.match_customers_by = "name";
  p.customer = "C-1";  // an id, where a name is expected
  auto by_name = refused(map_payment(p, invoice(), "", pol));
  CHECK(by_name.code == "customer_mismatch");
  CHECK(by_name.message ==
        "Payment pi_1 names customer C-1 but invoice INV-0042 (RECORDNO 101) belongs to customer "
        "C-1.");
}

TEST_CASE("a payment to a draft invoice is refused until the invoice is posted") {
  auto inv = invoice();
  inv.state = "Draft";
  auto f = refused(map_payment(facts(), inv, "", policy()));
  CHECK(f.code == "invoice_not_posted");
  CHECK(f.message ==
        "Invoice INV-0042 (RECORDNO 101) is a draft in Intacct and cannot take payment pi_1.");
  CHECK(f.correction == "Post the invoice in Intacct, then replay this event.");
}

TEST_CASE("a payment over the invoice's balance is refused unless the tenant keeps advances") {
  auto f = refused(map_payment(facts(25000), invoice("1,99.00"), "", policy()));
  CHECK(f.code == "invalid_invoice");
  f = refused(map_payment(facts(25000), invoice("200"), "", policy()));
  CHECK(f.code == "over_balance");
  CHECK(
      f.message ==
      "Payment pi_1 of 250.00 USD exceeds the balance 200.00 of invoice INV-0042 (RECORDNO 101).");
  CHECK(f.correction ==
        "Apply the payment by hand in Intacct, or set overpayment = \"advance\" for the tenant to "
        "keep the excess as an unapplied advance, then replay.");
  auto paid = refused(map_payment(facts(1), invoice("0.00"), "", policy()));
  CHECK(paid.code == "over_balance");
  CHECK(paid.message ==
        "Payment pi_1 of 0.01 USD exceeds the balance 0.00 of invoice INV-0042 (RECORDNO 101).");
}

TEST_CASE("an invoice whose TOTALDUE cannot be read is refused, quoting it") {
  for (const char* due : {"", "n/a", "12.345"}) {
    CAPTURE(due);
    auto f = refused(map_payment(facts(), invoice(due), "", policy()));
    CHECK(f.code == "invalid_invoice");
    CHECK(f.message ==
          "Invoice INV-0042 (RECORDNO 101) has an unreadable TOTALDUE '" + std::string(due) + "'.");
  }
}

TEST_CASE("an invoice without RECORDNO or CUSTOMERID is refused") {
  auto inv = invoice();
  inv.customerid.clear();
  auto p = facts();
  p.customer.clear();
  auto f = refused(map_payment(p, inv, "", policy()));
  CHECK(f.code == "invalid_invoice");
  CHECK(f.message == "Invoice INV-0042 (RECORDNO 101) has no CUSTOMERID.");
  inv = invoice();
  inv.recordno.clear();
  f = refused(map_payment(facts(), inv, "", policy()));
  CHECK(f.code == "invalid_invoice");
  CHECK(f.message == "Invoice INV-0042 has no RECORDNO.");
}

TEST_CASE("a tenant without a bank account, undeposited account or batch cannot post") {
  auto f = refused(map_payment(facts(), invoice(), "", PaymentPolicy{}));
  CHECK(f.code == "no_deposit_account");
  CHECK(f.message ==
        "Tenant has no bank_account, undeposited_account or payment_batch configured for "
        "payments.");
}

TEST_CASE("an unknown tenant time zone is refused with local_date's message") {
  auto pol = policy();
  pol.timezone = "Mars/Olympus_Mons";
  auto f = refused(map_payment(facts(), invoice(), "", pol));
  CHECK(f.code == "invalid_timezone");
  CHECK(f.message == "unknown time zone 'Mars/Olympus_Mons'");
}

TEST_CASE("an advance without a customer is refused") {
  auto p = facts();
  p.invoice.clear();
  p.customer.clear();
  auto f = refused(map_payment(p, std::nullopt, "", policy()));
  CHECK(f.code == "no_customer");
  CHECK(f.message == "Payment pi_1 names no invoice and no customer to post it to.");
}
