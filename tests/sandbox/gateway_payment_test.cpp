// AR payments through the gateway, read back with the client's parser:
// reverse_arpayment (its effects, failures, replays and write faults), unique
// payment numbers, and a currency other than the invoice's.
#include <doctest/doctest.h>

#include "tests/sandbox/gateway_fixture.hpp"

using namespace isync::sandbox::test::gateway;

namespace {

// Customer C1 (unless it exists), a new invoice of 100.00 and a posted
// payment of 40.00 on it (the first call makes invoice 1 and payment 1).
void seed_paid(sb::Company& c) {
  if (c.count("CUSTOMER") == 0)
    REQUIRE(c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}).has_value());
  const auto inv = c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "100"}});
  REQUIRE(inv.has_value());
  REQUIRE(
      c.add("ARPYMT", {{"CUSTOMERID", "C1"},
                       {"PAYMENTMETHOD", "Credit Card"},
                       {"UNDEPOSITEDACCOUNTNO", "1010"},
                       {"RECEIPTDATE", "11/21/2026"},
                       {"DOCNUMBER", "ch_1"},
                       {"ARPYMTDETAILS.ARPYMTDETAIL.0.RECORDKEY", std::to_string(inv->recordno)},
                       {"ARPYMTDETAILS.ARPYMTDETAIL.0.TRX_PAYMENTAMOUNT", "40"}})
          .has_value());
}

std::string reverse(const std::string& cid, const std::string& key,
                    const std::string& date =
                        "<datereversed><year>2026</year><month>11</month><day>22</day>"
                        "</datereversed><memo>Refunded in full</memo>") {
  return fn(cid, "<reverse_arpayment key=\"" + key + "\">" + date + "</reverse_arpayment>");
}

std::string value(const sb::Company& c, const std::string& object, std::int64_t no,
                  const std::string& name) {
  const auto r = c.get(object, no);
  REQUIRE(r);
  return r->fields.count(name) ? r->fields.at(name) : "<absent>";
}

const ii::ErrorDetail& first_error(const ii::Response& r) {
  const auto& res = only(r);
  REQUIRE(res.status == Status::failure);
  REQUIRE_FALSE(res.errors.empty());
  return res.errors[0];
}

std::string payment_xml(const std::string& customer, const std::string& docnumber,
                        const std::string& details) {
  return "<ARPYMT><CUSTOMERID>" + customer +
         "</CUSTOMERID><PAYMENTMETHOD>Credit Card</PAYMENTMETHOD>"
         "<UNDEPOSITEDACCOUNTNO>1010</UNDEPOSITEDACCOUNTNO><RECEIPTDATE>11/22/2026</RECEIPTDATE>"
         "<DOCNUMBER>" +
         docnumber + "</DOCNUMBER>" + details + "</ARPYMT>";
}

std::string detail_xml(int invoice, const std::string& amount) {
  return "<ARPYMTDETAILS><ARPYMTDETAIL><RECORDKEY>" + std::to_string(invoice) +
         "</RECORDKEY><TRX_PAYMENTAMOUNT>" + amount +
         "</TRX_PAYMENTAMOUNT></ARPYMTDETAIL></ARPYMTDETAILS>";
}

}  // namespace

TEST_CASE(
    "reverse_arpayment reverses a posted payment: invoice amounts back, STATE Reversed, smart "
    "events") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  seed_paid(c);
  CHECK(value(c, "ARINVOICE", 1, "STATE") == "Partially Paid");
  std::vector<sb::Change> changes;
  c.on_change([&](const sb::Change& ch) { changes.push_back(ch); });
  clock.advance(5000);
  const auto r = call(c, request(reverse("rev-1", "1")));
  const auto& res = only(r);
  CHECK(res.status == Status::success);
  CHECK(res.function == "reverse_arpayment");
  CHECK(res.control_id == "rev-1");
  REQUIRE(res.key);
  CHECK(*res.key == "1");
  CHECK(value(c, "ARPYMT", 1, "STATE") == "Reversed");
  CHECK(value(c, "ARPYMT", 1, "REVERSEDDATE") == "11/22/2026");
  CHECK(value(c, "ARPYMT", 1, "WHENMODIFIED") == "11/22/2026 13:00:05");
  CHECK(value(c, "ARINVOICE", 1, "TOTALPAID") == "0.00");
  CHECK(value(c, "ARINVOICE", 1, "TOTALDUE") == "100.00");
  CHECK(value(c, "ARINVOICE", 1, "STATE") == "Posted");
  CHECK(value(c, "CUSTOMER", 1, "TOTALDUE") == "100.00");
  REQUIRE(changes.size() == 3);
  CHECK((changes[0].object == "ARPYMT" && changes[0].action == "set" && changes[0].recordno == 1));
  CHECK(changes[0].fields.at("STATE") == "Reversed");
  CHECK((changes[1].object == "ARINVOICE" && changes[1].action == "set"));
  CHECK(changes[1].fields.at("TOTALDUE") == "100.00");
  CHECK((changes[2].object == "CUSTOMER" && changes[2].action == "set"));
  CHECK(c.stats().calls_by_function.at("reverse_arpayment") == 1);

  // Still readable, with its STATE, by read and query.
  const auto read = call(c, request(fn("r",
                                       "<read><object>ARPYMT</object><keys>1</keys>"
                                       "<fields>STATE,REVERSEDDATE</fields></read>")));
  REQUIRE(only(read).data);
  REQUIRE(only(read).data->rows.size() == 1);
  CHECK(field(only(read).data->rows[0], "STATE") == "Reversed");
  CHECK(field(only(read).data->rows[0], "REVERSEDDATE") == "11/22/2026");
  const auto q =
      call(c, request(fn("q",
                         "<query><select><field>RECORDNO</field><field>STATE</field></select>"
                         "<object>ARPYMT</object><filter><equalto><field>STATE</field>"
                         "<value>Reversed</value></equalto></filter></query>")));
  REQUIRE(only(q).data);
  REQUIRE(only(q).data->rows.size() == 1);
  CHECK(field(only(q).data->rows[0], "RECORDNO") == "1");

  // A reversed payment cannot be updated; deleting it gives nothing back twice.
  const auto upd = call(c, request(fn("u",
                                      "<update><ARPYMT><RECORDNO>1</RECORDNO>"
                                      "<DOCNUMBER>x</DOCNUMBER></ARPYMT></update>")));
  CHECK(first_error(upd).description2 == "Payment 1 is reversed and cannot be changed.");
  REQUIRE(c.remove("ARPYMT", 1).has_value());
  CHECK(value(c, "ARINVOICE", 1, "TOTALPAID") == "0.00");
  CHECK(value(c, "ARINVOICE", 1, "TOTALDUE") == "100.00");
}

TEST_CASE("reverse_arpayment failures: twice, unknown payment, bad key, bad or missing date") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  seed_paid(c);
  REQUIRE(only(call(c, request(reverse("rev-1", "1")))).status == Status::success);
  auto e = first_error(call(c, request(reverse("rev-2", "1"))));
  CHECK(e.errorno == "BL01001973");
  CHECK(e.description == "Could not reverse AR payment record!");
  CHECK(e.description2 == "AR payment 1 is already reversed.");
  CHECK(e.correction == "Nothing to do: read the payment to see its REVERSEDDATE.");
  e = first_error(call(c, request(reverse("rev-3", "77"))));
  CHECK(e.errorno == "BL01001973");
  CHECK(e.description2 == "AR payment 77 does not exist.");
  CHECK(e.correction == "Check the key: it is the RECORDNO of the ARPYMT.");
  e = first_error(call(c, request(reverse("rev-4", "P-1"))));
  CHECK(e.errorno == "BL01001973");
  CHECK(e.description2 == "AR payment key 'P-1' is not a RECORDNO.");
  e = first_error(call(c, request(fn("rev-5",
                                     "<reverse_arpayment><datereversed><year>2026</year>"
                                     "<month>11</month><day>22</day></datereversed>"
                                     "</reverse_arpayment>"))));
  CHECK(e.description2 == "reverse_arpayment needs a key attribute.");
  CHECK(e.correction == "Send key=\"RECORDNO\" of the ARPYMT to reverse.");
  e = first_error(call(c, request(reverse("rev-6", "1", ""))));
  CHECK(e.description2 == "<datereversed> needs <year>, <month> and <day> of a valid date.");
  e = first_error(
      call(c, request(reverse("rev-7", "1",
                              "<datereversed><year>2026</year><month>2</month><day>30</day>"
                              "</datereversed>"))));
  CHECK(e.description2 == "<datereversed> needs <year>, <month> and <day> of a valid date.");
  CHECK(e.correction ==
        "Send <datereversed><year>YYYY</year><month>MM</month><day>DD</day></datereversed>.");
  CHECK(c.stats().calls_by_function.at("reverse_arpayment") == 7);
}

TEST_CASE("a one-digit month and day are accepted in <datereversed>") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  seed_paid(c);
  REQUIRE(only(call(c, request(reverse("r", "1",
                                       "<datereversed><year>2026</year><month>3</month>"
                                       "<day>7</day></datereversed>"))))
              .status == Status::success);
  CHECK(value(c, "ARPYMT", 1, "REVERSEDDATE") == "03/07/2026");
}

TEST_CASE("a replayed reverse_arpayment under uniqueid=true is refused and not run again") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  seed_paid(c);
  const auto body = request(reverse("refund-ch_1", "1"), login(), false, true);
  CHECK(only(call(c, body)).status == Status::success);
  const auto e = first_error(call(c, body));
  CHECK(e.errorno == "SANDBOX_DUPLICATE_CONTROLID");
  CHECK(e.description2 ==
        "A function with controlid 'refund-ch_1' was already executed; with uniqueid=true it is "
        "not run again.");
}

TEST_CASE("reverse_arpayment goes through the write faults: server_error, 524 after, land_later") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  seed_paid(c);
  sb::Faults f;
  f.server_error = 1;
  c.set_faults(f);
  CHECK(c.handle_gateway(request(reverse("a", "1")), "").status == 503);
  CHECK(value(c, "ARPYMT", 1, "STATE") == "Posted");

  f = {};
  f.land_later = 1;
  f.land_delay = std::chrono::milliseconds(3000);
  c.set_faults(f);
  const auto body = request(reverse("late", "1"), login(), false, true);
  CHECK(c.handle_gateway(body, "").status == 524);
  CHECK(value(c, "ARPYMT", 1, "STATE") == "Posted");
  CHECK(first_error(call(c, body)).errorno == "SANDBOX_DUPLICATE_CONTROLID");
  clock.advance(3000);
  CHECK(c.run_due() == 1);
  CHECK(value(c, "ARPYMT", 1, "STATE") == "Reversed");
  CHECK(value(c, "ARINVOICE", 1, "TOTALDUE") == "100.00");

  seed_paid(c);  // invoice 2, payment 2
  f = {};
  f.timeout_after_write = 1;
  c.set_faults(f);
  CHECK(c.handle_gateway(request(reverse("b", "2")), "").status == 524);
  CHECK(value(c, "ARPYMT", 2, "STATE") == "Reversed");
  CHECK(c.stats().faults_by_name.at("server_error") == 1);
  CHECK(c.stats().faults_by_name.at("land_later") == 1);
  CHECK(c.stats().faults_by_name.at("timeout_after_write") == 1);
  CHECK(c.stats().faults_injected == 3);
}

TEST_CASE(
    "unique_payment_numbers refuses a second live payment number of a customer with "
    "BL34000061") {
  isync::ManualClock clock(kStart);
  auto o = options();
  o.unique_payment_numbers = true;
  sb::Company c(o, clock);
  seed_paid(c);
  REQUIRE(c.add("CUSTOMER", {{"CUSTOMERID", "C2"}, {"NAME", "Two"}}).has_value());
  REQUIRE(c.add("ARINVOICE", {{"CUSTOMERID", "C2"}, {"TOTALENTERED", "50"}}).has_value());
  const auto dup = call(
      c,
      request(fn("p", "<create>" + payment_xml("C1", "ch_1", detail_xml(1, "5")) + "</create>")));
  const auto& res = only(dup);
  CHECK(res.status == Status::failure);
  REQUIRE(res.errors.size() == 2);
  CHECK(res.errors[0].errorno == "BL34000061");
  CHECK(res.errors[0].description2 ==
        "Another AR Payment with the given value(s) ch_1 already exists");
  CHECK(res.errors[0].correction == "Use a unique value instead.");
  CHECK(res.errors[1].errorno == "BL01001973");
  CHECK(res.errors[1].description2 == "Could not create ARPYMT record!");
  CHECK(c.count("ARPYMT") == 1);
  CHECK(value(c, "ARINVOICE", 1, "TOTALPAID") == "40.00");
  // Another customer may use the same number.
  CHECK(only(call(c, request(fn("p2", "<create>" + payment_xml("C2", "ch_1", detail_xml(2, "5")) +
                                          "</create>"))))
            .status == Status::success);
  // Once the first is reversed, its number is free again.
  REQUIRE(only(call(c, request(reverse("rev", "1")))).status == Status::success);
  CHECK(only(call(c, request(fn("p3", "<create>" + payment_xml("C1", "ch_1", detail_xml(1, "5")) +
                                          "</create>"))))
            .status == Status::success);
  CHECK(value(c, "ARINVOICE", 1, "TOTALPAID") == "5.00");
}

TEST_CASE("without unique_payment_numbers a repeated payment number is accepted") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  seed_paid(c);
  CHECK(only(call(c, request(fn("p", "<create>" + payment_xml("C1", "ch_1", detail_xml(1, "5")) +
                                         "</create>"))))
            .status == Status::success);
  CHECK(c.count("ARPYMT") == 2);
}

TEST_CASE("a gateway payment in another currency than its invoice fails at the result level") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  seed_paid(c);
  const auto r = call(
      c, request(fn("p",
                    "<create>" +
                        payment_xml("C1", "ch_2", "<CURRENCY>CAD</CURRENCY>" + detail_xml(1, "5")) +
                        "</create>")));
  const auto e = first_error(r);
  CHECK(e.errorno == "BL01001973");
  CHECK(e.description2 == "Payment currency CAD differs from the currency USD of invoice 1.");
  CHECK(c.count("ARPYMT") == 1);
}
