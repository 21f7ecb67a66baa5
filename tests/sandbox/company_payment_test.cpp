// The company's payment rules through the control API (and the gateway where
// a rule lives there): payments applied to one or several invoices and
// deleted, a transaction rolled back after a payment, unapplied amounts,
// currencies, the payment settings.
#include <doctest/doctest.h>

#include "intacct/intacct.hpp"
#include "tests/sandbox/company_fixture.hpp"

namespace ii = isync::intacct;
using namespace isync::sandbox::test::company;

TEST_CASE(
    "payments move an invoice to Partially Paid then Paid, and the customer's TOTALDUE with it") {
  Fixture x;
  must(x.c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}));
  const auto inv = must(
      x.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"RECORDID", "INV-1"}, {"TOTALENTERED", "100"}}));
  CHECK(inv.fields.at("STATE") == "Posted");
  CHECK(inv.fields.at("TOTALDUE") == "100.00");
  CHECK(x.f("CUSTOMER", 1, "TOTALDUE") == "100.00");
  x.changes.clear();
  x.clock.advance(2000);

  const auto p1 = must(x.c.add("ARPYMT", payment("C1", {{inv.recordno, "40.10"}})));
  CHECK(p1.fields.at("TOTALENTERED") == "40.10");
  CHECK(p1.fields.at("RECORDTYPE") == "rp");
  CHECK(x.f("ARINVOICE", 1, "STATE") == "Partially Paid");
  CHECK(x.f("ARINVOICE", 1, "TOTALPAID") == "40.10");
  CHECK(x.f("ARINVOICE", 1, "TOTALDUE") == "59.90");
  CHECK(x.f("ARINVOICE", 1, "WHENMODIFIED") == "11/22/2026 13:00:02");
  CHECK(x.f("CUSTOMER", 1, "TOTALDUE") == "59.90");
  REQUIRE(x.changes.size() == 3);
  CHECK((x.changes[0].object == "ARPYMT" && x.changes[0].action == "add"));
  CHECK((x.changes[1].object == "ARINVOICE" && x.changes[1].action == "set"));
  CHECK(x.changes[1].fields.at("TOTALDUE") == "59.90");
  CHECK((x.changes[2].object == "CUSTOMER" && x.changes[2].action == "set"));

  CHECK(error_of(x.c.add("ARPYMT", payment("C1", {{inv.recordno, "59.91"}}))) ==
        "invalid_value: Payment amount 59.91 exceeds the amount due 59.90 of invoice 1. Apply at "
        "most the invoice's "
        "TOTALDUE.");
  CHECK(error_of(x.c.add("ARPYMT", payment("C1", {{77, "1"}}))) ==
        "invalid_value: Invoice with RECORDNO 77 does not exist; the payment cannot be applied to "
        "it. Check the "
        "RECORDKEY of the payment detail.");
  const auto p2 = must(x.c.add("ARPYMT", payment("C1", {{inv.recordno, "59.90"}})));
  CHECK(x.f("ARINVOICE", 1, "STATE") == "Paid");
  CHECK(x.f("ARINVOICE", 1, "TOTALDUE") == "0.00");
  CHECK(x.f("ARINVOICE", 1, "WHENPAID") == "11/21/2026");
  CHECK(x.f("CUSTOMER", 1, "TOTALDUE") == "0.00");
  CHECK(error_of(x.c.add("ARPYMT", payment("C1", {{inv.recordno, "0.01"}}))).find("exceeds") !=
        std::string::npos);

  // Deleting a payment reverses its application.
  x.changes.clear();
  REQUIRE(x.c.remove("ARPYMT", p2.recordno).has_value());
  CHECK(x.f("ARINVOICE", 1, "STATE") == "Partially Paid");
  CHECK(x.f("ARINVOICE", 1, "TOTALDUE") == "59.90");
  CHECK(x.f("ARINVOICE", 1, "WHENPAID").empty());
  CHECK(x.f("CUSTOMER", 1, "TOTALDUE") == "59.90");
  REQUIRE(x.changes.size() == 3);
  CHECK((x.changes[0].object == "ARPYMT" && x.changes[0].action == "delete"));
  CHECK((x.changes[1].object == "ARINVOICE" && x.changes[1].action == "set"));
  REQUIRE(x.c.remove("ARPYMT", p1.recordno).has_value());
  CHECK(x.f("ARINVOICE", 1, "STATE") == "Posted");
  CHECK(x.f("ARINVOICE", 1, "TOTALPAID") == "0.00");
  CHECK(x.f("CUSTOMER", 1, "TOTALDUE") == "100.00");
  const auto modified = x.f("ARINVOICE", 1, "WHENMODIFIED");
  x.clock.advance(5000);
  must(x.c.set("CUSTOMER", 1, {{"NAME", "Renamed"}}));
  CHECK(x.f("ARINVOICE", 1, "CUSTOMERNAME") == "Renamed");
  CHECK(x.f("ARINVOICE", 1, "WHENMODIFIED") == modified);
}

TEST_CASE(
    "one payment applies to several invoices; drafts and other customers' invoices refuse "
    "payments") {
  Fixture x;
  must(x.c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}));
  must(x.c.add("CUSTOMER", {{"CUSTOMERID", "C2"}, {"NAME", "Two"}}));
  must(x.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "10"}}));
  must(x.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "20"}}));
  must(x.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "30"}, {"STATE", "Draft"}}));
  must(x.c.add("ARINVOICE", {{"CUSTOMERID", "C2"}, {"TOTALENTERED", "5"}}));
  CHECK(x.f("CUSTOMER", 1, "TOTALDUE") == "30.00");  // drafts do not count
  const auto p = must(x.c.add("ARPYMT", payment("C1", {{1, "10"}, {2, "5"}})));
  CHECK(p.fields.at("TOTALENTERED") == "15.00");
  CHECK(p.fields.at("ARPYMTDETAILS.ARPYMTDETAIL.1.RECORDKEY") == "2");
  CHECK(x.f("ARINVOICE", 1, "STATE") == "Paid");
  CHECK(x.f("ARINVOICE", 2, "STATE") == "Partially Paid");
  CHECK(error_of(x.c.add("ARPYMT", payment("C1", {{3, "1"}}))) ==
        "invalid_value: Invoice 3 is a draft and cannot take payments. Post the invoice first.");
  CHECK(error_of(x.c.add("ARPYMT", payment("C1", {{4, "1"}}))) ==
        "invalid_value: Invoice 4 belongs to customer C2, not C1.");
  CHECK(error_of(x.c.add("ARPYMT", payment("C1", {}))).find("needs a positive TOTALENTERED") !=
        std::string::npos);
  auto advance = payment("C1", {});
  advance["TOTALENTERED"] = "12.34";
  CHECK(must(x.c.add("ARPYMT", advance)).fields.at("RECORDTYPE") == "rr");
  auto no_date = payment("C1", {{2, "1"}});
  no_date.erase("RECEIPTDATE");
  CHECK(error_of(x.c.add("ARPYMT", no_date)) ==
        "invalid_value: Required field RECEIPTDATE is missing for ARPYMT. Provide RECEIPTDATE as "
        "MM/DD/YYYY.");
  const auto paid = x.c.remove("ARINVOICE", 2);
  REQUIRE_FALSE(paid.has_value());
  CHECK(paid.error().message ==
        "Invoice INV-2 has payments applied and cannot be deleted. Delete its payments first.");
  const auto has_invoices = x.c.remove("CUSTOMER", 1);
  REQUIRE_FALSE(has_invoices.has_value());
  CHECK(has_invoices.error().message ==
        "Customer C1 has invoices and cannot be deleted. Delete its invoices first, or set STATUS "
        "to inactive.");
}

TEST_CASE("an ARPYMT created through the gateway reads back with its details nested") {
  Fixture x;
  must(x.c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}));
  must(x.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "125"}}));
  const std::string head =
      "<?xml "
      "version=\"1.0\"?><request><control><senderid>SENDER</senderid><password>sender-pw</password>"
      "<controlid>1</controlid><uniqueid>true</uniqueid><dtdversion>3.0</dtdversion></"
      "control><operation>"
      "<authentication><login><userid>ws_user</userid><companyid>ACME</"
      "companyid><password>user-pw</password></login>"
      "</authentication><content>";
  const auto reply = x.c.handle_gateway(
      head +
          "<function "
          "controlid=\"p\"><create><ARPYMT><FINANCIALENTITY>BOA</"
          "FINANCIALENTITY><PAYMENTMETHOD>Cash"
          "</PAYMENTMETHOD><CUSTOMERID>C1</CUSTOMERID><DOCNUMBER>INV-007</"
          "DOCNUMBER><RECEIPTDATE>05/15/2019"
          "</RECEIPTDATE><PAYMENTDATE>05/16/2019</"
          "PAYMENTDATE><ARPYMTDETAILS><ARPYMTDETAIL><RECORDKEY>1</RECORDKEY>"
          "<TRX_PAYMENTAMOUNT>100</TRX_PAYMENTAMOUNT></ARPYMTDETAIL><ARPYMTDETAIL><RECORDKEY>1</"
          "RECORDKEY>"
          "<TRX_PAYMENTAMOUNT>25</TRX_PAYMENTAMOUNT></ARPYMTDETAIL></ARPYMTDETAILS></ARPYMT></"
          "create></function>"
          "<function controlid=\"r\"><read><object>ARPYMT</object><keys>1</keys></read></function>"
          "</content></operation></request>",
      "application/xml");
  const auto r = ii::parse_response(reply.status, reply.content_type, reply.body);
  REQUIRE(r.has_value());
  REQUIRE(r->results.size() == 2);
  CHECK(r->results[0].status == ii::Status::success);
  const auto& row = r->results[1].data->rows.at(0);
  CHECK(*row.get("ARPYMTDETAILS.ARPYMTDETAIL.RECORDKEY") == "1");
  CHECK(*row.get("ARPYMTDETAILS.ARPYMTDETAIL.TRX_PAYMENTAMOUNT") == "100.00");
  CHECK(*row.get("ARPYMTDETAILS.ARPYMTDETAIL.TRX_PAYMENTAMOUNT[1]") == "25.00");
  CHECK(*row.get("PAYMENTDATE") == "05/16/2019");
  CHECK(x.f("ARINVOICE", 1, "STATE") == "Paid");
  CHECK(x.f("ARINVOICE", 1, "WHENPAID") == "05/16/2019");
}

TEST_CASE("a transaction that fails after a payment rolls the invoice back too") {
  Fixture x;
  must(x.c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}));
  must(x.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "50"}}));
  x.changes.clear();
  const auto reply = x.c.handle_gateway(
      "<request><control><senderid>SENDER</senderid><password>sender-pw</password><controlid>1</"
      "controlid>"
      "<uniqueid>false</uniqueid><dtdversion>3.0</dtdversion></control><operation "
      "transaction=\"true\">"
      "<authentication><login><userid>ws_user</userid><companyid>ACME</"
      "companyid><password>user-pw</password>"
      "</login></authentication><content><function "
      "controlid=\"p\"><create><ARPYMT><CUSTOMERID>C1</CUSTOMERID>"
      "<PAYMENTMETHOD>Cash</PAYMENTMETHOD><UNDEPOSITEDACCOUNTNO>1010</"
      "UNDEPOSITEDACCOUNTNO><RECEIPTDATE>11/21/2026"
      "</RECEIPTDATE><ARPYMTDETAILS><ARPYMTDETAIL><RECORDKEY>1</RECORDKEY><TRX_PAYMENTAMOUNT>50</"
      "TRX_PAYMENTAMOUNT>"
      "</ARPYMTDETAIL></ARPYMTDETAILS></ARPYMT></create></function><function "
      "controlid=\"c\"><create><CUSTOMER>"
      "<CUSTOMERID>C1</CUSTOMERID><NAME>dup</NAME></CUSTOMER></create></function></content></"
      "operation></request>",
      "");
  const auto r = ii::parse_response(reply.status, reply.content_type, reply.body);
  REQUIRE(r.has_value());
  REQUIRE(r->results.size() == 2);
  CHECK(r->results[0].status == ii::Status::aborted);
  CHECK(r->results[1].status == ii::Status::failure);
  CHECK(x.c.count("ARPYMT") == 0);
  CHECK(x.f("ARINVOICE", 1, "STATE") == "Posted");
  CHECK(x.f("ARINVOICE", 1, "TOTALDUE") == "50.00");
  CHECK(x.f("CUSTOMER", 1, "TOTALDUE") == "50.00");
  CHECK(x.changes.empty());
  // The RECORDNO a rolled-back create took is free again, as the data is.
  CHECK(must(x.c.add("ARPYMT", payment("C1", {{1, "50"}}))).recordno == 1);
}

TEST_CASE("a payment over the sum of its details keeps the excess unapplied as TOTALUNAPPLIED") {
  Fixture x;
  must(x.c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}));
  must(x.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "100"}}));
  auto over = payment("C1", {{1, "60"}});
  over["TOTALENTERED"] = "75.50";
  const auto p = must(x.c.add("ARPYMT", over));
  CHECK(p.fields.at("TOTALENTERED") == "75.50");
  CHECK(p.fields.at("TOTALPAID") == "75.50");
  CHECK(p.fields.at("TOTALUNAPPLIED") == "15.50");
  CHECK(p.fields.at("RECORDTYPE") == "rp");
  CHECK(x.f("ARINVOICE", 1, "TOTALPAID") == "60.00");
  CHECK(x.f("ARINVOICE", 1, "TOTALDUE") == "40.00");
  CHECK(x.f("CUSTOMER", 1, "TOTALDUE") == "40.00");
  // Exactly applied: nothing unapplied; an advance: all of it.
  CHECK(must(x.c.add("ARPYMT", payment("C1", {{1, "10"}}))).fields.at("TOTALUNAPPLIED") == "0.00");
  auto advance = payment("C1", {});
  advance["TOTALENTERED"] = "12.34";
  CHECK(must(x.c.add("ARPYMT", advance)).fields.at("TOTALUNAPPLIED") == "12.34");
  // Less than the details stays an error, and nothing is applied.
  auto under = payment("C1", {{1, "20"}});
  under["TOTALENTERED"] = "19.99";
  CHECK(error_of(x.c.add("ARPYMT", under)) ==
        "invalid_value: TOTALENTERED 19.99 is less than the sum of the details 20.00. Send a "
        "TOTALENTERED at least the sum of the ARPYMTDETAIL amounts.");
  CHECK(x.f("ARINVOICE", 1, "TOTALDUE") == "30.00");
}

TEST_CASE("a payment in another currency than its invoice is refused") {
  Fixture x;
  must(x.c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}));
  must(x.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "100"}}));
  must(x.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "100"}, {"CURRENCY", "EUR"}}));
  auto eur = payment("C1", {{1, "10"}});
  eur["CURRENCY"] = "EUR";
  CHECK(error_of(x.c.add("ARPYMT", eur)) ==
        "invalid_value: Payment currency EUR differs from the currency USD of invoice 1. Pay an "
        "invoice in its own currency.");
  CHECK(error_of(x.c.add("ARPYMT", payment("C1", {{2, "10"}}))) ==
        "invalid_value: Payment currency USD differs from the currency EUR of invoice 2. Pay an "
        "invoice in its own currency.");
  CHECK(x.f("ARINVOICE", 1, "TOTALPAID") == "0.00");
  CHECK(x.f("ARINVOICE", 2, "TOTALPAID") == "0.00");
  auto eur2 = payment("C1", {{2, "10"}});
  eur2["CURRENCY"] = "EUR";
  CHECK(must(x.c.add("ARPYMT", eur2)).fields.at("CURRENCY") == "EUR");
  CHECK(must(x.c.add("ARPYMT", payment("C1", {{1, "10"}}))).fields.at("CURRENCY") == "USD");
}

TEST_CASE("settings switch at run time: payment batches and unique payment numbers") {
  Fixture x;
  CHECK_FALSE(x.c.settings().payment_batch_required);
  CHECK_FALSE(x.c.settings().unique_payment_numbers);
  must(x.c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}));
  must(x.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "100"}}));
  // Off: the same DOCNUMBER twice is accepted.
  must(x.c.add("ARPYMT", payment("C1", {{1, "1"}})));
  must(x.c.add("ARPYMT", payment("C1", {{1, "1"}})));
  x.c.set_settings({true, true});
  CHECK(x.c.settings().payment_batch_required);
  CHECK(x.c.settings().unique_payment_numbers);
  CHECK(error_of(x.c.add("ARPYMT", payment("C1", {{1, "1"}}))) ==
        "invalid_value: Please provide a payment batch key. Send PRBATCH, or set the AR payment "
        "summary frequency to Daily or Monthly.");
  auto batched = payment("C1", {{1, "1"}});
  batched["PRBATCH"] = "B1";
  CHECK(error_of(x.c.add("ARPYMT", batched)) ==
        "duplicate: Another AR Payment with the given value(s) pi_123 already exists Use a unique "
        "value instead.");
  x.c.set_settings({});
  CHECK(x.c.add("ARPYMT", payment("C1", {{1, "1"}})).has_value());
}
