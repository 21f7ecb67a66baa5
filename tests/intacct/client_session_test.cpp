// The Intacct client against a real redis-server and a small in-test gateway
// (Beast, loopback): shared sessions, re-login, the circuit; and the same
// against the sandbox company.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "sandbox/sandbox.hpp"
#include "tests/intacct/client_fixture.hpp"

using namespace isync;
using namespace isync::intacct;
using namespace isync::intacct::test::client;
using std::chrono::milliseconds;

TEST_CASE("one login serves 20 calls here and 20 from a second process sharing Redis") {
  Env env;
  auto a = env.hub(env.options()).add_tenant(Env::access("acme"));
  for (int i = 0; i < 20; ++i) CHECK(all_succeeded(wait(call(*a, read_fn()))));
  auto b = env.hub(env.options()).add_tenant(Env::access("acme"));
  std::vector<std::future<CallOutcome>> pending;
  for (int i = 0; i < 20; ++i) pending.push_back(call(*b, read_fn()));
  for (auto& f : pending) CHECK(all_succeeded(wait(std::move(f))));
  CHECK(env.gw.count("getAPISession") == 1);
  CHECK(env.gw.count("read") == 40);
  auto s = env.redis.cmd({"HGET", "isync:{acme}:intacct:session:-", "endpoint"});
  CHECK(s.str == env.gw.url);
  // Nothing secret in the logs: the session id is never written.
  CHECK(env.log_count("sess-1") == 0);
  CHECK(env.log_count("userpw") == 0);
}

TEST_CASE("session expiry comes from the response and a past expiry means a new login") {
  Env env;
  auto c = env.hub(env.options()).add_tenant(Env::access("acme"));
  CHECK(all_succeeded(wait(call(*c, read_fn()))));
  auto exp = env.redis.cmd({"HGET", "isync:{acme}:intacct:session:-", "expires_ms"});
  CHECK(exp.str == std::to_string(kStartMs + kSessionMs));
  // Sliding: a later response moves it (by more than the touch step).
  env.clock.advance(600'000);
  CHECK(all_succeeded(wait(call(*c, read_fn()))));
  // The expiry is written after the call completes (nobody waits for it).
  CHECK(testing::eventually([&] {
    return env.redis.cmd({"HGET", "isync:{acme}:intacct:session:-", "expires_ms"}).str ==
           std::to_string(kStartMs + 600'000 + kSessionMs);
  }));
  CHECK(env.gw.count("getAPISession") == 1);
  env.clock.advance(kSessionMs + 1);
  CHECK(all_succeeded(wait(call(*c, read_fn()))));
  CHECK(env.gw.count("getAPISession") == 2);
}

TEST_CASE("an invalid-session reply brings one new login and one retry that succeeds") {
  Env env;
  auto c = env.hub(env.options()).add_tenant(Env::access("acme"));
  CHECK(all_succeeded(wait(call(*c, read_fn()))));
  env.gw.expire_sessions();
  auto out = wait(call(*c, read_fn()));
  CHECK(all_succeeded(out));
  CHECK(env.gw.count("getAPISession") == 2);
  CHECK(env.gw.count_requests() == 5);  // login, read, rejected read, login, read
}

TEST_CASE("rejected credentials open the circuit in Redis; later calls fail without HTTP") {
  Env env;
  auto o = env.options();
  auto bad = env.hub(o).add_tenant(Env::access("acme", "wrong"));
  auto first = wait(call(*bad, read_fn()));
  REQUIRE(first.error);
  CHECK(first.error->bad_credentials);
  CHECK(first.error->cls == ErrorClass::permanent);
  CHECK(first.circuit_open);
  CHECK(bad->circuit_open());
  auto circuit = env.redis.cmd({"HGETALL", "isync:{acme}:intacct:circuit"});
  REQUIRE(circuit.elements.size() == 6);
  std::map<std::string, std::string> fields;
  for (std::size_t i = 0; i + 1 < circuit.elements.size(); i += 2) {
    fields[circuit.elements[i].str] = circuit.elements[i + 1].str;
  }
  CHECK(fields["fingerprint"] == credentials_fingerprint(Env::access("acme", "wrong"), o));
  CHECK(fields["fingerprint"].size() == 16);
  CHECK(fields["reason"].find("XL03000006") != std::string::npos);
  CHECK(fields["reason"].find("wrong") == std::string::npos);
  CHECK(env.log_count("intacct circuit open") == 1);
  CHECK(env.metrics.render().find("isync_intacct_circuit_open{tenant=\"acme\"} 1") !=
        std::string::npos);

  const int requests = env.gw.count_requests();
  // Another process with the same credentials is refused at once as well.
  auto same = env.hub(o).add_tenant(Env::access("acme", "wrong"));
  for (auto* c : {bad.get(), same.get()}) {
    auto out = wait(call(*c, read_fn()));
    CHECK(out.circuit_open);
    REQUIRE(out.error);
    CHECK(out.error->summary().find("circuit open") != std::string::npos);
  }
  CHECK(env.gw.count_requests() == requests);
  CHECK(env.metrics.render().find("outcome=\"circuit_open\"") != std::string::npos);

  // New credentials (a restart with a fixed configuration) close it.
  auto fixed = env.hub(o).add_tenant(Env::access("acme", "userpw"));
  CHECK(all_succeeded(wait(call(*fixed, read_fn()))));
  CHECK(env.redis.cmd({"EXISTS", "isync:{acme}:intacct:circuit"}).integer == 0);
  CHECK_FALSE(fixed->circuit_open());
}

TEST_CASE("an open circuit lets one probe login through per interval, which closes it") {
  Env env;
  auto o = env.options();
  o.circuit_probe_interval = milliseconds(300);
  auto c = env.hub(o).add_tenant(Env::access("acme", "later"));
  CHECK(wait(call(*c, read_fn())).circuit_open);
  CHECK(wait(call(*c, read_fn())).circuit_open);  // within the interval: no probe
  CHECK(env.gw.count_requests() == 1);
  // Intacct's admin fixes the user's password to the configured one.
  env.gw.set([](FakeGateway& g) { g.user_password = "later"; });
  CHECK(testing::eventually([&] { return all_succeeded(wait(call(*c, read_fn()))); }));
  CHECK(env.gw.count_requests() == 3);  // refused login, probe login, read
  CHECK(env.gw.count("getAPISession") == 1);
  CHECK_FALSE(c->circuit_open());
  CHECK(env.redis.cmd({"EXISTS", "isync:{acme}:intacct:circuit"}).integer == 0);
  CHECK(env.log_count("intacct circuit closed") == 1);
}

TEST_CASE("against the sandbox company: shared session, reads by RECORDNO, re-login after expiry") {
  Env env;
  std::unique_ptr<sandbox::Company> company;
  std::string url;
  GatewayServer server(
      [&company](const std::string& body) {
        auto r = company->handle_gateway(body, "application/xml");
        return GatewayReply{r.status, r.content_type, r.body, r.delay};
      },
      url);
  sandbox::Options so;
  so.credentials = {"sender", "senderpw", "co-acme", "u", "userpw"};
  so.endpoint_url = url;
  company = std::make_unique<sandbox::Company>(so, env.clock);
  company->seed_demo(3, 4, 7);
  std::vector<std::string> keys;
  for (const auto& r : company->list("ARINVOICE", 0, 10))
    keys.push_back(std::to_string(r.recordno));
  REQUIRE(keys.size() == 4);
  keys.push_back("987654");  // no such invoice

  auto o = env.options();
  o.endpoint = url;
  std::vector<std::shared_ptr<Client>> clients{env.hub(o).add_tenant(Env::access("acme")),
                                               env.hub(o).add_tenant(Env::access("acme"))};
  auto read = [&](Client& c) {
    auto p = std::make_shared<std::promise<ReadOutcome>>();
    auto f = p->get_future();
    c.read("ARINVOICE", keys, [p](ReadOutcome r) { p->set_value(std::move(r)); });
    REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    return f.get();
  };
  for (int i = 0; i < 6; ++i) {
    auto out = read(*clients[static_cast<std::size_t>(i % 2)]);
    CHECK_FALSE(out.error);
    CHECK(out.rows.size() == 4);
    CHECK(out.rows.count("987654") == 0);
  }
  CHECK(company->stats().calls_by_function["getAPISession"] == 1);
  company->expire_sessions();
  auto out = read(*clients[0]);
  CHECK_FALSE(out.error);
  CHECK(out.rows.size() == 4);
  CHECK(company->stats().calls_by_function["getAPISession"] == 2);
}
