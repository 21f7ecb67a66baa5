// The Intacct client against a real redis-server and a small in-test gateway
// (Beast, loopback): shared sessions, re-login, circuit, slots, fairness,
// budget, metrics, and the no-retry rule for ambiguous writes.
#include "intacct/client.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <pugixml.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "intacct/transport.hpp"
#include "sandbox/sandbox.hpp"
#include "tests/intacct/gateway_server.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

using namespace isync;
using namespace isync::intacct;
using std::chrono::milliseconds;

namespace {

using test::GatewayReply;
using test::GatewayServer;

constexpr std::int64_t kStartMs = 1700000000000;      // 2023-11
constexpr std::int64_t kSessionMs = 2 * 3600 * 1000;  // the fake's sessiontimeout − timestamp

// ---- the fake gateway: Intacct's reply shapes, thread-safe ---------------------

class FakeGateway {
 public:
  std::string url;
  std::string user_password = "userpw";
  milliseconds delay{0};
  int invalid_session_next = 0;  // next N session calls answer "Invalid session"
  int timeout_524_writes = 0;    // next N requests with a write: HTTP 524 after running

  GatewayReply handle(const std::string& body) {
    std::lock_guard lock(mu_);
    ++requests;
    pugi::xml_document doc;
    if (!doc.load_string(body.c_str())) return {400, "text/plain", "bad xml", delay};
    auto control = doc.child("request").child("control");
    auto op = doc.child("request").child("operation");
    if (std::string(control.child_value("senderid")) != "sender" ||
        std::string(control.child_value("password")) != "senderpw") {
      return {200, "text/xml", control_failure(), delay};
    }
    auto auth = op.child("authentication");
    std::string company;
    if (auth.child("login")) {
      company = auth.child("login").child_value("companyid");
      if (std::string(auth.child("login").child_value("password")) != user_password) {
        return {200, "text/xml", auth_failure("Sign-in information is incorrect"), delay};
      }
    } else {
      const std::string sid = auth.child_value("sessionid");
      if (invalid_session_next > 0 || !sessions_.count(sid)) {
        if (invalid_session_next > 0) --invalid_session_next;
        return {200, "text/xml", auth_failure("Invalid session"), delay};
      }
      company = sessions_[sid];
    }
    std::string results;
    bool write = false;
    for (auto fn : op.child("content").children("function")) {
      const std::string cid = fn.attribute("controlid").value();
      auto call = fn.first_child();
      const std::string name = call.name();
      ++calls_by_function[name];
      ++calls_by_company[company + ":" + name];
      if (name == "getAPISession") {
        const std::string sid = "sess-" + std::to_string(++session_counter);
        sessions_[sid] = company;
        results += result(name, cid,
                          "<data><api><sessionid>" + sid + "</sessionid><endpoint>" + url +
                              "</endpoint><locationid></locationid></api></data>");
      } else if (name == "read") {
        const std::string object = call.child_value("object");
        std::string rows;
        std::string keys = call.child_value("keys");
        std::size_t count = 0;
        for (std::size_t at = 0; at <= keys.size();) {
          auto comma = keys.find(',', at);
          if (comma == std::string::npos) comma = keys.size();
          const std::string k = keys.substr(at, comma - at);
          at = comma + 1;
          if (k.empty() || k.rfind("9", 0) == 0) continue;  // keys 9… do not exist
          ++count;
          rows += "<" + object + "><RECORDNO>" + k + "</RECORDNO><NAME>n" + k + "</NAME></" +
                  object + ">";
        }
        results += result(name, cid,
                          "<data listtype=\"" + object + "\" count=\"" + std::to_string(count) +
                              "\">" + rows + "</data>");
      } else {
        write = true;
        results += result(name, cid, "<data listtype=\"objects\" count=\"1\"></data>");
      }
    }
    if (write && timeout_524_writes > 0) {
      --timeout_524_writes;
      return {524, "text/plain", "A timeout occurred", delay};
    }
    return {200, "text/xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><response>" + control_ok() +
                "<operation><authentication><status>success</status><userid>u</userid>"
                "<companyid>" +
                company +
                "</companyid><locationid></locationid>"
                "<sessiontimestamp>2015-12-06T15:57:08-08:00</sessiontimestamp>"
                "<sessiontimeout>2015-12-06T17:57:08-08:00</sessiontimeout></authentication>" +
                results + "</operation></response>",
            delay};
  }

  void expire_sessions() {
    std::lock_guard lock(mu_);
    sessions_.clear();
  }
  int count(const std::string& function) {
    std::lock_guard lock(mu_);
    return calls_by_function[function];
  }
  int count_requests() {
    std::lock_guard lock(mu_);
    return requests;
  }
  void set(std::function<void(FakeGateway&)> f) {
    std::lock_guard lock(mu_);
    f(*this);
  }

  std::map<std::string, int> calls_by_function, calls_by_company;
  int requests = 0;
  int session_counter = 0;

 private:
  static std::string control_ok() {
    return "<control><status>success</status><senderid>sender</senderid><controlid>c</controlid>"
           "<uniqueid>false</uniqueid><dtdversion>3.0</dtdversion></control>";
  }
  static std::string control_failure() {
    return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><response><control><status>failure</status>"
           "<senderid>sender</senderid><controlid>c</controlid><uniqueid>false</uniqueid>"
           "<dtdversion>3.0</dtdversion></control><errormessage><error><errorno>XL03000006"
           "</errorno><description>Incorrect Intacct XML Partner ID or password.</description>"
           "<description2></description2><correction></correction></error></errormessage>"
           "</response>";
  }
  static std::string auth_failure(const std::string& text) {
    return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><response>" + control_ok() +
           "<operation><authentication><status>failure</status><userid>u</userid><companyid>c"
           "</companyid></authentication><errormessage><error><errorno>XL03000006</errorno>"
           "<description>" +
           text + "</description><description2>" + text +
           "</description2><correction></correction></error></errormessage></operation>"
           "</response>";
  }
  static std::string result(const std::string& fn, const std::string& cid,
                            const std::string& data) {
    return "<result><status>success</status><function>" + fn + "</function><controlid>" + cid +
           "</controlid>" + data + "</result>";
  }

  std::mutex mu_;
  std::map<std::string, std::string> sessions_;  // id -> company
};

// ---- the client side -------------------------------------------------------------

struct Env {
  testing::RedisServer redis;
  FakeGateway gw;
  GatewayServer server{[this](const std::string& body) { return gw.handle(body); }, gw.url};
  ManualClock clock{kStartMs};
  Metrics metrics;
  std::mutex log_mu;
  std::vector<std::string> lines;
  Log log{Level::info, [this](std::string_view line) {
            std::lock_guard lock(log_mu);
            lines.emplace_back(line);
          }};
  testing::Loop loop;
  struct Process {
    std::shared_ptr<redis::Connection> conn;
    std::shared_ptr<HttpTransport> transport;
    std::unique_ptr<ClientHub> hub;
  };
  std::vector<Process> processes;

  ~Env() {
    for (auto& p : processes) {
      p.hub->shutdown();
      p.transport->shutdown();
      testing::close_and_wait(*p.conn);
    }
    processes.clear();
  }

  ClientOptions options() const {
    ClientOptions o;
    o.endpoint = gw.url;
    o.sender_id = "sender";
    o.sender_password = Secret("senderpw");
    o.call_timeout = milliseconds(10'000);
    o.slot_wait = milliseconds(10'000);
    return o;
  }
  static TenantAccess access(std::string tenant, std::string password = "userpw") {
    TenantAccess a;
    a.tenant = tenant;
    a.company_id = "co-" + tenant;
    a.user_id = "u";
    a.user_password = Secret(std::move(password));
    return a;
  }
  // A second hub = a second process sharing the Redis.
  ClientHub& hub(ClientOptions o) {
    Process p;
    p.conn = redis::Connection::create(loop.ioc.get_executor(), redis.endpoint(), {}, &log);
    p.conn->start();
    REQUIRE(testing::eventually([&] { return p.conn->connected(); }));
    TransportOptions t;
    t.allow_plain_http = true;
    p.transport = HttpTransport::create(loop.ioc.get_executor(), t, log);
    p.hub = std::make_unique<ClientHub>(loop.ioc.get_executor(), p.conn, p.transport, std::move(o),
                                        metrics, clock, log);
    processes.push_back(std::move(p));
    return *processes.back().hub;
  }
  int log_count(std::string_view needle) {
    std::lock_guard lock(log_mu);
    int n = 0;
    for (const auto& l : lines) n += l.find(needle) != std::string::npos ? 1 : 0;
    return n;
  }
};

std::vector<Function> read_fn(std::vector<std::string> keys = {"1"}) {
  return {Function{{}, Read{"ARINVOICE", std::move(keys), {}, {}}}};
}

std::future<CallOutcome> call(Client& c, std::vector<Function> fns, bool unique = false) {
  auto p = std::make_shared<std::promise<CallOutcome>>();
  auto f = p->get_future();
  c.call(std::move(fns), unique, [p](CallOutcome o) { p->set_value(std::move(o)); });
  return f;
}

CallOutcome wait(std::future<CallOutcome> f) {
  REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  return f.get();
}

bool all_succeeded(const CallOutcome& o) {
  if (o.error || !o.response) return false;
  for (const auto& r : o.response->results) {
    if (r.status != Status::success) return false;
  }
  return true;
}

}  // namespace

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

TEST_CASE("two processes with concurrency 2 never have more than 2 requests in flight") {
  Env env;
  env.gw.set([](FakeGateway& g) { g.delay = milliseconds(30); });
  auto a = env.hub(env.options()).add_tenant(Env::access("acme"));
  auto b = env.hub(env.options()).add_tenant(Env::access("acme"));
  std::vector<std::future<CallOutcome>> pending;
  for (int i = 0; i < 20; ++i) {
    pending.push_back(call(*a, read_fn()));
    pending.push_back(call(*b, read_fn()));
  }
  for (auto& f : pending) CHECK(all_succeeded(wait(std::move(f))));
  CHECK(env.server.max_in_flight.load() == 2);
  CHECK(env.gw.count("read") == 40);
  // Every slot was given back (the release is written just after the
  // outcome is handed over).
  CHECK(testing::eventually([&] {
    return env.redis.cmd({"ZCARD", "isync:{acme}:intacct:slots"}).integer == 0;
  }));
}

TEST_CASE("no slot within slot_wait fails transient 'throttled' without a request") {
  Env env;
  env.gw.set([](FakeGateway& g) { g.delay = milliseconds(1500); });
  auto o = env.options();
  o.slot_wait = milliseconds(200);
  auto access = Env::access("acme");
  access.concurrency = 1;
  auto a = env.hub(o).add_tenant(access);
  auto b = env.hub(o).add_tenant(access);
  auto slow = call(*a, read_fn());
  REQUIRE(testing::eventually([&] { return env.server.in_flight.load() == 1; }));
  const int requests = env.gw.count_requests();
  auto out = wait(call(*b, read_fn()));
  REQUIRE(out.error);
  CHECK(out.error->cls == ErrorClass::transient);
  CHECK(out.error->summary().find("throttled: 1 calls already running for tenant acme") !=
        std::string::npos);
  CHECK(env.gw.count_requests() == requests);
  CHECK(all_succeeded(wait(std::move(slow))));
  CHECK(env.metrics.render().find("outcome=\"throttled\"") != std::string::npos);
}

TEST_CASE("a tenant's backlog does not hold up another tenant's call") {
  Env env;
  env.gw.set([](FakeGateway& g) { g.delay = milliseconds(100); });
  auto& hub = env.hub(env.options());
  auto a = hub.add_tenant(Env::access("tenant-a"));
  auto b = hub.add_tenant(Env::access("tenant-b"));
  std::mutex mu;
  std::vector<std::string> order;
  std::atomic<int> done{0};
  for (int i = 0; i < 50; ++i) {
    a->call(read_fn(), false, [&](CallOutcome) {
      std::lock_guard lock(mu);
      order.push_back("a");
      ++done;
    });
  }
  b->call(read_fn(), false, [&](CallOutcome o) {
    std::lock_guard lock(mu);
    order.push_back(all_succeeded(o) ? "b" : "b-failed");
    ++done;
  });
  REQUIRE(testing::eventually([&] { return done.load() == 51; }, std::chrono::seconds(30)));
  std::lock_guard lock(mu);
  auto at = std::find(order.begin(), order.end(), "b");
  REQUIRE(at != order.end());
  // A holds 2 slots; B's call (login + read) runs beside them, not after 50.
  CHECK(at - order.begin() <= 6);
}

TEST_CASE("the monthly budget counts functions and records, and each alert fires once") {
  Env env;
  auto o = env.options();
  o.budget_alert_ratio = 0.5;
  auto access = Env::access("acme");
  access.monthly_call_budget = 10;
  auto c = env.hub(o).add_tenant(access);
  const std::string key = "isync:{acme}:intacct:calls:2023-11";
  CHECK(all_succeeded(wait(call(*c, read_fn()))));  // 1 (the login is not counted)
  CHECK(all_succeeded(wait(call(*c, {Function{{}, Read{"ARINVOICE", {"1"}, {}, {}}},
                                     Function{{}, Delete{"ARPYMT", {"1", "2", "3"}}}}))));  // +4
  CHECK(testing::eventually([&] { return env.redis.cmd({"GET", key}).str == "5"; }));
  CHECK(testing::eventually([&] { return env.log_count("intacct call budget nearly used") == 1; }));
  for (int i = 0; i < 7; ++i) CHECK(all_succeeded(wait(call(*c, read_fn()))));  // never refused
  CHECK(testing::eventually([&] { return env.redis.cmd({"GET", key}).str == "12"; }));
  // The log line and the gauge follow Redis's answer, a moment after the
  // counter is written.
  CHECK(testing::eventually([&] {
    return env.metrics.render().find("isync_intacct_budget_used{tenant=\"acme\"} 12") !=
           std::string::npos;
  }));
  CHECK(testing::eventually([&] { return env.log_count("intacct call budget exceeded") == 1; }));
  CHECK(env.log_count("intacct call budget nearly used") == 1);
  CHECK(env.redis.cmd({"TTL", key}).integer > 39 * 24 * 3600);
  CHECK(env.metrics.render().find("isync_intacct_budget_limit{tenant=\"acme\"} 10") !=
        std::string::npos);
}

TEST_CASE("metrics and one log line per gateway request") {
  Env env;
  auto c = env.hub(env.options()).add_tenant(Env::access("acme"));
  CHECK(all_succeeded(wait(call(*c, read_fn()))));
  const std::string text = env.metrics.render();
  CHECK(text.find(
            "isync_intacct_calls_total{tenant=\"acme\",function=\"read\",outcome=\"success\"} 1") !=
        std::string::npos);
  CHECK(text.find("function=\"getAPISession\",outcome=\"success\"") != std::string::npos);
  CHECK(text.find("isync_intacct_call_seconds_bucket{function=\"read\"") != std::string::npos);
  CHECK(env.log_count("\"msg\":\"intacct request\"") == 2);
  CHECK(env.log_count("\"functions\":\"getAPISession\"") == 1);
  CHECK(env.log_count("\"functions\":\"read\"") == 1);
  CHECK(env.log_count("senderpw") == 0);
}

TEST_CASE("a 524 after a create is ambiguous and not retried") {
  Env env;
  auto c = env.hub(env.options()).add_tenant(Env::access("acme"));
  CHECK(all_succeeded(wait(call(*c, read_fn()))));
  env.gw.set([](FakeGateway& g) { g.timeout_524_writes = 1; });
  auto out = wait(call(*c, {Function{{}, Create{"ARPYMT", {leaf("CUSTOMERID", "C1")}}}}, true));
  REQUIRE(out.error);
  CHECK(out.error->cls == ErrorClass::ambiguous);
  CHECK(out.error->http_status == 524);
  CHECK(env.gw.count("create") == 1);
  CHECK(env.metrics.render().find("outcome=\"ambiguous\"") != std::string::npos);
}

TEST_CASE("read returns rows by RECORDNO; a key Intacct did not return is absent") {
  Env env;
  auto c = env.hub(env.options()).add_tenant(Env::access("acme"));
  auto p = std::make_shared<std::promise<ReadOutcome>>();
  auto f = p->get_future();
  c->read("ARINVOICE", {"11", "12", "99"}, [p](ReadOutcome o) { p->set_value(std::move(o)); });
  REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  auto out = f.get();
  CHECK_FALSE(out.error);
  CHECK(out.rows.size() == 2);
  CHECK(out.rows.count("11") == 1);
  CHECK(out.rows.count("99") == 0);
  REQUIRE(out.rows.count("12") == 1);
  CHECK(*out.rows.at("12").get("NAME") == "n12");
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
