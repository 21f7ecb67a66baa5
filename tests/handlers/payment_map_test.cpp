// Payment mapping: Stripe event facts, amounts, the ARPYMT body, every refusal.
#include "handlers/detail/payment_map.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

using namespace isync;
using namespace isync::handlers::detail;
namespace ii = isync::intacct;

namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

// 2026-11-22 03:30:00 UTC: 11/22/2026 in UTC, 11/21/2026 in New York.
constexpr std::int64_t kLateNightUtc = 1795318200;

queue::Envelope stripe_event(std::string type, Pairs snapshot) {
  queue::Envelope e;
  e.event_id = "01J0000000000000000000000Q";
  e.source = "stripe";
  e.tenant = "acme";
  e.object = "ARPYMT";
  e.action = std::move(type);
  std::sort(snapshot.begin(), snapshot.end());
  for (const auto& [k, v] : snapshot) {
    if (k == "PAYMENT_ID") e.key = v;
  }
  e.snapshot = std::move(snapshot);
  return e;
}

Pairs succeeded_fields() {
  return {{"EVENT_ID", "evt_1"},   {"PAYMENT_ID", "pi_1"}, {"CHARGE_ID", "ch_1"},
          {"AMOUNT", "12345"},     {"CURRENCY", "USD"},    {"CREATED", "1795318200"},
          {"INVOICE", "INV-0042"}, {"CUSTOMER", "C-1"},    {"METHOD", "card"},
          {"LIVEMODE", "false"}};
}

Pairs without(Pairs pairs, const std::string& name) {
  pairs.erase(
      std::remove_if(pairs.begin(), pairs.end(), [&](const auto& kv) { return kv.first == name; }),
      pairs.end());
  return pairs;
}

Pairs with_value(Pairs pairs, const std::string& name, const std::string& value) {
  pairs = without(std::move(pairs), name);
  pairs.emplace_back(name, value);
  return pairs;
}

PaymentFacts facts(std::int64_t amount = 12345, std::string currency = "USD") {
  PaymentFacts p;
  p.event_type = "payment_intent.succeeded";
  p.event_id = "evt_1";
  p.payment_id = "pi_1";
  p.charge_id = "ch_1";
  p.amount = amount;
  p.currency = std::move(currency);
  p.created = kLateNightUtc;
  p.invoice = "INV-0042";
  p.customer = "C-1";
  p.method = "card";
  return p;
}

InvoiceView invoice(std::string totaldue = "200.00", std::string currency = "USD") {
  return InvoiceView{"101",    "INV-0042",         "C-1", "Acme Corp", std::move(currency),
                     "Posted", std::move(totaldue)};
}

PaymentPolicy policy() {
  PaymentPolicy pol;
  pol.bank_account = "BOA";
  return pol;
}

// A readable form of a field tree: NAME=value, groups as NAME{...}.
std::string tree(const std::vector<ii::Field>& fields) {
  std::string out;
  for (const auto& f : fields) {
    if (!out.empty()) out += ";";
    if (f.children.empty()) {
      out += f.name + "=" + f.value;
    } else {
      out += f.name + "{" + tree(f.children) + "}";
    }
  }
  return out;
}

Posting posted(const std::variant<Posting, queue::Failure>& r) {
  if (const auto* f = std::get_if<queue::Failure>(&r)) {
    FAIL_CHECK("refused: " << f->code << ": " << f->message);
    return {};
  }
  return std::get<Posting>(r);
}

queue::Failure refused(const std::variant<Posting, queue::Failure>& r) {
  if (!std::holds_alternative<queue::Failure>(r)) {
    FAIL_CHECK("posted: " << tree(std::get<Posting>(r).fields));
    return {};
  }
  const auto& f = std::get<queue::Failure>(r);
  CHECK(f.cls == queue::FailureClass::permanent);
  return f;
}

std::string content_of(const ii::Function& fn) {
  ii::Request r;
  r.sender_id = "SENDER";
  r.sender_password = ii::Secret("SENDERPW");
  r.control_id = "1700000000";
  r.unique_id = true;
  r.auth = ii::SessionId{ii::Secret("SESSION-abc")};
  r.functions.push_back(fn);
  auto xml = ii::to_xml(r);
  REQUIRE_MESSAGE(xml.has_value(), (xml ? std::string() : xml.error().message));
  auto begin = xml->find("<content>");
  auto end = xml->find("</content>");
  REQUIRE(begin != std::string::npos);
  REQUIRE(end != std::string::npos);
  return xml->substr(begin + 9, end - begin - 9);
}

}  // namespace

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
