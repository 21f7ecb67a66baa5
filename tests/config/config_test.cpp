#include "config/config.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>

using namespace isync::config;
using std::chrono::milliseconds;
using Env = std::map<std::string, std::string>;

namespace {

std::string load_error(const std::string& toml, const Env& env = {}) {
  auto r = load_text(toml, "test.toml", env);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "config");
  return r.error().message;
}

Config load_ok(const std::string& toml, const Env& env = {}) {
  auto r = load_text(toml, "test.toml", env);
  if (!r) FAIL(r.error().message);
  return *r;
}

}  // namespace

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

TEST_CASE("the Intacct client settings are read, with their defaults") {
  auto d = load_ok("", {});
  CHECK(d.intacct.connect_timeout == std::chrono::seconds(10));
  CHECK(d.intacct.call_timeout == std::chrono::seconds(60));
  CHECK(d.intacct.slot_wait == std::chrono::seconds(2));
  CHECK(d.intacct.circuit_probe_interval == std::chrono::minutes(30));
  CHECK(d.intacct.read_batch_window == std::chrono::milliseconds(10));
  CHECK(d.intacct.settle_margin == std::chrono::seconds(2));
  CHECK(d.intacct.read_after_settle);
  CHECK(d.intacct.ca_file.empty());
  auto c = load_ok(R"(
[intacct]
endpoint = "http://127.0.0.1:8090/ia/xml/xmlgw.phtml"
sender_id = "snd"
connect_timeout = "3s"
call_timeout = "90s"
ca_file = "/etc/ssl/certs/ca-certificates.crt"
slot_wait = "500ms"
circuit_probe_interval = "10m"
read_batch_window = "25ms"
settle_margin = "5s"
read_after_settle = false
)",
                   {});
  CHECK(c.intacct.endpoint == "http://127.0.0.1:8090/ia/xml/xmlgw.phtml");
  CHECK(c.intacct.connect_timeout == std::chrono::seconds(3));
  CHECK(c.intacct.call_timeout == std::chrono::seconds(90));
  CHECK(c.intacct.ca_file == "/etc/ssl/certs/ca-certificates.crt");
  CHECK(c.intacct.slot_wait == std::chrono::milliseconds(500));
  CHECK(c.intacct.circuit_probe_interval == std::chrono::minutes(10));
  CHECK(c.intacct.read_batch_window == std::chrono::milliseconds(25));
  CHECK(c.intacct.settle_margin == std::chrono::seconds(5));
  CHECK_FALSE(c.intacct.read_after_settle);
}

TEST_CASE("plain http is refused for an Intacct endpoint that is not loopback") {
  CHECK(load_error("[intacct]\nendpoint = \"http://api.intacct.com/ia/xml/xmlgw.phtml\"\n", {}) ==
        "intacct.endpoint: http:// is accepted only for a loopback host (the sandbox); use "
        "https:// for \"http://api.intacct.com/ia/xml/xmlgw.phtml\"");
  CHECK(load_error("[intacct]\nendpoint = \"ftp://x\"\n", {}) ==
        "intacct.endpoint: expected an https:// URL, got \"ftp://x\"");
  CHECK(load_ok("[intacct]\nendpoint = \"http://localhost:9/x\"\n", {}).intacct.endpoint ==
        "http://localhost:9/x");
}

TEST_CASE("a tenant's Intacct credentials come all three or not at all, and need a sender") {
  const std::map<std::string, std::string> env = {{"T", "t"}, {"UP", "up"}};
  CHECK(load_error("[intacct]\nsender_id = \"s\"\n[[tenant]]\nid = \"a\"\ntoken = "
                   "\"env:T\"\ncompany_id = \"C\"\nuser_password = \"env:UP\"\n",
                   env) ==
        "tenant[0].user_id: required with the other Intacct credentials (company_id, user_id, "
        "user_password: all three, or none for a tenant without Intacct access)");
  CHECK(load_error("[[tenant]]\nid = \"a\"\ntoken = \"env:T\"\ncompany_id = \"C\"\nuser_id = "
                   "\"u\"\nuser_password = \"env:UP\"\n",
                   env) ==
        "intacct.sender_id: required, since tenant \"a\" has Intacct credentials");
  auto none = load_ok("[[tenant]]\nid = \"a\"\ntoken = \"env:T\"\n", env);
  CHECK_FALSE(none.tenants.at(0).has_intacct());
  auto all = load_ok(
      "[intacct]\nsender_id = \"s\"\n[[tenant]]\nid = \"a\"\ntoken = "
      "\"env:T\"\ncompany_id = \"C\"\nuser_id = \"u\"\nuser_password = \"env:UP\"\n",
      env);
  CHECK(all.tenants.at(0).has_intacct());
}

TEST_CASE("the [payments] table and the tenant payment keys have their documented defaults") {
  auto c = load_ok("[[tenant]]\nid = \"a\"\ntoken = \"env:T\"\n", {{"T", "t"}});
  CHECK(c.payments.signature_tolerance == std::chrono::seconds(300));
  CHECK(c.payments.redact ==
        std::vector<std::string>{"billing_details", "payment_method_details", "receipt_email"});
  CHECK(c.payments.lease == milliseconds(90'000));
  CHECK(c.payments.readback_interval == milliseconds(15'000));
  CHECK(c.payments.readback_wait == milliseconds(120'000));
  const auto& t = c.tenants.at(0);
  CHECK(t.payment_method == "Credit Card");
  CHECK(t.ach_payment_method == "EFT");
  CHECK(t.bank_account.empty());
  CHECK(t.undeposited_account.empty());
  CHECK(t.payment_batch.empty());
}

TEST_CASE("the [payments] keys are read from the file and from the environment") {
  auto c = load_ok(R"(
[payments]
signature_tolerance = "10m"
redact = ["billing_details", "email"]
lease = "30s"
readback_interval = "500ms"
readback_wait = "5m"
[[tenant]]
id = "a"
token = "env:T"
payment_method = "Online Charge Card"
ach_payment_method = "Online ACH Debit"
bank_account = "BOA-CHK"
)",
                   {{"T", "t"}});
  CHECK(c.payments.signature_tolerance == std::chrono::seconds(600));
  CHECK(c.payments.redact == std::vector<std::string>{"billing_details", "email"});
  CHECK(c.payments.lease == milliseconds(30'000));
  CHECK(c.payments.readback_interval == milliseconds(500));
  CHECK(c.payments.readback_wait == milliseconds(300'000));
  CHECK(c.tenants.at(0).payment_method == "Online Charge Card");
  CHECK(c.tenants.at(0).ach_payment_method == "Online ACH Debit");
  CHECK(c.tenants.at(0).bank_account == "BOA-CHK");

  auto e =
      load_ok("[payments]\nlease = \"30s\"\n", {{"INTACCT_SYNC_PAYMENTS_SIGNATURE_TOLERANCE", "1h"},
                                                {"INTACCT_SYNC_PAYMENTS_LEASE", "1m"},
                                                {"INTACCT_SYNC_PAYMENTS_READBACK_INTERVAL", "1s"},
                                                {"INTACCT_SYNC_PAYMENTS_READBACK_WAIT", "10s"}});
  CHECK(e.payments.signature_tolerance == std::chrono::seconds(3600));
  CHECK(e.payments.lease == milliseconds(60'000));
  CHECK(e.payments.readback_interval == milliseconds(1000));
  CHECK(e.payments.readback_wait == milliseconds(10'000));
  // A list is not overridable from the environment, like the other lists.
  CHECK(load_error("", {{"INTACCT_SYNC_PAYMENTS_REDACT", "x"}}) ==
        "INTACCT_SYNC_PAYMENTS_REDACT: no setting payments.redact can be overridden (check the "
        "spelling)");
}

TEST_CASE("each [payments] key is validated with a message naming it") {
  CHECK(load_error("[payments]\nsignature_tolerance = \"0s\"\n") ==
        "payments.signature_tolerance: must be greater than 0, got \"0s\"");
  CHECK(load_error("[payments]\nsignature_tolerance = \"2h\"\n") ==
        "payments.signature_tolerance: must be between 1s and 1h, got \"2h\"");
  CHECK(load_error("[payments]\nsignature_tolerance = \"1500ms\"\n") ==
        "payments.signature_tolerance: must be whole seconds, got \"1500ms\"");
  CHECK(load_error("", {{"INTACCT_SYNC_PAYMENTS_SIGNATURE_TOLERANCE", "61m"}}) ==
        "payments.signature_tolerance: must be between 1s and 1h, got \"61m\"");
  CHECK(load_ok("[payments]\nsignature_tolerance = \"1s\"\n").payments.signature_tolerance ==
        std::chrono::seconds(1));
  CHECK(load_error("[payments]\nlease = \"2s\"\n") ==
        "payments.lease: must be at least 3s, got \"2s\"");
  CHECK(load_ok("[payments]\nlease = \"3s\"\n").payments.lease == milliseconds(3000));
  CHECK(load_error("[payments]\nreadback_interval = \"99ms\"\n") ==
        "payments.readback_interval: must be at least 100ms, got \"99ms\"");
  CHECK(load_error("[payments]\nreadback_wait = \"10s\"\n") ==
        "payments.readback_wait: must not be less than payments.readback_interval");
  CHECK(load_error("[payments]\nreadback_wait = \"x\"\n") ==
        "payments.readback_wait: invalid duration \"x\": expected a whole number and a unit "
        "(ms, s, m, h, d), e.g. \"10s\"");
  CHECK(load_error("[payments]\nredact = \"billing_details\"\n") ==
        "payments.redact: expected an array of member names");
  CHECK(load_error("[payments]\nredact = [\"a\", \"\"]\n") ==
        "payments.redact: a member name must not be empty");
  CHECK(load_ok("[payments]\nredact = []\n").payments.redact.empty());
}

TEST_CASE("payment methods are Intacct's, choices are kept, and one deposit target at most") {
  const Env env{{"T", "t"}, {"W", "w"}, {"UP", "up"}};
  const std::string tenant = "[[tenant]]\nid = \"a\"\ntoken = \"env:T\"\n";
  CHECK(load_error(tenant + "payment_method = \"Visa\"\n", env) ==
        "tenant[0].payment_method: expected one of Printed Check, Cash, EFT, Credit Card, Online "
        "Charge Card, Online ACH Debit, got \"Visa\"");
  CHECK(load_error(tenant + "ach_payment_method = \"ACH\"\n", env) ==
        "tenant[0].ach_payment_method: expected one of Printed Check, Cash, EFT, Credit Card, "
        "Online Charge Card, Online ACH Debit, got \"ACH\"");
  for (auto m :
       {"Printed Check", "Cash", "EFT", "Credit Card", "Online Charge Card", "Online ACH Debit"}) {
    CHECK(load_ok(tenant + "payment_method = \"" + m + "\"\nach_payment_method = \"" + m + "\"\n",
                  env)
              .tenants.at(0)
              .payment_method == m);
  }
  CHECK(load_error(tenant + "overpayment = \"refund\"\n", env) ==
        "tenant[0].overpayment: expected one of reject, advance, got \"refund\"");
  CHECK(load_error(tenant + "match_customers_by = \"email\"\n", env) ==
        "tenant[0].match_customers_by: expected one of id, name, got \"email\"");

  const std::string two =
      "tenant[0]: set at most one of bank_account, undeposited_account and payment_batch (where "
      "the tenant's payments are deposited)";
  CHECK(load_error(tenant + "bank_account = \"B\"\nundeposited_account = \"1100\"\n", env) == two);
  CHECK(load_error(tenant + "bank_account = \"B\"\npayment_batch = \"7\"\n", env) == two);
  CHECK(load_error(tenant + "undeposited_account = \"1100\"\npayment_batch = \"7\"\n", env) == two);
  CHECK(load_ok(tenant + "payment_batch = \"7\"\n", env).tenants.at(0).payment_batch == "7");
}

TEST_CASE("a tenant taking Stripe payments into Intacct needs a deposit target") {
  const Env env{{"T", "t"}, {"W", "w"}, {"UP", "up"}};
  const std::string head =
      "[intacct]\nsender_id = \"s\"\n[[tenant]]\nid = \"a\"\ntoken = \"env:T\"\n"
      "[[tenant]]\nid = \"acme\"\ntoken = \"env:T\"\n";
  const std::string intacct = "company_id = \"C\"\nuser_id = \"u\"\nuser_password = \"env:UP\"\n";
  const std::string stripe = "stripe_secrets = [\"env:W\"]\n";
  CHECK(load_error(head + intacct + stripe, env) ==
        "tenant[1]: tenant \"acme\" posts Stripe payments to Intacct and needs one of "
        "bank_account, undeposited_account or payment_batch (where they are deposited)");
  for (auto key : {"bank_account", "undeposited_account", "payment_batch"}) {
    CHECK(load_ok(head + intacct + stripe + key + " = \"X\"\n", env).tenants.size() == 2);
  }
  // Without Stripe, or without Intacct access, there is nothing to deposit.
  CHECK(load_ok(head + intacct, env).tenants.size() == 2);
  CHECK(load_ok(head + stripe, env).tenants.size() == 2);
}

TEST_CASE("render shows the payment keys and loads back to the same values") {
  auto c = load_ok(R"(
[payments]
signature_tolerance = "2m"
redact = ["billing_details"]
lease = "45s"
readback_interval = "250ms"
readback_wait = "1m"
[[tenant]]
id = "a"
token = "env:T"
ach_payment_method = "Cash"
payment_batch = "PB-1"
)",
                   {{"T", "t"}});
  auto text = render(c);
  CHECK(text.find("[payments]\nsignature_tolerance = \"2m\"\nredact = [\"billing_details\"]\n"
                  "lease = \"45s\"\nreadback_interval = \"250ms\"\nreadback_wait = \"1m\"\n") !=
        std::string::npos);
  CHECK(text.find("ach_payment_method = \"Cash\"\nbank_account = \"\"\n") != std::string::npos);
  CHECK(text.find("payment_batch = \"PB-1\"\n") != std::string::npos);
  auto again = load_text(text, "rendered", {});
  REQUIRE(again.has_value());
  CHECK(again->payments.signature_tolerance == std::chrono::seconds(120));
  CHECK(again->payments.redact == std::vector<std::string>{"billing_details"});
  CHECK(again->payments.lease == milliseconds(45'000));
  CHECK(again->payments.readback_interval == milliseconds(250));
  CHECK(again->payments.readback_wait == milliseconds(60'000));
  CHECK(again->tenants.at(0).ach_payment_method == "Cash");
  CHECK(again->tenants.at(0).payment_batch == "PB-1");
}

TEST_CASE("an empty Stripe signing secret is refused") {
  CHECK(load_error("[[tenant]]\nid = \"a\"\ntoken = \"env:T\"\nstripe_secrets = [\"env:W\", "
                   "\"env:E\"]\n",
                   {{"T", "t"}, {"W", "w"}, {"E", ""}}) ==
        "tenant[0].stripe_secrets[1]: the secret is empty (a Stripe webhook signing secret)");
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
    "trigger keys: client secrets as references, the client id, the leeway in whole seconds") {
  auto c = load_ok(R"(
[intacct]
trigger_leeway = "0s"
[[tenant]]
id = "a"
token = "env:T"
trigger_client_secrets = ["env:S1", "env:S2"]
trigger_client_id = "abc.INTACCT.app.sage.com"
)",
                   {{"T", "t"}, {"S1", "oauth-secret-one"}, {"S2", "oauth-secret-two"}});
  CHECK(c.intacct.trigger_leeway == std::chrono::seconds(0));
  const auto& t = c.tenants.at(0);
  REQUIRE(t.trigger_client_secrets.size() == 2);
  CHECK(t.trigger_client_secrets[1].reveal() == "oauth-secret-two");
  CHECK(t.trigger_client_id == "abc.INTACCT.app.sage.com");
  auto text = render(c);
  CHECK(text.find("trigger_leeway = \"0s\"\n") != std::string::npos);
  CHECK(text.find("trigger_client_secrets = [\"***\", \"***\"]\ntrigger_client_id = "
                  "\"abc.INTACCT.app.sage.com\"\n") != std::string::npos);
  CHECK(text.find("oauth-secret") == std::string::npos);
  CHECK(load_ok("").intacct.trigger_leeway == std::chrono::seconds(60));
  CHECK(load_ok("", {{"INTACCT_SYNC_INTACCT_TRIGGER_LEEWAY", "2m"}}).intacct.trigger_leeway ==
        std::chrono::seconds(120));
  CHECK(load_error("[intacct]\ntrigger_leeway = \"1500ms\"\n") ==
        "intacct.trigger_leeway: must be whole seconds, got \"1500ms\"");
  CHECK(load_error("[intacct]\ntrigger_leeway = \"2h\"\n") ==
        "intacct.trigger_leeway: must be between 0s and 1h, got \"2h\"");
  CHECK(load_error("[[tenant]]\nid = \"a\"\ntoken = \"env:T\"\ntrigger_client_secrets = "
                   "[\"env:E\"]\n",
                   {{"T", "t"}, {"E", ""}}) ==
        "tenant[0].trigger_client_secrets[0]: the secret is empty (an OAuth client secret)");
}
