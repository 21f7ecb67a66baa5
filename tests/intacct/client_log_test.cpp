// The client's log: one JSON line per gateway request ("intacct request")
// and one for a call that sent none ("intacct call not sent"), with their
// fields, against the sandbox's gateway over HTTP. No line holds a
// password or the session id.
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "intacct/client.hpp"
#include "intacct/transport.hpp"
#include "sandbox/sandbox.hpp"
#include "sandbox/server.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

namespace isync::testing {
namespace {

constexpr const char* kSenderPassword = "sender-pw-log-test";
constexpr const char* kUserPassword = "user-pw-log-test";
constexpr const char* kWrongPassword = "wrong-pw-log-test";

struct Lines {
  std::mutex mu;
  std::vector<std::string> all;
  // The lines whose msg is `msg`, parsed.
  std::vector<rapidjson::Document> with_msg(const std::string& msg) {
    std::lock_guard lock(mu);
    std::vector<rapidjson::Document> out;
    for (const auto& l : all) {
      rapidjson::Document d;
      d.Parse(l.c_str(), l.size());
      REQUIRE_MESSAGE(d.IsObject(), l);
      if (d.HasMember("msg") && d["msg"].GetString() == msg) out.push_back(std::move(d));
    }
    return out;
  }
  bool any_contains(const std::string& needle) {
    std::lock_guard lock(mu);
    for (const auto& l : all) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }
};

std::string str(const rapidjson::Document& d, const char* key) {
  return d.HasMember(key) && d[key].IsString() ? d[key].GetString() : std::string("(absent)");
}

struct Gateway {
  RedisServer redis;
  Metrics metrics;
  SystemClock clock;
  Lines lines;
  Log log{Level::debug, [this](std::string_view l) {
            std::lock_guard lock(lines.mu);
            lines.all.emplace_back(l);
          }};
  Log quiet{Level::error, [](std::string_view) {}};
  sandbox::Company company{
      sandbox::Options{{"sender-1", kSenderPassword, "DEMO-CO", "ws_user", kUserPassword},
                       "",
                       std::chrono::hours(2),
                       std::chrono::minutes(30),
                       false},
      clock};
  Loop loop;
  std::unique_ptr<sandbox::Server> server;
  std::shared_ptr<redis::Connection> conn;
  std::shared_ptr<intacct::HttpTransport> transport;
  std::unique_ptr<intacct::ClientHub> hub;

  Gateway() {
    company.seed_demo(5, 5, 3);
    sandbox::ServerOptions so;
    so.gateway_port = 0;
    so.control_port = 0;
    server = std::make_unique<sandbox::Server>(loop.ioc.get_executor(), company, so, quiet);
    REQUIRE(server->start().has_value());
    conn = redis::Connection::create(loop.ioc.get_executor(), redis.endpoint(), redis::Options{});
    conn->start();
    REQUIRE(eventually([&] { return conn->connected(); }));
    intacct::TransportOptions to;
    to.allow_plain_http = true;
    transport = intacct::HttpTransport::create(loop.ioc.get_executor(), to, log);
    intacct::ClientOptions co;
    co.endpoint =
        "http://127.0.0.1:" + std::to_string(server->gateway_port()) + "/ia/xml/xmlgw.phtml";
    co.sender_id = "sender-1";
    co.sender_password = Secret(kSenderPassword);
    hub = std::make_unique<intacct::ClientHub>(loop.ioc.get_executor(), conn, transport, co,
                                               metrics, clock, log);
  }
  ~Gateway() {
    hub->shutdown();
    transport->shutdown();
    std::promise<void> stopped;
    server->stop([&] { stopped.set_value(); });
    stopped.get_future().wait_for(std::chrono::seconds(15));
    close_and_wait(*conn);
  }

  intacct::CallOutcome call(intacct::Client& client, std::string control_id) {
    std::promise<intacct::CallOutcome> p;
    auto f = p.get_future();
    client.call(
        {intacct::Function{std::move(control_id), intacct::Read{"CUSTOMER", {"1"}, {}, ""}}}, false,
        [&p](intacct::CallOutcome o) { p.set_value(std::move(o)); });
    REQUIRE(f.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    return f.get();
  }
};

TEST_CASE("each gateway request logs one line: tenant, functions, control ids, outcome, duration") {
  Gateway g;
  auto client =
      g.hub->add_tenant({"acme", "DEMO-CO", "ws_user", Secret(kUserPassword), "", 2, 100000});
  CHECK_FALSE(g.call(*client, "read-ok").error.has_value());

  auto lines = g.lines.with_msg("intacct request");
  REQUIRE(lines.size() == 2);  // the login, then the read
  const auto& login = lines[0];
  const auto& read = lines[1];
  CHECK(str(login, "level") == "info");
  CHECK(str(login, "functions") == "getAPISession");
  CHECK(str(read, "level") == "info");
  CHECK(str(read, "tenant") == "acme");
  CHECK(str(read, "entity") == "-");
  CHECK(str(read, "functions") == "read");
  CHECK(str(read, "control_ids") == "read-ok");
  CHECK(str(read, "control_id").size() == 26);  // the request's own, a ULID
  CHECK(str(read, "control_id") != str(login, "control_id"));
  CHECK(str(read, "outcome") == "success");
  CHECK(read["http_status"].GetInt() == 200);
  CHECK(read["duration_ms"].IsInt64());
  CHECK_FALSE(read.HasMember("errorno"));
  CHECK_FALSE(read.HasMember("error"));

  SUBCASE("a failure carries Intacct's errorno and its words") {
    sandbox::Faults f;
    f.deny_reads = 1;
    g.company.set_faults(f);
    auto o = g.call(*client, "read-denied");
    REQUIRE(o.response.has_value());
    auto all = g.lines.with_msg("intacct request");
    REQUIRE(all.size() == 3);  // the session is shared: no second login
    const auto& denied = all[2];
    CHECK(str(denied, "control_ids") == "read-denied");
    CHECK(str(denied, "outcome") == "permanent");  // the function's, as the metrics count it
    CHECK(denied["http_status"].GetInt() == 200);
    CHECK(str(denied, "errorno") == "BL01001973");
    CHECK(str(denied, "error").find("You do not have permission") != std::string::npos);
  }
  SUBCASE("a 503 is transient, with the HTTP status") {
    sandbox::Faults f;
    f.server_error = 1;
    g.company.set_faults(f);
    auto o = g.call(*client, "read-503");
    REQUIRE(o.error.has_value());
    auto all = g.lines.with_msg("intacct request");
    REQUIRE(all.size() == 3);
    const auto& failed = all[2];
    CHECK(str(failed, "outcome") == "transient");
    CHECK(failed["http_status"].GetInt() == 503);
    CHECK(str(failed, "error") != "(absent)");
  }

  // The session id Intacct gave never appears in a line.
  auto session = g.redis.cmd({"HGET", "isync:{acme}:intacct:session:-", "id"});
  REQUIRE(session.type == redis::Reply::Type::string);
  REQUIRE_FALSE(session.str.empty());
  CHECK_FALSE(g.lines.any_contains(session.str));
  CHECK_FALSE(g.lines.any_contains(kSenderPassword));
  CHECK_FALSE(g.lines.any_contains(kUserPassword));
}

TEST_CASE(
    "a refused login logs its errorno; the calls refused by the open circuit log one line each") {
  Gateway g;
  auto bad =
      g.hub->add_tenant({"other", "DEMO-CO", "ws_user", Secret(kWrongPassword), "", 2, 100000});
  auto first = g.call(*bad, "first");
  REQUIRE(first.error.has_value());
  CHECK(first.circuit_open);
  auto second = g.call(*bad, "second");
  CHECK(second.circuit_open);

  auto requests = g.lines.with_msg("intacct request");
  REQUIRE(requests.size() == 1);  // the login; nothing after it was sent
  CHECK(str(requests[0], "functions") == "getAPISession");
  CHECK(str(requests[0], "outcome") == "permanent");
  CHECK(str(requests[0], "errorno") == "XL03000006");

  auto unsent = g.lines.with_msg("intacct call not sent");
  REQUIRE(unsent.size() == 1);  // the second call: refused before any request
  CHECK(str(unsent[0], "level") == "info");
  CHECK(str(unsent[0], "tenant") == "other");
  CHECK(str(unsent[0], "functions") == "read");
  CHECK(str(unsent[0], "control_ids") == "second");
  CHECK(str(unsent[0], "outcome") == "circuit_open");
  CHECK(unsent[0]["duration_ms"].IsInt64());
  CHECK_FALSE(unsent[0].HasMember("http_status"));
  CHECK(g.lines.with_msg("intacct circuit open").size() == 1);
  CHECK_FALSE(g.lines.any_contains(kWrongPassword));
  CHECK_FALSE(g.lines.any_contains(kSenderPassword));
}

}  // namespace
}  // namespace isync::testing
