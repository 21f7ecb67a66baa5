// The drift tests' company on a fixed clock, and calls through the client's request writer.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "intacct/intacct.hpp"
#include "sandbox/sandbox.hpp"

namespace isync::sandbox::test::drift {

namespace sb = isync::sandbox;
namespace ii = isync::intacct;

inline constexpr std::int64_t kJan5 = 1767614400000;     // 2026-01-05T12:00:00Z
inline constexpr std::int64_t k240Days = 240LL * 86400;  // seconds

inline sb::Options options(std::uint64_t seed = 1) {
  sb::Options o;
  o.credentials = {"SENDER", "sender-pw", "ACME", "ws_user", "user-pw"};
  o.endpoint_url = "http://127.0.0.1:8089/ia/xml/xmlgw.phtml";
  o.seed = seed;
  return o;
}

using Fields = std::map<std::string, std::string>;

inline sb::Record must(const isync::Result<sb::Record>& r) {
  REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? std::string{} : r.error().message));
  return *r;
}

// One function through the client's request writer and response parser.
inline ii::FunctionResult run(sb::Company& c, ii::Call call) {
  ii::Request r;
  r.sender_id = "SENDER";
  r.sender_password = isync::Secret("sender-pw");
  r.control_id = "t";
  r.auth = ii::Login{"ws_user", "ACME", isync::Secret("user-pw"), ""};
  r.functions = {{"f", std::move(call)}};
  const auto xml = ii::to_xml(r);
  REQUIRE_MESSAGE(xml.has_value(), (xml ? std::string{} : xml.error().message));
  const auto reply = c.handle_gateway(*xml, "application/xml");
  auto parsed = ii::parse_response(reply.status, reply.content_type, reply.body);
  REQUIRE_MESSAGE(parsed.has_value(), reply.body);
  REQUIRE_MESSAGE(parsed->results.size() == 1, reply.body);
  return parsed->results[0];
}

inline std::string text(const ii::Row* row, const char* name) {
  const auto* v = row->get(name);
  return v ? *v : "<absent>";
}

inline std::vector<std::int64_t> recordnos(const ii::FunctionResult& r, const std::string& object) {
  std::vector<std::int64_t> out;
  REQUIRE(r.data);
  for (const auto* row : r.data->rows_of(object)) out.push_back(std::stoll(text(row, "RECORDNO")));
  return out;
}

inline Fields payment(const std::string& customer, std::int64_t invoice, const std::string& amount,
                      const std::string& docnumber) {
  return {{"CUSTOMERID", customer},
          {"PAYMENTMETHOD", "EFT"},
          {"FINANCIALENTITY", "BOA"},
          {"RECEIPTDATE", "01/04/2026"},
          {"DOCNUMBER", docnumber},
          {"ARPYMTDETAILS.ARPYMTDETAIL.0.RECORDKEY", std::to_string(invoice)},
          {"ARPYMTDETAILS.ARPYMTDETAIL.0.TRX_PAYMENTAMOUNT", amount}};
}

struct Fixture {
  isync::ManualClock clock{kJan5};
  sb::Company c;
  std::mutex mu;
  std::vector<sb::Change> changes;
  explicit Fixture(std::uint64_t seed = 1) : c(options(seed), clock) {
    c.on_change([this](const sb::Change& ch) {
      std::lock_guard lock(mu);
      changes.push_back(ch);
    });
  }
  std::size_t seen() {
    std::lock_guard lock(mu);
    return changes.size();
  }
  void offset(std::chrono::seconds by) {
    auto s = c.settings();
    s.write_clock_offset = by;
    c.set_settings(s);
  }
  std::string f(const std::string& object, std::int64_t no, const std::string& name) {
    const auto r = c.get(object, no);
    REQUIRE(r);
    return r->fields.count(name) ? r->fields.at(name) : "<absent>";
  }
};

}  // namespace isync::sandbox::test::drift
