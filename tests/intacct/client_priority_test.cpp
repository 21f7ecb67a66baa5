// Background calls against the sandbox company (over HTTP on loopback, with
// a real redis-server): they leave the last slot to live calls across
// processes, take the single slot at concurrency 1, give up transient after
// background_slot_wait; a live call waiting meanwhile succeeds or fails
// transient; and each outcome counts its logins and requests.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "intacct/client.hpp"
#include "intacct/transport.hpp"
#include "sandbox/sandbox.hpp"
#include "tests/intacct/gateway_server.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

using namespace isync;
using namespace isync::intacct;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr auto kWait = std::chrono::seconds(10);

// The sandbox company behind a loopback gateway that can hold the reads of an
// object for a while (holding its caller's slot) and notes every request.
struct Gateway {
  struct Arrival {
    std::string object;  // the read's object; "login" for getAPISession
    int in_flight = 0;   // requests in flight at the gateway, this one included
    SteadyClock::time_point at;
  };

  std::string url;
  std::unique_ptr<sandbox::Company> company;
  std::atomic<test::GatewayServer*> server_{nullptr};
  test::GatewayServer server{[this](const std::string& body) { return handle(body); }, url};

  explicit Gateway(Clock& clock) {
    sandbox::Options so;
    so.credentials = {"sender", "senderpw", "co-acme", "u", "userpw"};
    so.endpoint_url = url;
    company = std::make_unique<sandbox::Company>(so, clock);
    company->seed_demo(3, 4, 7);
    server_ = &server;
  }

  void hold(const std::string& object, milliseconds delay) {
    std::lock_guard lock(mu_);
    hold_[object] = delay;
  }
  std::vector<Arrival> arrivals(const std::string& object) {
    std::lock_guard lock(mu_);
    std::vector<Arrival> out;
    for (const auto& a : arrivals_) {
      if (a.object == object) out.push_back(a);
    }
    return out;
  }
  bool arrived(const std::string& object) { return !arrivals(object).empty(); }

 private:
  test::GatewayReply handle(const std::string& body) {
    std::string object = "login";
    const auto open = body.find("<object>");
    if (open != std::string::npos) {
      const auto from = open + 8;
      object = body.substr(from, body.find("</object>", from) - from);
    }
    auto r = company->handle_gateway(body, "application/xml");
    std::lock_guard lock(mu_);
    arrivals_.push_back({object, server_.load()->in_flight.load(), SteadyClock::now()});
    auto held = hold_.find(object);
    return {r.status, r.content_type, r.body,
            r.delay + (held == hold_.end() ? milliseconds(0) : held->second)};
  }

  std::mutex mu_;
  std::map<std::string, milliseconds> hold_;
  std::vector<Arrival> arrivals_;
};

struct Env {
  testing::RedisServer redis;
  SystemClock clock;
  Gateway gw{clock};
  Metrics metrics;
  Log log{Level::warn, [](std::string_view) {}};
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
    o.background_slot_wait = milliseconds(10'000);
    return o;
  }
  // A hub = a process; all share the Redis and the sandbox company.
  std::shared_ptr<Client> client(int concurrency, ClientOptions o) {
    Process p;
    p.conn = redis::Connection::create(loop.ioc.get_executor(), redis.endpoint(), {}, &log);
    p.conn->start();
    REQUIRE(testing::eventually([&] { return p.conn->connected(); }));
    TransportOptions t;
    t.allow_plain_http = true;
    p.transport = HttpTransport::create(loop.ioc.get_executor(), t, log);
    p.hub = std::make_unique<ClientHub>(loop.ioc.get_executor(), p.conn, p.transport, std::move(o),
                                        metrics, clock, log);
    TenantAccess a;
    a.tenant = "acme";
    a.company_id = "co-acme";
    a.user_id = "u";
    a.user_password = Secret("userpw");
    a.concurrency = concurrency;
    auto client = p.hub->add_tenant(a);
    processes.push_back(std::move(p));
    return client;
  }
  std::shared_ptr<Client> client(int concurrency) { return client(concurrency, options()); }
};

CallOptions background() {
  CallOptions o;
  o.background = true;
  return o;
}

std::future<ReadOutcome> read(Client& c, const std::string& object, CallOptions options = {}) {
  auto p = std::make_shared<std::promise<ReadOutcome>>();
  auto f = p->get_future();
  c.read(
      object, {"1"}, [p](ReadOutcome o) { p->set_value(std::move(o)); }, options);
  return f;
}

ReadOutcome wait(std::future<ReadOutcome>& f) {
  REQUIRE(f.wait_for(kWait) == std::future_status::ready);
  return f.get();
}

bool ready(std::future<ReadOutcome>& f) {
  return f.wait_for(milliseconds(0)) == std::future_status::ready;
}

// What a live call may end as while background work holds slots.
bool succeeded_or_transient(const ReadOutcome& o) {
  return !o.error || o.error->cls == ErrorClass::transient;
}

}  // namespace

TEST_CASE(
    "at concurrency 2 a background call waits while another process's live call holds a slot "
    "and starts once it is released") {
  Env env;
  auto live = env.client(2);
  auto bulk = env.client(2);
  auto warm = read(*live, "CUSTOMER");  // the shared session
  CHECK_FALSE(wait(warm).error);
  env.gw.hold("CUSTOMER", milliseconds(1000));
  auto l = read(*live, "CUSTOMER");
  REQUIRE(testing::eventually([&] { return env.gw.arrivals("CUSTOMER").size() == 2; }));
  auto b = read(*bulk, "ARINVOICE", background());
  std::this_thread::sleep_for(milliseconds(400));
  CHECK_FALSE(env.gw.arrived("ARINVOICE"));
  CHECK_FALSE(ready(b));
  auto lo = wait(l);
  CHECK_FALSE(lo.error);
  auto bo = wait(b);
  CHECK_FALSE(bo.error);
  CHECK(bo.logins == 0);
  CHECK(bo.requests == 1);
  auto arrived = env.gw.arrivals("ARINVOICE");
  REQUIRE(arrived.size() == 1);
  CHECK(arrived[0].in_flight == 1);  // the live call was over
  CHECK(arrived[0].at - env.gw.arrivals("CUSTOMER")[1].at >= milliseconds(1000));
  CHECK(testing::eventually([&] {
    return env.redis.cmd({"ZCARD", "isync:{acme}:intacct:slots"}).integer == 0;
  }));
}

TEST_CASE(
    "at concurrency 3 one background and one live call run together and a second background "
    "call waits for one of them") {
  Env env;
  auto c = env.client(3);
  auto warm = read(*c, "CUSTOMER");
  CHECK_FALSE(wait(warm).error);
  env.gw.hold("CUSTOMER", milliseconds(1000));
  env.gw.hold("ARINVOICE", milliseconds(1000));
  auto l = read(*c, "CUSTOMER");
  REQUIRE(testing::eventually([&] { return env.gw.arrivals("CUSTOMER").size() == 2; }));
  auto b1 = read(*c, "ARINVOICE", background());
  REQUIRE(testing::eventually([&] { return env.gw.arrived("ARINVOICE"); }));
  CHECK(env.gw.arrivals("ARINVOICE")[0].in_flight == 2);
  auto b2 = read(*c, "ARPYMT", background());
  std::this_thread::sleep_for(milliseconds(300));
  CHECK_FALSE(env.gw.arrived("ARPYMT"));
  CHECK_FALSE(wait(l).error);
  CHECK_FALSE(wait(b1).error);
  CHECK_FALSE(wait(b2).error);
  auto late = env.gw.arrivals("ARPYMT");
  REQUIRE(late.size() == 1);
  CHECK(late[0].in_flight <= 2);
  CHECK(env.gw.server.max_in_flight.load() == 2);
}

TEST_CASE(
    "at concurrency 1 a background call takes the slot, and a live call waiting for it succeeds "
    "or fails transient, nothing else") {
  Env env;
  auto o = env.options();
  o.slot_wait = milliseconds(200);
  auto impatient = env.client(1, o);  // the background call's own process
  auto patient = env.client(1);
  auto warm = read(*impatient, "CUSTOMER");
  CHECK_FALSE(wait(warm).error);
  env.gw.hold("ARINVOICE", milliseconds(1500));
  auto b = read(*impatient, "ARINVOICE", background());
  REQUIRE(testing::eventually([&] { return env.gw.arrived("ARINVOICE"); }));
  auto l1 = read(*impatient, "CUSTOMER");
  auto l2 = read(*patient, "CUSTOMER");
  // The live call of the same process starts at once (it does not queue
  // behind the background call) and runs out of its slot_wait.
  auto o1 = wait(l1);
  CHECK_FALSE(ready(b));
  CHECK(succeeded_or_transient(o1));
  REQUIRE(o1.error);
  CHECK(o1.error->cls == ErrorClass::transient);
  CHECK(o1.error->summary().find("throttled: 1 calls already running for tenant acme") !=
        std::string::npos);
  CHECK(o1.requests == 0);
  // The other waits for the slot and gets it once the background call is over.
  auto o2 = wait(l2);
  CHECK(succeeded_or_transient(o2));
  CHECK_FALSE(o2.error);
  CHECK_FALSE(wait(b).error);
  auto customers = env.gw.arrivals("CUSTOMER");
  REQUIRE(customers.size() == 2);  // the warm-up and the patient live call
  CHECK(customers[1].in_flight == 1);
  CHECK(env.gw.server.max_in_flight.load() == 1);
}

TEST_CASE(
    "a background call that finds no slot within background_slot_wait fails transient "
    "'throttled' without a request") {
  Env env;
  auto o = env.options();
  o.slot_wait = milliseconds(50);
  o.background_slot_wait = milliseconds(700);
  auto c = env.client(2, o);
  auto warm = read(*c, "CUSTOMER");
  CHECK_FALSE(wait(warm).error);
  env.gw.hold("CUSTOMER", milliseconds(2500));
  auto l = read(*c, "CUSTOMER");
  REQUIRE(testing::eventually([&] { return env.gw.arrivals("CUSTOMER").size() == 2; }));
  const auto started = SteadyClock::now();
  auto b = read(*c, "ARINVOICE", background());
  auto out = wait(b);
  const auto waited = SteadyClock::now() - started;
  REQUIRE(out.error);
  CHECK(out.error->cls == ErrorClass::transient);
  CHECK(out.error->errors.at(0).description ==
        "throttled: 1 calls already running for tenant acme; a background call leaves the last "
        "of 2 slots to live calls and waited 700 ms for another");
  CHECK(waited >= milliseconds(650));  // far past slot_wait
  CHECK(waited < milliseconds(2500));  // before the live call ended
  CHECK(out.logins == 0);
  CHECK(out.requests == 0);
  CHECK_FALSE(env.gw.arrived("ARINVOICE"));
  CHECK_FALSE(wait(l).error);
  CHECK(env.metrics.render().find("function=\"read\",outcome=\"throttled\"") != std::string::npos);
}

TEST_CASE("a background call still waiting for a slot fails transient at shutdown") {
  Env env;
  auto live = env.client(2);
  auto o = env.options();
  o.background_slot_wait = milliseconds(60'000);
  auto bulk = env.client(2, o);
  env.gw.hold("CUSTOMER", milliseconds(4000));
  auto l = read(*live, "CUSTOMER");
  REQUIRE(testing::eventually([&] { return env.gw.arrived("CUSTOMER"); }));
  std::vector<std::future<ReadOutcome>> waiting;
  for (int i = 0; i < 3; ++i) waiting.push_back(read(*bulk, "ARINVOICE", background()));
  std::this_thread::sleep_for(milliseconds(300));
  env.processes[1].hub->shutdown();
  for (auto& f : waiting) {
    REQUIRE(f.wait_for(std::chrono::seconds(3)) == std::future_status::ready);
    auto out = f.get();
    REQUIRE(out.error);
    CHECK(out.error->cls == ErrorClass::transient);
    CHECK(out.error->summary().find("shutting down") != std::string::npos);
  }
  CHECK_FALSE(env.gw.arrived("ARINVOICE"));
  CHECK_FALSE(wait(l).error);
}

TEST_CASE("each outcome counts its logins and requests") {
  Env env;
  auto a = env.client(2);
  auto first = read(*a, "CUSTOMER");
  auto o = wait(first);
  CHECK_FALSE(o.error);
  CHECK(o.logins == 1);  // fresh: getAPISession, then the read
  CHECK(o.requests == 2);
  auto second = read(*a, "CUSTOMER", background());
  o = wait(second);
  CHECK(o.logins == 0);
  CHECK(o.requests == 1);
  // Another process uses the shared session.
  auto b = env.client(2);
  auto third = read(*b, "CUSTOMER");
  o = wait(third);
  CHECK(o.logins == 0);
  CHECK(o.requests == 1);
  // A stale session: the rejected read, one new login, the read again.
  env.gw.company->expire_sessions();
  auto p = std::make_shared<std::promise<CallOutcome>>();
  auto f = p->get_future();
  a->call({Function{{}, Read{"CUSTOMER", {"1"}, {}, {}}}}, false,
          [p](CallOutcome out) { p->set_value(std::move(out)); });
  REQUIRE(f.wait_for(kWait) == std::future_status::ready);
  auto c = f.get();
  CHECK_FALSE(c.error);
  CHECK(c.logins == 1);
  CHECK(c.requests == 3);
  CHECK(env.gw.company->stats().calls_by_function["getAPISession"] == 2);
}
