// The gateway's control and authentication levels, read back with the
// client's parser: the reply document, API sessions and their expiry, sender
// and user credentials, bodies that are not XML, DTD entities.
#include <doctest/doctest.h>

#include "tests/sandbox/gateway_fixture.hpp"

using namespace isync::sandbox::test::gateway;

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
