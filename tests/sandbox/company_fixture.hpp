// The company tests' fixture (a company that records its changes) and record helpers.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "sandbox/sandbox.hpp"
#include "tests/sandbox/options.hpp"

namespace isync::sandbox::test::company {

namespace sb = isync::sandbox;

using Fields = std::map<std::string, std::string>;

inline sb::Record must(const isync::Result<sb::Record>& r) {
  REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? std::string{} : r.error().message));
  return *r;
}

inline std::string error_of(const isync::Result<sb::Record>& r) {
  REQUIRE_FALSE(r.has_value());
  return r.error().code + ": " + r.error().message;
}

inline Fields payment(const std::string& customer,
                      const std::vector<std::pair<std::int64_t, std::string>>& details) {
  Fields f = {{"CUSTOMERID", customer},
              {"PAYMENTMETHOD", "EFT"},
              {"FINANCIALENTITY", "BOA"},
              {"RECEIPTDATE", "11/21/2026"},
              {"DOCNUMBER", "pi_123"}};
  for (std::size_t i = 0; i < details.size(); ++i) {
    const auto p = "ARPYMTDETAILS.ARPYMTDETAIL." + std::to_string(i) + ".";
    f[p + "RECORDKEY"] = std::to_string(details[i].first);
    f[p + "TRX_PAYMENTAMOUNT"] = details[i].second;
  }
  return f;
}

struct Fixture {
  isync::ManualClock clock{kStart};
  sb::Company c{options(), clock};
  std::mutex mu;  // listeners run on the caller's thread, without the company's lock
  std::vector<sb::Change> changes;
  Fixture() {
    c.on_change([this](const sb::Change& ch) {
      std::lock_guard lock(mu);
      changes.push_back(ch);
    });
  }
  std::string f(const std::string& object, std::int64_t no, const std::string& name) {
    const auto r = c.get(object, no);
    REQUIRE(r);
    return r->fields.count(name) ? r->fields.at(name) : "<absent>";
  }
};

}  // namespace isync::sandbox::test::company
