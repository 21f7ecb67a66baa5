// Payment mapping: the ARPYMT body a payment posts (amounts, dates, methods,
// the deposit, applied and advance amounts, the customer), and control ids.
#include <doctest/doctest.h>

#include <string>

#include "tests/handlers/payment_map_fixture.hpp"

using namespace isync;
using namespace isync::handlers::detail;
using namespace isync::handlers::detail::test;

// ---- The posting -----------------------------------------------------------------

TEST_CASE("a payment of an invoice posts this exact create ARPYMT") {
  auto pol = policy();
  pol.timezone = "America/New_York";
  auto post = posted(map_payment(facts(), invoice(), "", pol));
  CHECK(post.customer_id == "C-1");
  CHECK(post.currency == "USD");
  CHECK(post.total == "123.45");
  CHECK(post.applied == "123.45");
  CHECK(post.invoice_recordno == "101");
  CHECK(post.receipt_date == "11/21/2026");
  auto id = payment_control_id("acme", "pi_1", "create");
  auto fn = arpymt_create(post, id);
  CHECK(fn.control_id == id);
  CHECK(content_of(fn) ==
        "<function controlid=\"isync-5dce8cc0116fbf0a120ea0e35958ab88\"><create><ARPYMT>"
        "<CUSTOMERID>C-1</CUSTOMERID><PAYMENTMETHOD>Credit Card</PAYMENTMETHOD>"
        "<FINANCIALENTITY>BOA</FINANCIALENTITY><DOCNUMBER>pi_1</DOCNUMBER>"
        "<RECEIPTDATE>11/21/2026</RECEIPTDATE>"
        "<PAYMENTDATE>11/21/2026</PAYMENTDATE><CURRENCY>USD</CURRENCY><ARPYMTDETAILS>"
        "<ARPYMTDETAIL><RECORDKEY>101</RECORDKEY><TRX_PAYMENTAMOUNT>123.45</TRX_PAYMENTAMOUNT>"
        "</ARPYMTDETAIL></ARPYMTDETAILS></ARPYMT></create></function>");
}

TEST_CASE("USD cents: five cents is 0.05") {
  auto post = posted(map_payment(facts(5), invoice(), "", policy()));
  CHECK(post.total == "0.05");
  CHECK(post.applied == "0.05");
}

TEST_CASE("JPY has no minor unit: 500 is 500") {
  auto post = posted(map_payment(facts(500, "JPY"), invoice("1,000", "JPY"), "", policy()));
  CHECK(post.total == "500");
  CHECK(tree(post.fields) ==
        "CUSTOMERID=C-1;PAYMENTMETHOD=Credit Card;FINANCIALENTITY=BOA;DOCNUMBER=pi_1;"
        "RECEIPTDATE=11/22/2026;PAYMENTDATE=11/22/2026;"
        "CURRENCY=JPY;ARPYMTDETAILS{ARPYMTDETAIL{RECORDKEY=101;TRX_PAYMENTAMOUNT=500}}");
}

TEST_CASE("the receipt date is the payment's date in the tenant's zone") {
  auto pol = policy();
  CHECK(posted(map_payment(facts(), invoice(), "", pol)).receipt_date == "11/22/2026");
  pol.timezone = "America/New_York";
  CHECK(posted(map_payment(facts(), invoice(), "", pol)).receipt_date == "11/21/2026");
  auto p = facts();
  p.created = 1767292200;  // 2026-01-01 18:30Z = 00:00 in Kolkata
  pol.timezone = "Asia/Kolkata";
  CHECK(posted(map_payment(p, invoice(), "", pol)).receipt_date == "01/02/2026");
}

TEST_CASE("ACH payment methods post as the ACH method, everything else as the card method") {
  for (const char* m : {"us_bank_account", "ach_debit", "ach_credit_transfer", "acss_debit"}) {
    CAPTURE(m);
    auto p = facts();
    p.method = m;
    CHECK(
        tree(posted(map_payment(p, invoice(), "", policy())).fields).find(";PAYMENTMETHOD=EFT;") !=
        std::string::npos);
  }
  for (const char* m : {"card", "link", "sepa_debit", ""}) {
    CAPTURE(m);
    auto p = facts();
    p.method = m;
    CHECK(tree(posted(map_payment(p, invoice(), "", policy())).fields)
              .find(";PAYMENTMETHOD=Credit Card;") != std::string::npos);
  }
  auto pol = policy();
  pol.payment_method = "Online Charge Card";
  pol.ach_payment_method = "Online ACH Debit";
  auto p = facts();
  CHECK(tree(posted(map_payment(p, invoice(), "", pol)).fields)
            .find(";PAYMENTMETHOD=Online Charge Card;") != std::string::npos);
  p.method = "us_bank_account";
  CHECK(tree(posted(map_payment(p, invoice(), "", pol)).fields)
            .find(";PAYMENTMETHOD=Online ACH Debit;") != std::string::npos);
}

TEST_CASE("the deposit goes to the one account or batch the tenant set") {
  PaymentPolicy pol;
  pol.undeposited_account = "1010";
  CHECK(tree(posted(map_payment(facts(), invoice(), "", pol)).fields)
            .find(";UNDEPOSITEDACCOUNTNO=1010;DOCNUMBER=") != std::string::npos);
  pol.undeposited_account.clear();
  pol.payment_batch = "7";
  auto fields = tree(posted(map_payment(facts(), invoice(), "", pol)).fields);
  CHECK(fields.find(";PRBATCH=7;DOCNUMBER=") != std::string::npos);
  CHECK(fields.find("FINANCIALENTITY") == std::string::npos);
  CHECK(fields.find("UNDEPOSITEDACCOUNTNO") == std::string::npos);
}

TEST_CASE("a payment naming only a customer is an unapplied advance for the whole amount") {
  auto p = facts();
  p.invoice.clear();
  auto post = posted(map_payment(p, std::nullopt, "C-7", policy()));
  CHECK(post.customer_id == "C-7");
  CHECK(post.total == "123.45");
  CHECK(post.applied.empty());
  CHECK(post.invoice_recordno.empty());
  CHECK(tree(post.fields) ==
        "CUSTOMERID=C-7;PAYMENTMETHOD=Credit Card;FINANCIALENTITY=BOA;DOCNUMBER=pi_1;"
        "RECEIPTDATE=11/22/2026;PAYMENTDATE=11/22/2026;"
        "CURRENCY=USD;TOTALENTERED=123.45");
}

TEST_CASE("a payment up to the balance applies all of it, without TOTALENTERED") {
  auto post = posted(map_payment(facts(20000), invoice("200.00"), "", policy()));
  CHECK(post.applied == "200.00");
  CHECK(tree(post.fields).find("TOTALENTERED") == std::string::npos);
}

TEST_CASE("an overpayment kept as advance applies the balance; TOTALENTERED is the whole amount") {
  auto pol = policy();
  pol.overpayment_as_advance = true;
  auto post = posted(map_payment(facts(25000), invoice("1,200.00"), "", pol));
  CHECK(post.applied == "250.00");  // not over: applied in full
  CHECK(tree(post.fields).find("TOTALENTERED") == std::string::npos);
  post = posted(map_payment(facts(25000), invoice("200.00"), "", pol));
  CHECK(post.total == "250.00");
  CHECK(post.applied == "200.00");
  CHECK(post.invoice_recordno == "101");
  CHECK(tree(post.fields) ==
        "CUSTOMERID=C-1;PAYMENTMETHOD=Credit Card;FINANCIALENTITY=BOA;DOCNUMBER=pi_1;"
        "RECEIPTDATE=11/22/2026;PAYMENTDATE=11/22/2026;"
        "CURRENCY=USD;TOTALENTERED=250.00;"
        "ARPYMTDETAILS{ARPYMTDETAIL{RECORDKEY=101;TRX_PAYMENTAMOUNT=200.00}}");
}

TEST_CASE("an overpayment of a paid invoice kept as advance is all advance, with no detail") {
  auto pol = policy();
  pol.overpayment_as_advance = true;
  for (const char* due : {"0", "0.00", "-10.00"}) {
    CAPTURE(due);
    auto post = posted(map_payment(facts(25000), invoice(due), "", pol));
    CHECK(post.customer_id == "C-1");
    CHECK(post.applied.empty());
    CHECK(post.invoice_recordno.empty());
    CHECK(tree(post.fields) ==
          "CUSTOMERID=C-1;PAYMENTMETHOD=Credit Card;FINANCIALENTITY=BOA;DOCNUMBER=pi_1;"
          "RECEIPTDATE=11/22/2026;PAYMENTDATE=11/22/2026;"
          "CURRENCY=USD;TOTALENTERED=250.00");
  }
}

TEST_CASE("the metadata customer may match by name when the tenant says so") {
  auto pol = policy();
  pol.match_customers_by = "name";
  auto p = facts();
  p.customer = "Acme Corp";
  CHECK(posted(map_payment(p, invoice(), "", pol)).customer_id == "C-1");
  p.customer.clear();  // no customer named: the invoice's
  CHECK(posted(map_payment(p, invoice(), "", pol)).customer_id == "C-1");
}

TEST_CASE("an invoice without a currency is in USD") {
  CHECK(posted(map_payment(facts(), invoice("200.00", ""), "", policy())).currency == "USD");
}

// ---- Control ids -----------------------------------------------------------------

TEST_CASE("payment_control_id is stable and differs per operation and tenant") {
  CHECK(payment_control_id("acme", "pi_1", "create") == "isync-5dce8cc0116fbf0a120ea0e35958ab88");
  CHECK(payment_control_id("acme", "pi_1", "create") ==
        payment_control_id("acme", "pi_1", "create"));
  CHECK(payment_control_id("acme", "pi_1", "reverse") == "isync-9640b5f97e4a43db2fbf573e9fc3d0e2");
  CHECK(payment_control_id("beta", "pi_1", "create") == "isync-44d17d23eaa6eabb778ddb8856e7cdf8");
  CHECK(payment_control_id("acme", "pi_2", "create") !=
        payment_control_id("acme", "pi_1", "create"));
  // The separator keeps (tenant, payment) pairs apart.
  CHECK(payment_control_id("acme", "pi_1", "create") !=
        payment_control_id("acm", "epi_1", "create"));
  CHECK(payment_control_id("acme", "pi_1", "create").size() == 38);
}
