// The config file and its environment overrides in general: defaults, every
// section read, overrides, the errors naming key, value, file and line,
// tenants, render with secrets hidden, redis.reconnect_interval and
// mirror.apply_call_budget. The
// Intacct keys: intacct_config_test.cpp; the payment keys:
// payments_config_test.cpp.
#include "config/config.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>

#include "tests/config/load_text.hpp"

using namespace isync::config;
using isync::config::test_load::Env;
using isync::config::test_load::load_error;
using isync::config::test_load::load_ok;
using std::chrono::milliseconds;

TEST_CASE("an empty path gives the documented defaults") {
  auto r = load("", {});
  REQUIRE(r.has_value());
  const Config& c = *r;
  CHECK(c.server.public_listen.text() == "127.0.0.1:8080");
  CHECK(c.server.admin_listen.text() == "127.0.0.1:8081");
  CHECK(c.server.body_limit == 1024 * 1024);
  CHECK(c.server.header_limit == 16 * 1024);
  CHECK(c.server.read_timeout == milliseconds(10'000));
  CHECK(c.server.drain_timeout == milliseconds(25'000));
  CHECK(c.server.max_connections == 10000);
  CHECK(c.server.threads == 0);
  CHECK(c.server.retry_after == milliseconds(1000));
  CHECK_FALSE(c.server.noop_route);
  CHECK(c.redis.url.reveal() == "redis://127.0.0.1:6379/0");
  CHECK(c.redis.command_timeout == milliseconds(5000));
  CHECK(c.queue.workers == 4);
  CHECK(c.queue.visibility_timeout == milliseconds(60'000));
  CHECK(c.queue.retry_base == milliseconds(2000));
  CHECK(c.queue.retry_cap == milliseconds(3'600'000));
  CHECK(c.queue.give_up_after == milliseconds(86'400'000));
  CHECK(c.queue.dedup_window == milliseconds(72LL * 3'600'000));
  CHECK(c.queue.dead_letter_retention == milliseconds(30LL * 86'400'000));
  CHECK(c.queue.done_retention == milliseconds(7LL * 86'400'000));
  CHECK(c.queue.max_deliveries == 20);
  CHECK(c.mirror.audit_max_entries == 100);
  CHECK(c.mirror.audit_max_age == milliseconds(90LL * 86'400'000));
  CHECK(c.mirror.tombstone_retention == milliseconds(30LL * 86'400'000));
  CHECK(c.log.level == isync::Level::info);
  CHECK(c.admin.token.empty());
  CHECK(c.tenants.empty());
  CHECK(c.warnings.empty());
}

TEST_CASE("every section's values are read from the file") {
  auto c = load_ok(R"(
[server]
public_listen = "0.0.0.0:9000"
body_limit = "64KiB"
read_timeout = "500ms"
threads = 3
noop_route = true
trusted_proxies = ["10.0.0.0/8"]
[redis]
url = "redis://10.1.2.3:6380/2"
[queue]
workers = 8
retry_cap = "5m"
[mirror]
audit_max_entries = 7
[intacct]
sender_id = "acme-sender"
[log]
level = "debug"
[[tenant]]
id = "acme"
token = "env:ACME_TOKEN"
allow_cidrs = ["192.168.0.0/16", "2001:db8::/32"]
match_customers_by = "name"
concurrency = 3
)",
                   {{"ACME_TOKEN", "t0k"}});
  CHECK(c.server.public_listen.host == "0.0.0.0");
  CHECK(c.server.public_listen.port == 9000);
  CHECK(c.server.body_limit == 64 * 1024);
  CHECK(c.server.read_timeout == milliseconds(500));
  CHECK(c.server.threads == 3);
  CHECK(c.server.noop_route);
  CHECK(c.server.trusted_proxies == std::vector<std::string>{"10.0.0.0/8"});
  CHECK(c.redis.url.reveal() == "redis://10.1.2.3:6380/2");
  CHECK(c.queue.workers == 8);
  CHECK(c.queue.retry_cap == milliseconds(300'000));
  CHECK(c.mirror.audit_max_entries == 7);
  CHECK(c.intacct.sender_id == "acme-sender");
  CHECK(c.log.level == isync::Level::debug);
  REQUIRE(c.tenants.size() == 1);
  const auto* t = c.tenant("acme");
  REQUIRE(t);
  CHECK(t->token.reveal() == "t0k");
  CHECK(t->allow_cidrs.size() == 2);
  CHECK(t->match_customers_by == "name");
  CHECK(t->concurrency == 3);
  CHECK(t->timezone == "UTC");
  CHECK(t->payment_method == "Credit Card");
  CHECK(c.tenant("other") == nullptr);
}

TEST_CASE("environment overrides win over the file for scalar keys of every section") {
  auto c = load_ok("[queue]\nworkers = 2\n[server]\nnoop_route = false\n",
                   {{"INTACCT_SYNC_QUEUE_WORKERS", "8"},
                    {"INTACCT_SYNC_REDIS_URL", "redis://127.0.0.1:7000/1"},
                    {"INTACCT_SYNC_SERVER_NOOP_ROUTE", "true"},
                    {"INTACCT_SYNC_SERVER_BODY_LIMIT", "2MiB"},
                    {"INTACCT_SYNC_MIRROR_AUDIT_MAX_AGE", "1d"},
                    {"INTACCT_SYNC_LOG_LEVEL", "warn"},
                    {"INTACCT_SYNC_INTACCT_SENDER_ID", "s"},
                    {"INTACCT_SYNC_ADMIN_TOKEN", "adm"},
                    {"INTACCT_SYNC_MASTER_KEY", "not-a-section"}});
  CHECK(c.queue.workers == 8);
  CHECK(c.redis.url.reveal() == "redis://127.0.0.1:7000/1");
  CHECK(c.server.noop_route);
  CHECK(c.server.body_limit == 2 * 1024 * 1024);
  CHECK(c.mirror.audit_max_age == milliseconds(86'400'000));
  CHECK(c.log.level == isync::Level::warn);
  CHECK(c.intacct.sender_id == "s");
  CHECK(c.admin.token.reveal() == "adm");
  CHECK(c.warnings.empty());  // an override is a value from the environment, not a literal
}

TEST_CASE("an invalid override names the variable's key and value") {
  CHECK(load_error("", {{"INTACCT_SYNC_QUEUE_WORKERS", "eight"}}) ==
        "queue.workers: expected a whole number, got \"eight\"");
  CHECK(load_error("", {{"INTACCT_SYNC_SERVER_NOOP_ROUTE", "yes"}}) ==
        "server.noop_route: expected true or false, got \"yes\"");
  CHECK(
      load_error("", {{"INTACCT_SYNC_QUEUE_WOKERS", "8"}}) ==
      "INTACCT_SYNC_QUEUE_WOKERS: no setting queue.wokers can be overridden (check the spelling)");
}

TEST_CASE("an invalid duration or size names the key and the value") {
  CHECK(load_error("[queue]\nretry_base = \"2x\"\n") ==
        "queue.retry_base: invalid duration \"2x\": expected a whole number and a unit "
        "(ms, s, m, h, d), e.g. \"10s\"");
  CHECK(load_error("[server]\nbody_limit = \"1MB\"\n") ==
        "server.body_limit: invalid size \"1MB\": expected a whole number and a unit "
        "(B, KiB, MiB, GiB), e.g. \"1MiB\"");
  CHECK(load_error("[server]\nread_timeout = \"0s\"\n") ==
        "server.read_timeout: must be greater than 0, got \"0s\"");
  CHECK(load_error("[server]\nread_timeout = 10\n") == "server.read_timeout: expected a string");
  CHECK(load_error("[queue]\nworkers = -1\n") ==
        "queue.workers: must be between 0 and 1024, got -1");
  CHECK(load_error("[queue]\nworkers = \"4\"\n") == "queue.workers: expected a whole number");
  CHECK(load_error("[server]\npublic_listen = \"8080\"\n") ==
        "server.public_listen: invalid listen address \"8080\": expected host:port or "
        "[v6-address]:port, e.g. \"127.0.0.1:8080\"");
  CHECK(load_error("[queue]\nretry_base = \"10m\"\nretry_cap = \"1m\"\n") ==
        "queue.retry_cap: must not be less than queue.retry_base");
}

TEST_CASE("unknown keys and sections are rejected, so a typo is never silently ignored") {
  CHECK(load_error("[queue]\nwokers = 8\n") ==
        "queue.wokers: unknown key (not a setting; check the spelling)");
  CHECK(load_error("[sever]\n") == "sever: unknown key (not a setting; check the spelling)");
  CHECK(load_error("[[tenant]]\nid = \"a\"\ntoken = \"env:T\"\ntokn = \"x\"\n", {{"T", "x"}}) ==
        "tenant[0].tokn: unknown key (not a setting; check the spelling)");
  CHECK(load_error("[server.extra]\nx = 1\n") ==
        "server.extra: unknown key (not a setting; check the spelling)");
}

TEST_CASE("TOML syntax errors name the file, line and column") {
  auto msg = load_error("[queue]\nworkers = = 4\n");
  CHECK(msg.starts_with("test.toml:2:"));
}

TEST_CASE("tenant ids are validated and unique, and each tenant needs a token") {
  const Env env{{"T", "secret-t"}};
  CHECK(load_error("[[tenant]]\nid = \"Acme\"\ntoken = \"env:T\"\n", env) ==
        "tenant[0].id: invalid tenant id \"Acme\": use 1-64 characters of a-z, 0-9, _ and -");
  CHECK(load_error("[[tenant]]\nid = \"a\"\ntoken = \"env:T\"\n"
                   "[[tenant]]\nid = \"a\"\ntoken = \"env:T\"\n",
                   env) == "tenant[1].id: duplicate tenant id \"a\"");
  CHECK(load_error("[[tenant]]\nid = \"a\"\n", env) ==
        "tenant[0].token: required (the tenant's webhook token)");
  CHECK(load_error("[[tenant]]\ntoken = \"env:T\"\n", env) == "tenant[0].id: required");
  CHECK(load_error("[[tenant]]\nid = \"a\"\ntoken = \"env:T\"\nallow_cidrs = [\"10.0.0.1\"]\n",
                   env) ==
        "tenant[0].allow_cidrs: invalid CIDR \"10.0.0.1\", expected e.g. \"10.0.0.0/8\" or "
        "\"2001:db8::/32\"");
  CHECK(load_error("[[tenant]]\nid = \"a\"\ntoken = \"env:T\"\noverpayment = \"keep\"\n", env) ==
        "tenant[0].overpayment: expected one of reject, advance, got \"keep\"");
  CHECK(
      load_error("[[tenant]]\nid = \"a\"\ntoken = \"env:T\"\ntimezone = \"Mars/Olympus\"\n", env) ==
      "tenant[0].timezone: unknown time zone 'Mars/Olympus' (a name of the tz "
      "database, e.g. \"America/New_York\")");
  CHECK(load_error("[[tenant]]\nid = \"a\"\ntoken = \"env:T\"\nreconcile_at = \"25:00\"\n", env) ==
        "tenant[0].reconcile_at: expected HH:MM (24-hour), got \"25:00\"");
}

TEST_CASE("the later tenant keys are parsed and kept") {
  auto c =
      load_ok(R"(
[intacct]
endpoint = "https://api.intacct.com/ia/xml/xmlgw.phtml"
sender_id = "snd"
sender_password = "env:SP"
[[tenant]]
id = "acme"
token = "env:T"
read_token = "env:R"
company_id = "ACME-CO"
user_id = "ws_user"
user_password = "env:UP"
entity_id = "E1"
timezone = "America/New_York"
stripe_secrets = ["env:W1", "env:W2"]
payment_method = "EFT"
undeposited_account = "1100"
match_customers_by = "id"
overpayment = "advance"
reconcile_at = "02:30"
initial_window = "6 months"
concurrency = 2
monthly_call_budget = 100000
)",
              {{"SP", "sp"}, {"T", "t"}, {"R", "r"}, {"UP", "up"}, {"W1", "w1"}, {"W2", "w2"}});
  CHECK(c.intacct.sender_password.reveal() == "sp");
  const auto& t = c.tenants.at(0);
  CHECK(t.read_token.reveal() == "r");
  CHECK(t.company_id == "ACME-CO");
  CHECK(t.user_id == "ws_user");
  CHECK(t.user_password.reveal() == "up");
  CHECK(t.entity_id == "E1");
  CHECK(t.timezone == "America/New_York");
  REQUIRE(t.stripe_secrets.size() == 2);
  CHECK(t.stripe_secrets[1].reveal() == "w2");
  CHECK(t.payment_method == "EFT");
  CHECK(t.undeposited_account == "1100");
  CHECK(t.overpayment == "advance");
  CHECK(t.initial_window == "6 months");
  CHECK(t.monthly_call_budget == 100000);
}

TEST_CASE("render shows the effective config with every secret as ***") {
  auto c = load_ok(R"(
[redis]
url = "env:RURL"
[admin]
token = "env:ADM"
[[tenant]]
id = "acme"
token = "env:T"
stripe_secrets = ["env:T"]
)",
                   {{"RURL", "redis://:redis-pass-1@127.0.0.1:6379/0"},
                    {"ADM", "admin-secret-2"},
                    {"T", "tenant-secret-3"}});
  auto text = render(c);
  CHECK(text.find("redis-pass-1") == std::string::npos);
  CHECK(text.find("admin-secret-2") == std::string::npos);
  CHECK(text.find("tenant-secret-3") == std::string::npos);
  CHECK(text.find("url = \"redis://:***@127.0.0.1:6379/0\"") != std::string::npos);
  CHECK(text.find("token = \"***\"") != std::string::npos);
  CHECK(text.find("drain_timeout = \"25s\"") != std::string::npos);
  // What render prints loads back to the same values (secrets aside).
  auto again = load_text(render(load_ok("[queue]\nworkers = 6\n")), "rendered", {});
  REQUIRE(again.has_value());
  CHECK(again->queue.workers == 6);
}

TEST_CASE("redis.reconnect_interval defaults to 100ms, is read from the file and the environment") {
  CHECK(load_ok("").redis.reconnect_interval == milliseconds(100));
  auto from_file = load_ok("[redis]\nreconnect_interval = \"250ms\"\n");
  CHECK(from_file.redis.reconnect_interval == milliseconds(250));
  CHECK(render(from_file).find("reconnect_interval = \"250ms\"\n") != std::string::npos);
  auto from_env = load_ok("[redis]\nreconnect_interval = \"250ms\"\n",
                          {{"INTACCT_SYNC_REDIS_RECONNECT_INTERVAL", "1s"}});
  CHECK(from_env.redis.reconnect_interval == milliseconds(1000));
  CHECK(load_error("", {{"INTACCT_SYNC_REDIS_RECONNECT_INTERVAL", "0ms"}}) ==
        "redis.reconnect_interval: must be greater than 0, got \"0ms\"");
}

TEST_CASE(
    "mirror.apply_call_budget defaults to 1ms, is read from the file and rendered, up to 10s") {
  CHECK(load_ok("").mirror.apply_call_budget == milliseconds(1));
  auto from_file = load_ok("[mirror]\napply_call_budget = \"5s\"\n");
  CHECK(from_file.mirror.apply_call_budget == milliseconds(5000));
  CHECK(render(from_file).find("apply_call_budget = \"5s\"\n") != std::string::npos);
  CHECK(load_error("[mirror]\napply_call_budget = \"11s\"\n") ==
        "mirror.apply_call_budget: must be from 1ms to 10s, got \"11s\"");
}
