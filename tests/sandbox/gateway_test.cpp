// The gateway's levels and functions, read back with the client's parser.
#include <doctest/doctest.h>

#include <algorithm>

#include "intacct/intacct.hpp"
#include "sandbox/sandbox.hpp"
#include "tests/sandbox/options.hpp"

namespace sb = isync::sandbox;
namespace ii = isync::intacct;
using ii::Status;

namespace {

using isync::sandbox::test::kStart;
using isync::sandbox::test::options;

std::string login() {
  return "<login><userid>ws_user</userid><companyid>ACME</companyid><password>user-pw</password></"
         "login>";
}

std::string session(const std::string& id) { return "<sessionid>" + id + "</sessionid>"; }

std::string request(const std::string& functions, const std::string& auth = login(),
                    bool transaction = false, bool uniqueid = false,
                    const std::string& sender = "SENDER", const std::string& pw = "sender-pw") {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><request><control><senderid>" + sender +
         "</senderid><password>" + pw + "</password><controlid>req-1</controlid><uniqueid>" +
         (uniqueid ? "true" : "false") +
         "</uniqueid><dtdversion>3.0</dtdversion></control><operation transaction=\"" +
         (transaction ? "true" : "false") + "\"><authentication>" + auth +
         "</authentication><content>" + functions + "</content></operation></request>";
}

std::string fn(const std::string& cid, const std::string& body) {
  return "<function controlid=\"" + cid + "\">" + body + "</function>";
}

ii::Response call(sb::Company& c, const std::string& body) {
  const auto reply = c.handle_gateway(body, "application/xml");
  auto r = ii::parse_response(reply.status, reply.content_type, reply.body);
  REQUIRE_MESSAGE(r.has_value(), reply.body);
  return *r;
}

const ii::FunctionResult& only(const ii::Response& r) {
  REQUIRE(r.control_status == Status::success);
  REQUIRE(r.authentication);
  REQUIRE(r.authentication->status == Status::success);
  REQUIRE(r.results.size() == 1);
  return r.results[0];
}

std::string field(const ii::Row& row, std::string_view name) {
  const auto* v = row.get(name);
  REQUIRE_MESSAGE(v != nullptr, "no field " << name);
  return *v;
}

std::string customer(const std::string& id, const std::string& name) {
  return "<CUSTOMER><CUSTOMERID>" + id + "</CUSTOMERID><NAME>" + name +
         "</NAME><DISPLAYCONTACT><EMAIL1>a@example.com</EMAIL1></DISPLAYCONTACT></CUSTOMER>";
}

std::string open_session(sb::Company& c) {
  const auto r = call(c, request(fn("s", "<getAPISession/>")));
  const auto& res = only(r);
  REQUIRE(res.api_session);
  return res.api_session->session_id.reveal();
}

}  // namespace

TEST_CASE("a reply is Intacct's response document, declaration first, as text/xml") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  const auto reply = c.handle_gateway(request(fn("s", "<getAPISession/>")), "application/xml");
  CHECK(reply.status == 200);
  CHECK(reply.content_type == "text/xml");
  CHECK(reply.body.rfind(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><response><control><status>success</status>",
            0) == 0);
}

TEST_CASE(
    "getAPISession answers a fresh session, the endpoint and the stamps of a sliding session") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  const auto r = call(c, request(fn("get-1", "<getAPISession/>")));
  const auto& res = only(r);
  CHECK(res.function == "getAPISession");
  CHECK(res.control_id == "get-1");
  REQUIRE(res.api_session);
  CHECK(res.api_session->endpoint == "http://127.0.0.1:8089/ia/xml/xmlgw.phtml");
  CHECK(res.api_session->location_id.empty());
  CHECK(res.api_session->session_id.reveal().size() > 20);
  CHECK(r.authentication->user_id == "ws_user");
  CHECK(r.authentication->company_id == "ACME");
  CHECK(r.authentication->session_timestamp == kStart / 1000);
  CHECK(r.authentication->session_timeout == kStart / 1000 + 2 * 3600);

  const auto other =
      call(c, request(fn("get-2", "<getAPISession><locationid>E1</locationid></getAPISession>")));
  CHECK(only(other).api_session->location_id == "E1");
  CHECK(only(other).api_session->session_id.reveal() != res.api_session->session_id.reveal());
  const auto with_entity =
      call(c, request(fn("r", "<read><object>CUSTOMER</object><keys>1</keys></read>"),
                      session(only(other).api_session->session_id.reveal())));
  CHECK(with_entity.authentication->location_id == "E1");
}

TEST_CASE("a session slides with each call and expires session_duration after the last one") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  const auto id = open_session(c);
  const auto read = fn("r", "<read><object>CUSTOMER</object><keys>1</keys></read>");
  clock.advance(3600 * 1000);
  auto r = call(c, request(read, session(id)));
  CHECK(only(r).status == Status::success);
  CHECK(r.authentication->session_timeout == (kStart + 3600 * 1000) / 1000 + 2 * 3600);
  clock.advance(3600 * 1000 + 1800 * 1000);  // 2.5 h after creation, 1.5 h after the last call
  CHECK(only(call(c, request(read, session(id)))).status == Status::success);
  clock.advance(2 * 3600 * 1000);
  r = call(c, request(read, session(id)));
  CHECK(r.control_status == Status::success);
  REQUIRE(r.authentication);
  CHECK(r.authentication->status == Status::failure);
  REQUIRE(r.authentication->errors.size() == 1);
  CHECK(r.authentication->errors[0].errorno == "XL03000006");
  CHECK(r.authentication->errors[0].description2 == "Invalid session");
  CHECK(r.results.empty());
}

TEST_CASE("expire_sessions invalidates every open session at once") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  const auto id = open_session(c);
  c.expire_sessions();
  const auto r = call(
      c, request(fn("r", "<read><object>CUSTOMER</object><keys>1</keys></read>"), session(id)));
  CHECK(r.authentication->status == Status::failure);
  CHECK(r.authentication->errors.at(0).description2 == "Invalid session");
  CHECK(r.results.empty());
}

TEST_CASE("a wrong sender password is a control failure XL03000006 without an operation") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  const auto reply = c.handle_gateway(
      request(fn("s", "<getAPISession/>"), login(), false, false, "SENDER", "Sender-pw"),
      "application/xml");
  CHECK(reply.status == 200);
  CHECK(reply.body.find("<operation>") == std::string::npos);
  const auto r = *ii::parse_response(reply.status, reply.content_type, reply.body);
  CHECK(r.control_status == Status::failure);
  CHECK(r.control_id == "req-1");
  REQUIRE(r.control_errors.size() == 1);
  CHECK(r.control_errors[0].errorno == "XL03000006");
  CHECK(r.control_errors[0].description2 == "Incorrect Intacct XML Partner ID or password.");
  CHECK_FALSE(r.authentication);
  CHECK(c.stats().calls_by_function.empty());
}

TEST_CASE("a request without a sender id is HTTP 401 with XMLGW_JPP0002") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  const auto reply =
      c.handle_gateway(request(fn("s", "<getAPISession/>"), login(), false, false, ""), "text/xml");
  CHECK(reply.status == 401);
  CHECK(reply.content_type == "text/xml");
  const auto r = *ii::parse_response(reply.status, reply.content_type, reply.body);
  CHECK(r.has_body);
  CHECK(r.control_status == Status::failure);
  REQUIRE(r.control_errors.size() == 1);
  CHECK(r.control_errors[0].errorno == "XMLGW_JPP0002");
  CHECK(r.control_errors[0].description ==
        "Sign-in information is incorrect. Please check your request.");
}

TEST_CASE("a wrong user password is an authentication failure XL03000006 and nothing runs") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  const auto bad =
      "<login><userid>ws_user</userid><companyid>ACME</companyid><password>nope</password></login>";
  const auto r = call(c, request(fn("c", "<create>" + customer("C1", "One") + "</create>"), bad));
  CHECK(r.control_status == Status::success);
  REQUIRE(r.authentication);
  CHECK(r.authentication->status == Status::failure);
  CHECK(r.authentication->user_id == "ws_user");
  CHECK(r.authentication->company_id == "ACME");
  REQUIRE(r.authentication->errors.size() == 1);
  CHECK(r.authentication->errors[0].errorno == "XL03000006");
  CHECK(r.authentication->errors[0].description2 == "Sign-in information is incorrect");
  CHECK(r.results.empty());
  CHECK(c.count("CUSTOMER") == 0);
}

TEST_CASE("a body that is not XML is a control failure XL03000003") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  const auto r = call(c, "<request><control>");
  CHECK(r.control_status == Status::failure);
  REQUIRE(r.control_errors.size() == 1);
  CHECK(r.control_errors[0].errorno == "XL03000003");
  const auto big = call(c, std::string(sb::kMaxGatewayBody + 1, ' '));
  CHECK(big.control_errors.at(0).errorno == "XL03000003");
  CHECK(big.control_errors.at(0).description2 == "The request is larger than 10 MiB.");
  const auto dtd =
      call(c, request(fn("s", "<getAPISession/>")).replace(request("").find("3.0"), 3, "2.1"));
  CHECK(dtd.control_errors.at(0).errorno == "XL03000003");
}

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

TEST_CASE("rate-limit faults answer GW-0010 as HTTP 429 or inside a 200, before anything runs") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  sb::Faults f;
  f.rate_limit = 2;
  c.set_faults(f);
  const auto body = request(fn("c", "<create>" + customer("C1", "One") + "</create>"));
  auto reply = c.handle_gateway(body, "application/xml");
  CHECK(reply.status == 429);
  auto r = *ii::parse_response(reply.status, reply.content_type, reply.body);
  CHECK(r.control_errors.at(0).errorno == "GW-0010");
  f.rate_limit = 1;
  f.rate_limit_http = false;
  c.set_faults(f);
  reply = c.handle_gateway(body, "application/xml");
  CHECK(reply.status == 200);
  r = *ii::parse_response(reply.status, reply.content_type, reply.body);
  CHECK(r.control_status == Status::failure);
  CHECK(r.control_errors.at(0).errorno == "GW-0010");
  CHECK(c.count("CUSTOMER") == 0);
  CHECK(c.faults().rate_limit == 0);
  CHECK(c.stats().faults_injected == 2);
  CHECK(c.handle_gateway(body, "application/xml").status == 200);
  CHECK(c.count("CUSTOMER") == 1);
}

TEST_CASE("server_error answers 503 without XML and runs nothing") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  sb::Faults f;
  f.server_error = 1;
  f.latency = std::chrono::milliseconds(250);
  c.set_faults(f);
  const auto body = request(fn("c", "<create>" + customer("C1", "One") + "</create>"));
  const auto reply = c.handle_gateway(body, "application/xml");
  CHECK(reply.status == 503);
  CHECK(reply.content_type == "text/plain");
  CHECK(reply.delay == std::chrono::milliseconds(250));
  CHECK(c.count("CUSTOMER") == 0);
  CHECK(c.handle_gateway(body, "application/xml").status == 200);
  CHECK(c.stats().requests == 2);
}

TEST_CASE("deny_reads fails the next read as a missing permission, at the result level") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  REQUIRE(call(c, request(fn("c", "<create>" + customer("C1", "One") + "</create>")))
              .results.at(0)
              .status == Status::success);
  sb::Faults f;
  f.deny_reads = 1;
  c.set_faults(f);
  const auto read = request(fn("r", "<read><object>CUSTOMER</object><keys>1</keys></read>"));
  auto r = call(c, read);
  REQUIRE(r.results.size() == 1);
  CHECK(r.results[0].status == Status::failure);
  REQUIRE(r.results[0].errors.size() == 1);
  CHECK(r.results[0].errors[0].errorno == "BL01001973");
  CHECK(r.results[0].errors[0].description2 ==
        "You do not have permission for API operation READ on objects of type customer.");
  CHECK(r.results[0].errors[0].correction ==
        "Ask a company administrator to give the Web Services user List and View permission on "
        "this object.");
  CHECK(c.faults().deny_reads == 0);
  CHECK(call(c, read).results.at(0).status == Status::success);
}

TEST_CASE("timeout_after_write runs the write, then answers 524; reads are not affected") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  sb::Faults f;
  f.timeout_after_write = 1;
  c.set_faults(f);
  CHECK(c.handle_gateway(request(fn("s", "<getAPISession/>")), "").status == 200);
  const auto reply =
      c.handle_gateway(request(fn("c", "<create>" + customer("C1", "One") + "</create>")), "");
  CHECK(reply.status == 524);
  CHECK(reply.content_type == "text/plain");
  CHECK(c.count("CUSTOMER") == 1);
  CHECK(c.faults().timeout_after_write == 0);
}

TEST_CASE(
    "land_later answers 524 at once and the write lands land_delay later with its reserved "
    "RECORDNO") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  std::vector<sb::Change> changes;
  c.on_change([&](const sb::Change& ch) { changes.push_back(ch); });
  sb::Faults f;
  f.land_later = 1;
  f.land_delay = std::chrono::milliseconds(3000);
  c.set_faults(f);
  const auto create = fn("late-1", "<create>" + customer("C1", "Late") + "</create>");
  const auto reply = c.handle_gateway(request(create, login(), false, true), "");
  CHECK(reply.status == 524);
  CHECK(c.count("CUSTOMER") == 0);
  // Another create meanwhile takes the next RECORDNO, not the reserved one.
  REQUIRE(c.add("CUSTOMER", {{"NAME", "Meanwhile"}}).has_value());
  CHECK(c.get("CUSTOMER", 2));
  // A retry of the same function before it lands is not run twice.
  CHECK(only(call(c, request(create, login(), false, true))).errors.at(0).errorno ==
        "SANDBOX_DUPLICATE_CONTROLID");
  clock.advance(2999);
  CHECK(c.run_due() == 0);
  clock.advance(1);
  CHECK(c.run_due() == 1);
  const auto landed = c.get("CUSTOMER", 1);
  REQUIRE(landed);
  CHECK(landed->fields.at("CUSTOMERID") == "C1");
  CHECK(landed->fields.at("WHENMODIFIED") == "11/22/2026 13:00:03");
  REQUIRE(changes.size() == 2);
  CHECK(changes[1].action == "add");
  CHECK(changes[1].recordno == 1);
  CHECK(changes[1].at_ms == kStart + 3000);
  CHECK(c.run_due() == 0);
  CHECK(c.stats().faults_injected == 1);
}

TEST_CASE("drop_events counts down through take_event_drop") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  sb::Faults f;
  f.drop_events = 2;
  c.set_faults(f);
  const sb::Change change{"CUSTOMER", "add", 1, "11/22/2026 13:00:00", kStart, {}};
  CHECK(c.take_event_drop(change));
  CHECK(c.take_event_drop(change));
  CHECK_FALSE(c.take_event_drop(change));
  CHECK(c.stats().faults_injected == 2);
}

TEST_CASE("a DTD's entities are never expanded") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  const std::string body =
      "<?xml version=\"1.0\"?><!DOCTYPE request [<!ENTITY s \"SENDER\"><!ENTITY a "
      "\"&s;&s;&s;&s;\">]>"
      "<request><control><senderid>&s;</senderid><password>sender-pw</password><controlid>1</"
      "controlid>"
      "<uniqueid>false</uniqueid><dtdversion>3.0</dtdversion></"
      "control><operation><authentication>" +
      login() + "</authentication><content>" + fn("s", "<getAPISession/>") +
      "</content></operation></request>";
  const auto r = call(c, body);
  CHECK(r.control_status == Status::failure);
  CHECK(r.control_errors.at(0).errorno == "XL03000006");
}

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

TEST_CASE("fault ratios: 1 always faults, 0 never; each hit is counted by name") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  const auto write = [&](int i) {
    return request(fn("c" + std::to_string(i),
                      "<create>" + customer("C" + std::to_string(i), "N") + "</create>"));
  };
  const auto read = request(fn("r", "<read><object>CUSTOMER</object><keys>1</keys></read>"));
  sb::Faults f;
  f.server_error_ratio = 1.0;
  c.set_faults(f);
  for (int i = 0; i < 5; ++i) CHECK(c.handle_gateway(read, "").status == 503);
  CHECK(c.stats().faults_by_name.at("server_error") == 5);

  f = {};
  f.timeout_after_write_ratio = 1.0;
  c.set_faults(f);
  CHECK(c.handle_gateway(read, "").status == 200);  // only requests with a write
  for (int i = 0; i < 3; ++i) CHECK(c.handle_gateway(write(i), "").status == 524);
  CHECK(c.count("CUSTOMER") == 3);
  CHECK(c.stats().faults_by_name.at("timeout_after_write") == 3);

  f = {};
  f.land_later_ratio = 1.0;
  f.land_delay = std::chrono::milliseconds(1000);
  c.set_faults(f);
  CHECK(c.handle_gateway(read, "").status == 200);
  CHECK(c.handle_gateway(write(10), "").status == 524);
  CHECK(c.count("CUSTOMER") == 3);
  clock.advance(1000);
  CHECK(c.run_due() == 1);
  CHECK(c.count("CUSTOMER") == 4);
  CHECK(c.stats().faults_by_name.at("land_later") == 1);

  f = {};  // every ratio 0: nothing injected
  c.set_faults(f);
  const auto before = c.stats().faults_injected;
  for (int i = 20; i < 40; ++i) CHECK(c.handle_gateway(write(i), "").status == 200);
  CHECK(c.stats().faults_injected == before);
  CHECK(before == 9);
}

TEST_CASE("a fault ratio draws deterministically from the seed and lands near its ratio") {
  const auto run = [](std::uint64_t seed) {
    isync::ManualClock clock(kStart);
    auto o = options();
    o.seed = seed;
    sb::Company c(o, clock);
    sb::Faults f;
    f.server_error_ratio = 0.25;
    c.set_faults(f);
    const auto read = request(fn("r", "<read><object>CUSTOMER</object><keys>1</keys></read>"));
    std::string pattern;
    for (int i = 0; i < 400; ++i) pattern += c.handle_gateway(read, "").status == 503 ? 'x' : '.';
    CHECK(c.stats().faults_by_name.at("server_error") ==
          static_cast<std::int64_t>(std::count(pattern.begin(), pattern.end(), 'x')));
    return pattern;
  };
  const auto a = run(7), b = run(7), other = run(8);
  CHECK(a == b);
  CHECK(a != other);
  const auto hits = std::count(a.begin(), a.end(), 'x');
  CHECK(hits > 60);
  CHECK(hits < 140);
}
