// The small company both sandbox targets run against: fresh for every input,
// so a run never depends on the inputs before it.
#pragma once

#include <cstdint>

#include "core/core.hpp"
#include "fuzz/check.hpp"
#include "sandbox/sandbox.hpp"

namespace isync::fuzz {

inline constexpr std::int64_t kSandboxStart = 1795352400000;  // 2026-11-22T13:00:00Z

inline sandbox::Options sandbox_options() {
  sandbox::Options o;
  o.credentials = {"SENDER", "sender-pw", "ACME", "ws_user", "user-pw"};
  o.endpoint_url = "http://127.0.0.1:8089/ia/xml/xmlgw.phtml";
  return o;
}

// Customers 1 (C1) and 2 (C2), invoice 1 of 100.00 for C1, payment 1 of
// 40.00 on it.
inline void seed_company(sandbox::Company& c) {
  bool ok = c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}).has_value() &&
            c.add("CUSTOMER", {{"CUSTOMERID", "C2"}, {"NAME", "Two"}}).has_value() &&
            c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "100"}}).has_value() &&
            c.add("ARPYMT", {{"CUSTOMERID", "C1"},
                             {"PAYMENTMETHOD", "Credit Card"},
                             {"UNDEPOSITEDACCOUNTNO", "1010"},
                             {"RECEIPTDATE", "11/21/2026"},
                             {"DOCNUMBER", "ch_1"},
                             {"ARPYMTDETAILS.ARPYMTDETAIL.0.RECORDKEY", "1"},
                             {"ARPYMTDETAILS.ARPYMTDETAIL.0.TRX_PAYMENTAMOUNT", "40"}})
                .has_value();
  FUZZ_CHECK(ok, "seeding the company");
}

}  // namespace isync::fuzz
