// The [admin] table's replay_rate: default, file, environment, bounds.
#include <doctest/doctest.h>

#include <string>

#include "config/config.hpp"

using namespace isync::config;
using Env = std::map<std::string, std::string>;

TEST_CASE("[admin] replay_rate defaults to 20 events per second per tenant") {
  auto c = load_text("", "test.toml", {});
  REQUIRE(c.has_value());
  CHECK(c->admin.replay_rate == 20);
  CHECK(render(*c).find("[admin]\ntoken = \"\"\nreplay_rate = 20\n") != std::string::npos);
}

TEST_CASE("[admin] replay_rate is read from the file and from INTACCT_SYNC_ADMIN_REPLAY_RATE") {
  auto c = load_text("[admin]\nreplay_rate = 500\n", "test.toml", {});
  REQUIRE(c.has_value());
  CHECK(c->admin.replay_rate == 500);
  auto again = load_text(render(*c), "rendered.toml", {});
  REQUIRE(again.has_value());
  CHECK(again->admin.replay_rate == 500);
  auto env = load_text("", "test.toml", Env{{"INTACCT_SYNC_ADMIN_REPLAY_RATE", "7"}});
  REQUIRE(env.has_value());
  CHECK(env->admin.replay_rate == 7);
}

TEST_CASE("[admin] replay_rate outside 1..100000 or not a whole number is refused, named") {
  auto error_of = [](const std::string& toml) {
    auto r = load_text(toml, "test.toml", {});
    REQUIRE_FALSE(r.has_value());
    return r.error().message;
  };
  CHECK(error_of("[admin]\nreplay_rate = 0\n") ==
        "admin.replay_rate: must be between 1 and 100000, got 0");
  CHECK(error_of("[admin]\nreplay_rate = 100001\n") ==
        "admin.replay_rate: must be between 1 and 100000, got 100001");
  CHECK(error_of("[admin]\nreplay_rate = \"fast\"\n") ==
        "admin.replay_rate: expected a whole number");
}
