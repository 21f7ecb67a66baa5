// What the in-process sandbox tests share: a fixed start time and the options
// of a company with one sender and one user.
#pragma once

#include <cstdint>

#include "sandbox/sandbox.hpp"

namespace isync::sandbox::test {

inline constexpr std::int64_t kStart = 1795352400000;  // 2026-11-22T13:00:00Z

inline Options options() {
  Options o;
  o.credentials = {"SENDER", "sender-pw", "ACME", "ws_user", "user-pw"};
  o.endpoint_url = "http://127.0.0.1:8089/ia/xml/xmlgw.phtml";
  return o;
}

}  // namespace isync::sandbox::test
