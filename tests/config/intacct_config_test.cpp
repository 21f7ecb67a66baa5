// The Intacct keys: the client settings and their defaults, plain http only
// to loopback, a tenant's credentials all or none, and the Platform Trigger
// keys (client secrets as references, client id, leeway).
#include <doctest/doctest.h>

#include <map>
#include <string>

#include "config/config.hpp"
#include "tests/config/load_text.hpp"

using namespace isync::config;
using isync::config::test_load::Env;
using isync::config::test_load::load_error;
using isync::config::test_load::load_ok;
using std::chrono::milliseconds;

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
