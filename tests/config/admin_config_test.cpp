// The [admin] table: replay_rate and the console keys — default, file, environment, bounds.
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

TEST_CASE("[admin] console keys default to an 8h session and no Secure flag") {
  auto c = load_text("", "test.toml", {});
  REQUIRE(c.has_value());
  CHECK(c->admin.console_session_ttl == std::chrono::hours(8));
  CHECK_FALSE(c->admin.console_secure_cookie);
  CHECK(render(*c).find("replay_rate = 20\nconsole_session_ttl = \"8h\"\n"
                        "console_secure_cookie = false\n") != std::string::npos);
}

TEST_CASE("[admin] console keys are read from the file and from the environment") {
  auto c = load_text("[admin]\nconsole_session_ttl = \"30m\"\nconsole_secure_cookie = true\n",
                     "test.toml", {});
  REQUIRE(c.has_value());
  CHECK(c->admin.console_session_ttl == std::chrono::minutes(30));
  CHECK(c->admin.console_secure_cookie);
  auto again = load_text(render(*c), "rendered.toml", {});
  REQUIRE(again.has_value());
  CHECK(again->admin.console_session_ttl == std::chrono::minutes(30));
  CHECK(again->admin.console_secure_cookie);
  auto env = load_text("", "test.toml",
                       Env{{"INTACCT_SYNC_ADMIN_CONSOLE_SESSION_TTL", "2h"},
                           {"INTACCT_SYNC_ADMIN_CONSOLE_SECURE_COOKIE", "true"}});
  REQUIRE(env.has_value());
  CHECK(env->admin.console_session_ttl == std::chrono::hours(2));
  CHECK(env->admin.console_secure_cookie);
}

TEST_CASE("[admin] console_session_ttl outside 1m..7d or not whole seconds is refused, named") {
  auto error_of = [](const std::string& toml) {
    auto r = load_text(toml, "test.toml", {});
    REQUIRE_FALSE(r.has_value());
    return r.error().message;
  };
  CHECK(error_of("[admin]\nconsole_session_ttl = \"30s\"\n") ==
        "admin.console_session_ttl: must be between 1m and 7d, got \"30s\"");
  CHECK(error_of("[admin]\nconsole_session_ttl = \"8d\"\n") ==
        "admin.console_session_ttl: must be between 1m and 7d, got \"8d\"");
  CHECK(error_of("[admin]\nconsole_session_ttl = \"90500ms\"\n") ==
        "admin.console_session_ttl: must be whole seconds, got \"90500ms\"");
  CHECK(error_of("[admin]\nconsole_secure_cookie = \"yes\"\n") ==
        "admin.console_secure_cookie: expected true or false");
}
