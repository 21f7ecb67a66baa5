// Loads a gateway response body from tests/intacct/fixtures.
#pragma once

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "intacct/intacct.hpp"

namespace isync::intacct::test {

inline std::string fixture(const std::string& name) {
  std::ifstream in(std::string(ISYNC_INTACCT_FIXTURES) + "/" + name, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing fixture " << name);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Parses a fixture as a reply with this status and Content-Type text/xml.
inline Response parsed(const std::string& name, int http_status = 200) {
  auto r = parse_response(http_status, "text/xml; charset=UTF-8", fixture(name));
  REQUIRE_MESSAGE(r.has_value(), name << ": " << (r ? std::string() : r.error().message));
  return *r;
}

}  // namespace isync::intacct::test
