// The client against the sandbox's gateway over HTTP: every function, and a
// failure of every class as the sandbox shapes it (PROTOCOL.md §3, §5).
#include <doctest/doctest.h>

#include <future>
#include <memory>
#include <string>
#include <thread>

#include "intacct/client.hpp"
#include "intacct/transport.hpp"
#include "sandbox/sandbox.hpp"
#include "sandbox/server.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

namespace isync::testing {
namespace {

using intacct::ErrorClass;

struct Gateway {
  RedisServer redis;
  Metrics metrics;
  SystemClock clock;
  Log log{Level::warn, [](std::string_view) {}};
  sandbox::Company company{
      sandbox::Options{{"sender-1", "sender-pw", "DEMO-CO", "ws_user", "user-pw"},
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
  std::shared_ptr<intacct::Client> client;

  Gateway() {
    company.seed_demo(20, 40, 3);
    sandbox::ServerOptions so;
    so.gateway_port = 0;
    so.control_port = 0;
    server = std::make_unique<sandbox::Server>(loop.ioc.get_executor(), company, so, log);
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
    co.sender_password = Secret("sender-pw");
    hub = std::make_unique<intacct::ClientHub>(loop.ioc.get_executor(), conn, transport, co,
                                               metrics, clock, log);
    client = hub->add_tenant({"acme", "DEMO-CO", "ws_user", Secret("user-pw"), "", 2, 100000});
  }
  ~Gateway() {
    hub->shutdown();
    transport->shutdown();
    std::promise<void> stopped;
    server->stop([&] { stopped.set_value(); });
    stopped.get_future().wait_for(std::chrono::seconds(15));
    close_and_wait(*conn);
  }

  intacct::CallOutcome call(intacct::Call c, bool unique_id = false) {
    std::promise<intacct::CallOutcome> p;
    auto f = p.get_future();
    client->call({intacct::Function{"", std::move(c)}}, unique_id,
                 [&p](intacct::CallOutcome o) { p.set_value(std::move(o)); });
    REQUIRE(f.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    return f.get();
  }
  // The one function's result; REQUIRES a reply.
  const intacct::FunctionResult& result(const intacct::CallOutcome& o) {
    REQUIRE(o.response.has_value());
    REQUIRE(o.response->results.size() == 1);
    return o.response->results[0];
  }
};

std::string field(const intacct::Row& row, std::string_view name) {
  const std::string* v = row.get(name);
  return v ? *v : std::string("(none)");
}

TEST_CASE(
    "every function against the sandbox: create, read, update, query, readByQuery, "
    "readMore, delete") {
  Gateway g;
  // create
  auto created = g.call(intacct::Create{
      "CUSTOMER", {intacct::leaf("CUSTOMERID", "C-NEW"), intacct::leaf("NAME", "New Co")}});
  REQUIRE_FALSE(created.error.has_value());
  const auto& cr = g.result(created);
  REQUIRE(cr.status == intacct::Status::success);
  REQUIRE(cr.data.has_value());
  auto rows = cr.data->rows_of("CUSTOMER");
  REQUIRE(rows.size() == 1);
  const std::string recordno = field(*rows[0], "RECORDNO");
  // read
  auto read = g.call(intacct::Read{"CUSTOMER", {recordno}, {}, ""});
  REQUIRE(g.result(read).data.has_value());
  REQUIRE(g.result(read).data->rows_of("CUSTOMER").size() == 1);
  CHECK(field(*g.result(read).data->rows_of("CUSTOMER")[0], "NAME") == "New Co");
  // update
  auto updated = g.call(intacct::Update{
      "CUSTOMER", {intacct::leaf("RECORDNO", recordno), intacct::leaf("NAME", "Renamed Co")}});
  CHECK(g.result(updated).status == intacct::Status::success);
  CHECK(g.company.get("CUSTOMER", std::stoll(recordno))->fields.at("NAME") == "Renamed Co");
  // query with a filter, order and offset
  intacct::Query q;
  q.select = {"RECORDNO", "CUSTOMERID"};
  q.object = "CUSTOMER";
  q.filter = intacct::where(intacct::Filter::Op::equalto, "CUSTOMERID", {"C-NEW"});
  q.order_by = {{"RECORDNO", true}};
  auto queried = g.call(q);
  REQUIRE(g.result(queried).data.has_value());
  CHECK(g.result(queried).data->rows_of("CUSTOMER").size() == 1);
  intacct::Query paged;
  paged.select = {"RECORDNO"};
  paged.object = "ARINVOICE";
  paged.pagesize = 15;
  paged.offset = 30;
  auto page = g.call(paged);
  REQUIRE(g.result(page).data.has_value());
  CHECK(g.result(page).data->rows.size() == 10);
  CHECK(g.result(page).data->numremaining == 0);
  // readByQuery + readMore to the end
  auto first = g.call(intacct::ReadByQuery{"ARINVOICE", {"RECORDNO"}, "", 25});
  REQUIRE(g.result(first).data.has_value());
  CHECK(g.result(first).data->rows.size() == 25);
  CHECK(g.result(first).data->numremaining == 15);
  REQUIRE(g.result(first).data->result_id.has_value());
  auto more = g.call(intacct::ReadMore{*g.result(first).data->result_id});
  REQUIRE(g.result(more).data.has_value());
  CHECK(g.result(more).data->rows.size() == 15);
  CHECK(g.result(more).data->numremaining == 0);
  // delete
  auto deleted = g.call(intacct::Delete{"CUSTOMER", {recordno}});
  CHECK(g.result(deleted).status == intacct::Status::success);
  CHECK_FALSE(g.company.get("CUSTOMER", std::stoll(recordno)).has_value());
  // one login served them all
  CHECK(g.company.stats().calls_by_function.at("getAPISession") == 1);
}

TEST_CASE("the sandbox's failures reach the caller in every class") {
  Gateway g;
  SUBCASE("429 and GW-0010 are transient") {
    sandbox::Faults f;
    f.rate_limit = 2;
    f.rate_limit_http = true;
    g.company.set_faults(f);
    auto o = g.call(intacct::Read{"CUSTOMER", {"1"}, {}, ""});
    REQUIRE(o.error.has_value());
    CHECK(o.error->cls == ErrorClass::transient);
    f.rate_limit = 1;
    f.rate_limit_http = false;
    g.company.set_faults(f);
    o = g.call(intacct::Read{"CUSTOMER", {"1"}, {}, ""});
    REQUIRE(o.error.has_value());
    CHECK(o.error->cls == ErrorClass::transient);
    CHECK(o.error->errors.at(0).errorno == "GW-0010");
  }
  SUBCASE("a 503 before executing is transient") {
    sandbox::Faults f;
    f.server_error = 1;
    g.company.set_faults(f);
    auto o = g.call(intacct::Read{"CUSTOMER", {"1"}, {}, ""});
    REQUIRE(o.error.has_value());
    CHECK(o.error->cls == ErrorClass::transient);
    CHECK(o.error->http_status == 503);
  }
  SUBCASE("a 524 after a create is ambiguous, and the write did land") {
    sandbox::Faults f;
    f.timeout_after_write = 1;
    g.company.set_faults(f);
    const auto before = g.company.count("CUSTOMER");
    auto o = g.call(
        intacct::Create{"CUSTOMER",
                        {intacct::leaf("CUSTOMERID", "C-524"), intacct::leaf("NAME", "Maybe")}},
        true);
    REQUIRE(o.error.has_value());
    CHECK(o.error->cls == ErrorClass::ambiguous);
    CHECK(g.company.count("CUSTOMER") == before + 1);
  }
  SUBCASE("an unknown field and a duplicate are permanent result failures with Intacct's words") {
    auto o = g.call(intacct::Read{"CUSTOMER", {"1"}, {"NOSUCHFIELD"}, ""});
    REQUIRE_FALSE(o.error.has_value());
    auto err = intacct::result_error(*o.response, g.result(o));
    REQUIRE(err.has_value());
    CHECK(err->cls == ErrorClass::permanent);
    CHECK(err->errors.at(0).errorno == "DL02000001");
    auto id = g.company.get("CUSTOMER", 1)->fields.at("CUSTOMERID");
    o = g.call(intacct::Create{"CUSTOMER",
                               {intacct::leaf("CUSTOMERID", id), intacct::leaf("NAME", "Dup")}});
    err = intacct::result_error(*o.response, g.result(o));
    REQUIRE(err.has_value());
    CHECK(err->cls == ErrorClass::permanent);
    CHECK(err->errors.at(0).errorno == "BL34000061");
  }
  SUBCASE("an expired session is renewed and the call succeeds") {
    REQUIRE_FALSE(g.call(intacct::Read{"CUSTOMER", {"1"}, {}, ""}).error.has_value());
    g.company.expire_sessions();
    auto o = g.call(intacct::Read{"CUSTOMER", {"1"}, {}, ""});
    CHECK_FALSE(o.error.has_value());
    CHECK(g.company.stats().calls_by_function.at("getAPISession") == 2);
  }
}

TEST_CASE("rejected credentials against the sandbox open the circuit after one login") {
  Gateway g;
  auto bad = g.hub->add_tenant({"other", "DEMO-CO", "ws_user", Secret("wrong"), "", 2, 100000});
  for (int i = 0; i < 3; ++i) {
    std::promise<intacct::CallOutcome> p;
    auto f = p.get_future();
    bad->call({intacct::Function{"", intacct::Read{"CUSTOMER", {"1"}, {}, ""}}}, false,
              [&p](intacct::CallOutcome o) { p.set_value(std::move(o)); });
    REQUIRE(f.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    auto o = f.get();
    REQUIRE(o.error.has_value());
    CHECK(o.error->bad_credentials);  // why the circuit is open, on every refusal
    CHECK(o.circuit_open);
  }
  CHECK(g.company.stats().requests == 1);
}

}  // namespace
}  // namespace isync::testing
