// The gateway's functions, read back with the client's parser: create, read,
// readByName, update and delete; transactions, uniqueid replays, payment
// batches.
#include <doctest/doctest.h>

#include "tests/sandbox/gateway_fixture.hpp"

using namespace isync::sandbox::test::gateway;

TEST_CASE("create answers listtype objects with each new record's RECORDNO and ID") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  const auto r = call(c, request(fn("c1", "<create>" + customer("C1", "One") +
                                              customer("C2", "Two &amp; Co") + "</create>")));
  const auto& res = only(r);
  CHECK(res.status == Status::success);
  REQUIRE(res.data);
  CHECK(res.data->listtype == "objects");
  CHECK(res.data->count == 2);
  REQUIRE(res.data->rows.size() == 2);
  CHECK(res.data->rows[0].element == "customer");
  CHECK(field(res.data->rows[0], "RECORDNO") == "1");
  CHECK(field(res.data->rows[1], "CUSTOMERID") == "C2");
  CHECK(c.get("CUSTOMER", 2)->fields.at("NAME") == "Two & Co");
  CHECK(c.get("CUSTOMER", 1)->fields.at("DISPLAYCONTACT.EMAIL1") == "a@example.com");
  CHECK(c.stats().calls_by_function.at("create") == 1);
}

TEST_CASE(
    "a duplicate CUSTOMERID fails BL34000061 as Intacct words it, the other objects are created") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  REQUIRE(c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}).has_value());
  const auto r = call(c, request(fn("c", "<create>" + customer("C1", "Again") +
                                             customer("C2", "Two") + "</create>")));
  const auto& res = only(r);
  CHECK(res.status == Status::failure);
  REQUIRE(res.errors.size() == 3);
  CHECK(res.errors[0].errorno == "BL34000061");
  CHECK(res.errors[0].description2 ==
        "Another Customer with the given value(s) C1  already exists");
  CHECK(res.errors[0].correction == "Use a unique value instead.");
  CHECK(res.errors[1].errorno == "BL01001973");
  CHECK(res.errors[1].description2 == "Could not create customer record!");
  REQUIRE(res.data);
  CHECK(res.data->count == 1);
  CHECK(field(res.data->rows.at(0), "CUSTOMERID") == "C2");
  CHECK(c.count("CUSTOMER") == 2);
}

TEST_CASE("a duplicate invoice number fails with Intacct's text") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  REQUIRE(c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}).has_value());
  const std::string inv =
      "<ARINVOICE><RECORDID>INV-7</RECORDID><CUSTOMERID>C1</CUSTOMERID><TOTALENTERED>10</"
      "TOTALENTERED></ARINVOICE>";
  CHECK(only(call(c, request(fn("a", "<create>" + inv + "</create>")))).status == Status::success);
  const auto r = call(c, request(fn("b", "<create>" + inv + "</create>")));
  const auto& res = only(r);
  CHECK(res.status == Status::failure);
  CHECK(res.errors.at(0).description2 == "A transaction with the number 'INV-7' already exists.");
  CHECK(c.count("ARINVOICE") == 1);
}

TEST_CASE("an unknown field in create or read is DL02000001; an unknown object is Query Failed") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  auto r = call(
      c,
      request(fn("c", "<create><CUSTOMER><NAME>x</NAME><COLOUR>red</COLOUR></CUSTOMER></create>")));
  CHECK(only(r).status == Status::failure);
  CHECK(only(r).errors.at(0).errorno == "DL02000001");
  CHECK(only(r).errors.at(0).description2 == "Unknown field 'COLOUR' on object CUSTOMER.");
  r = call(
      c, request(fn(
             "r",
             "<read><object>CUSTOMER</object><keys>1</keys><fields>NAME,COLOUR</fields></read>")));
  CHECK(only(r).errors.at(0).errorno == "DL02000001");
  r = call(c, request(fn("r", "<read><object>VENDORX</object><keys>1</keys></read>")));
  CHECK(only(r).status == Status::failure);
  CHECK(only(r).errors.at(0).errorno == "Query Failed");
  CHECK(only(r).errors.at(0).description2 == "Object definition VENDORX not found");
  r = call(c, request(fn("c", "<create><VENDORX><NAME>x</NAME></VENDORX></create>")));
  CHECK(only(r).errors.at(0).description2 == "Object definition VENDORX not found");
}

TEST_CASE("read returns the keys that exist, in the fields asked for, with listtype and count") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  for (int i = 1; i <= 3; ++i)
    REQUIRE(c.add("CUSTOMER", {{"NAME", "N" + std::to_string(i)}}).has_value());
  auto r = call(
      c, request(fn(
             "r", "<read><object>CUSTOMER</object><keys>3,99,1</keys><fields>*</fields></read>")));
  const auto& res = only(r);
  REQUIRE(res.data);
  CHECK(res.data->listtype == "CUSTOMER");
  CHECK(res.data->count == 2);
  REQUIRE(res.data->rows.size() == 2);
  CHECK(res.data->rows[0].element == "CUSTOMER");
  CHECK(field(res.data->rows[0], "NAME") == "N3");
  CHECK(field(res.data->rows[0], "STATUS") == "active");
  CHECK(field(res.data->rows[0], "TOTALDUE") == "0.00");
  CHECK(field(res.data->rows[0], "WHENMODIFIED") == "11/22/2026 13:00:00");
  r = call(
      c,
      request(fn(
          "r",
          "<read><object>CUSTOMER</object><keys>2</keys><fields>RECORDNO, NAME</fields></read>")));
  CHECK(only(r).data->rows.at(0).fields.size() == 2);
  std::string keys;
  for (int i = 1; i <= 101; ++i) keys += (i > 1 ? "," : "") + std::to_string(i);
  r = call(c, request(fn("r", "<read><object>CUSTOMER</object><keys>" + keys + "</keys></read>")));
  CHECK(only(r).status == Status::failure);
  CHECK(only(r).errors.at(0).description2 == "read accepts at most 100 keys; 101 were sent.");
  CHECK(c.stats().records_read == 3);
}

TEST_CASE("readByName reads by the object's ID field") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  REQUIRE(c.add("CUSTOMER", {{"CUSTOMERID", "C-9"}, {"NAME", "Nine"}}).has_value());
  const auto r = call(
      c,
      request(fn("r", "<readByName><object>CUSTOMER</object><keys>C-9,C-0</keys></readByName>")));
  CHECK(only(r).data->count == 1);
  CHECK(field(only(r).data->rows.at(0), "NAME") == "Nine");
}

TEST_CASE(
    "update finds the record by RECORDNO or by its ID field; a missing one fails BL01001973") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  REQUIRE(c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}).has_value());
  clock.advance(5000);
  auto r = call(
      c,
      request(fn(
          "u",
          "<update><CUSTOMER><RECORDNO>1</RECORDNO><NAME>Uno</NAME></CUSTOMER>"
          "<CUSTOMER><CUSTOMERID>C1</CUSTOMERID><STATUS>inactive</STATUS></CUSTOMER></update>")));
  CHECK(only(r).status == Status::success);
  CHECK(only(r).data->count == 2);
  const auto rec = c.get("CUSTOMER", 1);
  CHECK(rec->fields.at("NAME") == "Uno");
  CHECK(rec->fields.at("STATUS") == "inactive");
  CHECK(rec->fields.at("WHENMODIFIED") == "11/22/2026 13:00:05");
  CHECK(rec->fields.at("WHENCREATED") == "11/22/2026 13:00:00");
  r = call(
      c, request(fn(
             "u",
             "<update><CUSTOMER><CUSTOMERID>C404</CUSTOMERID><NAME>x</NAME></CUSTOMER></update>")));
  CHECK(only(r).status == Status::failure);
  CHECK(only(r).errors.at(0).errorno == "BL01001973");
  CHECK(only(r).errors.at(0).description2 == "CUSTOMER record 'C404' does not exist.");
}

TEST_CASE("delete removes the keys; a missing key fails and deletes nothing") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  for (int i = 0; i < 3; ++i) REQUIRE(c.add("CUSTOMER", {{"NAME", "N"}}).has_value());
  auto r = call(c, request(fn("d", "<delete><object>CUSTOMER</object><keys>1,77</keys></delete>")));
  CHECK(only(r).status == Status::failure);
  CHECK(only(r).errors.at(0).description2 == "CUSTOMER record '77' does not exist.");
  CHECK(c.count("CUSTOMER") == 3);
  r = call(c, request(fn("d", "<delete><object>CUSTOMER</object><keys>1,2</keys></delete>")));
  CHECK(only(r).status == Status::success);
  CHECK(c.count("CUSTOMER") == 1);
  CHECK_FALSE(c.get("CUSTOMER", 1));
}

TEST_CASE(
    "in a transaction one failure rolls everything back; the others are aborted with XL03000009") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  REQUIRE(c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}).has_value());
  std::vector<sb::Change> changes;
  c.on_change([&](const sb::Change& ch) { changes.push_back(ch); });
  const auto r =
      call(c, request(fn("a", "<create>" + customer("C2", "Two") + "</create>") +
                          fn("b", "<create>" + customer("C1", "Dup") + "</create>") +
                          fn("c", "<read><object>CUSTOMER</object><keys>1</keys></read>"),
                      login(), true));
  REQUIRE(r.results.size() == 3);
  CHECK(r.results[0].status == Status::aborted);
  CHECK_FALSE(r.results[0].data);
  REQUIRE(r.results[0].errors.size() == 1);
  CHECK(r.results[0].errors[0].errorno == "XL03000009");
  CHECK(r.results[0].errors[0].description2 ==
        "The entire transaction in this operation has been rolled back due to an error.");
  CHECK(r.results[1].status == Status::failure);
  CHECK(r.results[1].errors.front().errorno == "BL34000061");
  CHECK(r.results[1].errors.back().errorno == "XL03000009");
  CHECK(r.results[2].status == Status::aborted);
  CHECK(c.count("CUSTOMER") == 1);
  CHECK(changes.empty());
  // Without transaction="true" the first create stays.
  const auto loose = call(c, request(fn("a", "<create>" + customer("C2", "Two") + "</create>") +
                                     fn("b", "<create>" + customer("C1", "Dup") + "</create>")));
  CHECK(loose.results.at(0).status == Status::success);
  CHECK(loose.results.at(1).status == Status::failure);
  CHECK(c.count("CUSTOMER") == 2);
}

TEST_CASE(
    "with uniqueid=true a write whose function controlid already ran is refused, not run twice") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  const auto create =
      fn("pay-1-create", "<create><CUSTOMER><NAME>No id</NAME></CUSTOMER></create>");
  CHECK(only(call(c, request(create, login(), false, true))).status == Status::success);
  const auto r = call(c, request(create, login(), false, true));
  CHECK(only(r).status == Status::failure);
  CHECK(only(r).errors.at(0).errorno == "SANDBOX_DUPLICATE_CONTROLID");
  CHECK(only(r).errors.at(0).description2 ==
        "A function with controlid 'pay-1-create' was already executed; with uniqueid=true it is "
        "not run again.");
  CHECK(c.count("CUSTOMER") == 1);
  // uniqueid=false: Intacct runs it again.
  CHECK(only(call(c, request(create))).status == Status::success);
  CHECK(c.count("CUSTOMER") == 2);
  // A failed write did not complete, so its controlid may run again.
  const auto failing = fn("f-1", "<create><CUSTOMER><NAME></NAME></CUSTOMER></create>");
  CHECK(only(call(c, request(failing, login(), false, true))).errors.at(0).errorno == "BL01001973");
  CHECK(only(call(c, request(failing, login(), false, true))).errors.at(0).errorno == "BL01001973");
}

TEST_CASE("a company that needs payment batches refuses an ARPYMT without PRBATCH") {
  isync::ManualClock clock(kStart);
  auto o = options();
  o.payment_batch_required = true;
  sb::Company c(o, clock);
  REQUIRE(c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}).has_value());
  const std::string pay =
      "<ARPYMT><CUSTOMERID>C1</CUSTOMERID><PAYMENTMETHOD>Cash</PAYMENTMETHOD><FINANCIALENTITY>BOA</"
      "FINANCIALENTITY>"
      "<RECEIPTDATE>11/20/2026</RECEIPTDATE><TOTALENTERED>5</TOTALENTERED>";
  auto r = call(c, request(fn("p", "<create>" + pay + "</ARPYMT></create>")));
  CHECK(only(r).status == Status::failure);
  CHECK(only(r).errors.at(0).description2 == "Please provide a payment batch key.");
  r = call(c, request(fn("p", "<create>" + pay + "<PRBATCH>B1</PRBATCH></ARPYMT></create>")));
  CHECK(only(r).status == Status::success);
  CHECK(c.get("ARPYMT", 1)->fields.at("RECORDTYPE") == "rr");
}
