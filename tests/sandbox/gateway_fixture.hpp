// The gateway tests' request documents, and calls read back with the client's parser.
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "intacct/intacct.hpp"
#include "sandbox/sandbox.hpp"
#include "tests/sandbox/options.hpp"

namespace isync::sandbox::test::gateway {

namespace sb = isync::sandbox;
namespace ii = isync::intacct;
using ii::Status;
using isync::sandbox::test::kStart;
using isync::sandbox::test::options;

inline std::string login() {
  return "<login><userid>ws_user</userid><companyid>ACME</companyid><password>user-pw</password></"
         "login>";
}

inline std::string session(const std::string& id) { return "<sessionid>" + id + "</sessionid>"; }

inline std::string request(const std::string& functions, const std::string& auth = login(),
                           bool transaction = false, bool uniqueid = false,
                           const std::string& sender = "SENDER",
                           const std::string& pw = "sender-pw") {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><request><control><senderid>" + sender +
         "</senderid><password>" + pw + "</password><controlid>req-1</controlid><uniqueid>" +
         (uniqueid ? "true" : "false") +
         "</uniqueid><dtdversion>3.0</dtdversion></control><operation transaction=\"" +
         (transaction ? "true" : "false") + "\"><authentication>" + auth +
         "</authentication><content>" + functions + "</content></operation></request>";
}

inline std::string fn(const std::string& cid, const std::string& body) {
  return "<function controlid=\"" + cid + "\">" + body + "</function>";
}

inline ii::Response call(sb::Company& c, const std::string& body) {
  const auto reply = c.handle_gateway(body, "application/xml");
  auto r = ii::parse_response(reply.status, reply.content_type, reply.body);
  REQUIRE_MESSAGE(r.has_value(), reply.body);
  return *r;
}

inline const ii::FunctionResult& only(const ii::Response& r) {
  REQUIRE(r.control_status == Status::success);
  REQUIRE(r.authentication);
  REQUIRE(r.authentication->status == Status::success);
  REQUIRE(r.results.size() == 1);
  return r.results[0];
}

inline std::string field(const ii::Row& row, std::string_view name) {
  const auto* v = row.get(name);
  REQUIRE_MESSAGE(v != nullptr, "no field " << name);
  return *v;
}

inline std::string customer(const std::string& id, const std::string& name) {
  return "<CUSTOMER><CUSTOMERID>" + id + "</CUSTOMERID><NAME>" + name +
         "</NAME><DISPLAYCONTACT><EMAIL1>a@example.com</EMAIL1></DISPLAYCONTACT></CUSTOMER>";
}

inline std::string open_session(sb::Company& c) {
  const auto r = call(c, request(fn("s", "<getAPISession/>")));
  const auto& res = only(r);
  REQUIRE(res.api_session);
  return res.api_session->session_id.reveal();
}

}  // namespace isync::sandbox::test::gateway
