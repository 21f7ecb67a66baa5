// The [reconcile] table: defaults, values from the file and the environment,
// and a message naming each invalid key.
#include <doctest/doctest.h>

#include <string>

#include "config/config.hpp"

using namespace isync::config;
using std::chrono::milliseconds;
using Env = std::map<std::string, std::string>;

namespace {

std::string error_of(const std::string& toml, const Env& env = {}) {
  auto r = load_text(toml, "test.toml", env);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "config");
  return r.error().message;
}

}  // namespace

TEST_CASE("[reconcile] has its documented defaults") {
  auto c = load_text("", "test.toml", {});
  REQUIRE(c.has_value());
  CHECK(c->reconcile.lock_ttl == milliseconds(60'000));
  CHECK(c->reconcile.retry_base == milliseconds(2'000));
  CHECK(c->reconcile.retry_cap == milliseconds(60'000));
  CHECK(c->reconcile.max_attempts == 8);
  CHECK(c->reconcile.keep_runs == 30);
}

TEST_CASE("[reconcile] keys are read from the file, overridden from the environment, rendered") {
  const std::string toml =
      "[reconcile]\nlock_ttl = \"10s\"\nretry_base = \"500ms\"\nretry_cap = \"5s\"\n"
      "max_attempts = 3\nkeep_runs = 5\n";
  auto c = load_text(toml, "test.toml", {{"INTACCT_SYNC_RECONCILE_LOCK_TTL", "2m"}});
  REQUIRE(c.has_value());
  CHECK(c->reconcile.lock_ttl == milliseconds(120'000));
  CHECK(c->reconcile.retry_base == milliseconds(500));
  CHECK(c->reconcile.retry_cap == milliseconds(5'000));
  CHECK(c->reconcile.max_attempts == 3);
  CHECK(c->reconcile.keep_runs == 5);
  const std::string text = render(*c);
  CHECK(text.find("[reconcile]\nlock_ttl = \"2m\"\nretry_base = \"500ms\"\nretry_cap = \"5s\"\n"
                  "max_attempts = 3\nkeep_runs = 5\n") != std::string::npos);
  auto again = load_text(text, "rendered.toml", {});
  REQUIRE(again.has_value());
  CHECK(again->reconcile.lock_ttl == milliseconds(120'000));
  CHECK(again->reconcile.keep_runs == 5);
}

TEST_CASE("each [reconcile] key is validated with a message naming it") {
  CHECK(error_of("[reconcile]\nlock_ttl = \"2s\"\n") ==
        "reconcile.lock_ttl: must be at least 3s, got \"2s\"");
  CHECK(error_of("[reconcile]\nlock_ttl = 60\n") == "reconcile.lock_ttl: expected a string");
  CHECK(error_of("[reconcile]\nmax_attempts = 0\n") ==
        "reconcile.max_attempts: must be between 1 and 100, got 0");
  CHECK(error_of("[reconcile]\nkeep_runs = 1001\n") ==
        "reconcile.keep_runs: must be between 1 and 1000, got 1001");
  CHECK(error_of("[reconcile]\nretry_base = \"10s\"\nretry_cap = \"5s\"\n") ==
        "reconcile.retry_cap: must not be less than reconcile.retry_base");
  CHECK(error_of("[reconcile]\nlock_tll = \"10s\"\n") ==
        "reconcile.lock_tll: unknown key (not a setting; check the spelling)");
  CHECK(error_of("", {{"INTACCT_SYNC_RECONCILE_LOCKTTL", "10s"}}) ==
        "INTACCT_SYNC_RECONCILE_LOCKTTL: no setting reconcile.lockttl can be overridden (check "
        "the spelling)");
}
