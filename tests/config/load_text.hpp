// The config tests' two ways of loading a TOML text as "test.toml" with an
// environment: load_ok (the test fails with the message when it does not
// load) and load_error (the message of a refusal, whose code must be
// "config"). Shared by config_test.cpp, intacct_config_test.cpp and
// payments_config_test.cpp.
#pragma once

#include <doctest/doctest.h>

#include <map>
#include <string>

#include "config/config.hpp"

namespace isync::config::test_load {

using Env = std::map<std::string, std::string>;

inline std::string load_error(const std::string& toml, const Env& env = {}) {
  auto r = load_text(toml, "test.toml", env);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "config");
  return r.error().message;
}

inline Config load_ok(const std::string& toml, const Env& env = {}) {
  auto r = load_text(toml, "test.toml", env);
  if (!r) FAIL(r.error().message);
  return *r;
}

}  // namespace isync::config::test_load
