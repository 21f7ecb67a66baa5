// The sandbox server over real loopback sockets: the XML gateway, the control
// API, smart-event posts received by an in-test HTTP sink, and the
// intacct-sandbox binary (ctl and serve) as a child process.
#include "sandbox/server.hpp"

#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "intacct/intacct.hpp"
#include "sandbox/detail/poster_queue.hpp"
#include "sandbox/sandbox.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace intacct = isync::intacct;
namespace sandbox = isync::sandbox;
using asio::ip::tcp;
using isync::testing::eventually;
using isync::testing::free_port;
using namespace std::chrono_literals;

namespace {

constexpr const char* kSenderId = "sandbox-sender";
constexpr const char* kSenderPassword = "sender-secret-pw";
constexpr const char* kCompanyId = "demo-co";
constexpr const char* kUserId = "ws-user";
constexpr const char* kUserPassword = "user-secret-pw";
constexpr const char* kEventToken = "event-token-in-url";
constexpr const char* kGatewayPath = "/ia/xml/xmlgw.phtml";

struct Response {
  int status = 0;  // 0 = no answer
  std::string body;
  std::string allow;
};

// One request on a new connection, with a 10 s deadline over all of it.
Response call(std::uint16_t port, http::verb method, const std::string& target,
              const std::string& body = {}, const std::string& content_type = {},
              const std::string& bearer = {}) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::flat_buffer buffer;
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "127.0.0.1");
  if (!content_type.empty()) req.set(http::field::content_type, content_type);
  if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
  req.body() = body;
  req.prepare_payload();
  http::response<http::string_body> res;
  beast::error_code result;
  stream.expires_after(10s);
  stream.async_connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), [&](beast::error_code ec) {
        if (ec) {
          result = ec;
          return;
        }
        http::async_write(stream, req, [&](beast::error_code wec, std::size_t) {
          if (wec) {
            result = wec;
            return;
          }
          http::async_read(stream, buffer, res,
                           [&](beast::error_code rec, std::size_t) { result = rec; });
        });
      });
  ioc.run();
  if (result) return {};
  return {static_cast<int>(res.result_int()), res.body(), std::string(res[http::field::allow])};
}

// Stands in for the service: records every request and answers 200.
class EventSink {
 public:
  struct Received {
    std::string target, content_type, user_agent, authorization, body;
  };

  EventSink() : acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    asio::co_spawn(ioc_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~EventSink() {
    ioc_.stop();
    thread_.join();
  }
  EventSink(const EventSink&) = delete;
  EventSink& operator=(const EventSink&) = delete;

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::vector<Received> received() {
    std::lock_guard lock(mu_);
    return received_;
  }
  std::size_t count() {
    std::lock_guard lock(mu_);
    return received_.size();
  }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      auto socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      asio::co_spawn(ioc_, serve(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> serve(tcp::socket socket) {
    beast::flat_buffer buffer;
    for (;;) {
      boost::system::error_code ec;
      http::request<http::string_body> req;
      co_await http::async_read(socket, buffer, req, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      {
        std::lock_guard lock(mu_);
        received_.push_back({std::string(req.target()), std::string(req[http::field::content_type]),
                             std::string(req[http::field::user_agent]),
                             std::string(req[http::field::authorization]), req.body()});
      }
      http::response<http::string_body> res{http::status::ok, 11};
      res.keep_alive(req.keep_alive());
      res.body() = "{}";
      res.prepare_payload();
      co_await http::async_write(socket, res, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !req.keep_alive()) co_return;
    }
  }

  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Received> received_;
};

// A Company and a started Server on free ports, posting events to a sink.
// Members are destroyed bottom-up: the Server (after stop()), then the io
// threads, then the company.
struct Fixture {
  explicit Fixture(sandbox::EventOptions events = {}, std::string control_token = {}) {
    gateway_port = free_port();
    sandbox::Options o;
    o.credentials = {kSenderId, kSenderPassword, kCompanyId, kUserId, kUserPassword};
    o.endpoint_url = "http://127.0.0.1:" + std::to_string(gateway_port) + kGatewayPath;
    company = std::make_unique<sandbox::Company>(o, clock);
    company->seed_demo(5, 10, 1);
    sandbox::ServerOptions so;
    so.gateway_port = gateway_port;
    so.control_port = 0;
    so.control_token = isync::Secret(control_token);
    so.events = std::move(events);
    if (so.events.url.empty()) {
      so.events.url = "http://127.0.0.1:" + std::to_string(sink.port()) +
                      "/v1/intacct/demo/events?token=" + kEventToken;
    }
    server = std::make_unique<sandbox::Server>(loop.ioc.get_executor(), *company, so, log);
    auto r = server->start();
    INFO((r ? std::string() : r.error().message));
    REQUIRE(r.has_value());
    control_port = server->control_port();
  }
  ~Fixture() {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    server->stop([&] {
      std::lock_guard lock(mu);
      done = true;
      cv.notify_all();
    });
    std::unique_lock lock(mu);
    cv.wait_for(lock, 15s, [&] { return done; });
    lock.unlock();
    server.reset();
  }

  std::string logs() {
    std::lock_guard lock(log_mu);
    std::string all;
    for (const auto& l : log_lines) all += l + "\n";
    return all;
  }

  Response control(http::verb method, const std::string& target, const std::string& body = {}) {
    return call(control_port, method, target, body, body.empty() ? "" : "application/json");
  }

  EventSink sink;
  isync::SystemClock clock;
  std::mutex log_mu;
  std::vector<std::string> log_lines;
  isync::Log log{isync::Level::info, [this](std::string_view line) {
                   std::lock_guard lock(log_mu);
                   log_lines.emplace_back(line);
                 }};
  std::unique_ptr<sandbox::Company> company;
  isync::testing::Loop loop;
  std::unique_ptr<sandbox::Server> server;
  std::uint16_t gateway_port = 0;
  std::uint16_t control_port = 0;
};

intacct::Request login_request(std::vector<intacct::Function> functions) {
  intacct::Request r;
  r.sender_id = kSenderId;
  r.sender_password = isync::Secret(kSenderPassword);
  r.control_id = "test-control";
  r.auth = intacct::Login{kUserId, kCompanyId, isync::Secret(kUserPassword), ""};
  r.functions = std::move(functions);
  return r;
}

Response post_gateway(std::uint16_t port, const intacct::Request& request) {
  auto xml = intacct::to_xml(request);
  REQUIRE(xml.has_value());
  return call(port, http::verb::post, kGatewayPath, *xml, "application/xml");
}

std::string field_of(const std::string& json, const std::string& key) {
  auto k = json.find("\"" + key + "\":");
  if (k == std::string::npos) return {};
  auto start = k + key.size() + 3;
  if (json[start] == '"') {
    auto end = json.find('"', start + 1);
    return json.substr(start + 1, end - start - 1);
  }
  auto end = json.find_first_of(",}", start);
  return json.substr(start, end - start);
}

// Percent-encoded MM/DD/YYYY HH:MM:SS.
bool looks_like_encoded_stamp(const std::string& v) {
  // 11%2F22%2F2026+13%3A00%3A00
  return v.size() == 27 && v.substr(2, 3) == "%2F" && v.substr(7, 3) == "%2F" && v[14] == '+' &&
         v.substr(17, 3) == "%3A" && v.substr(22, 3) == "%3A";
}

std::string form_value(const std::string& body, const std::string& name) {
  std::string key = name + "=";
  std::size_t pos = 0;
  while (pos <= body.size()) {
    auto amp = body.find('&', pos);
    auto pair = body.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    if (pair.rfind(key, 0) == 0) return pair.substr(key.size());
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return "<absent>";
}

}  // namespace

TEST_CASE("a gateway login and read of a seeded customer round-trips through parse_response") {
  Fixture fx;
  auto first = fx.company->list("CUSTOMER", 0, 1);
  REQUIRE(first.size() == 1);
  auto recordno = std::to_string(first[0].recordno);
  auto res = post_gateway(
      fx.gateway_port, login_request({{"read-1", intacct::Read{"CUSTOMER", {recordno}, {}, ""}}}));
  REQUIRE(res.status == 200);
  auto parsed = intacct::parse_response(200, "text/xml", res.body);
  REQUIRE(parsed.has_value());
  CHECK(parsed->control_status == intacct::Status::success);
  REQUIRE(parsed->authentication);
  CHECK(parsed->authentication->status == intacct::Status::success);
  auto* result = parsed->result("read-1");
  REQUIRE(result != nullptr);
  CHECK(result->status == intacct::Status::success);
  REQUIRE(result->data);
  auto rows = result->data->rows_of("CUSTOMER");
  REQUIRE(rows.size() == 1);
  REQUIRE(rows[0]->get("RECORDNO") != nullptr);
  CHECK(*rows[0]->get("RECORDNO") == recordno);

  // The log line names the function and never a credential.
  REQUIRE(
      eventually([&] { return fx.logs().find("\"functions\":\"read\"") != std::string::npos; }));
  auto logs = fx.logs();
  CHECK(logs.find(kSenderPassword) == std::string::npos);
  CHECK(logs.find(kUserPassword) == std::string::npos);
  CHECK(logs.find(kEventToken) == std::string::npos);
}

TEST_CASE("the gateway answers 404 off its path and 405 to other methods") {
  Fixture fx;
  CHECK(call(fx.gateway_port, http::verb::post, "/ia/xml/other", "<x/>").status == 404);
  auto res = call(fx.gateway_port, http::verb::get, kGatewayPath);
  CHECK(res.status == 405);
  CHECK(res.allow == "POST");
}

TEST_CASE("the latency fault delays the gateway reply by at least the injected time") {
  Fixture fx;
  auto put = fx.control(http::verb::put, "/v1/faults", R"({"latency_ms":400})");
  REQUIRE(put.status == 200);
  CHECK(field_of(put.body, "latency_ms") == "400");
  auto started = std::chrono::steady_clock::now();
  auto res = post_gateway(fx.gateway_port,
                          login_request({{"q", intacct::ReadByQuery{"CUSTOMER", {}, "", 10}}}));
  auto elapsed = std::chrono::steady_clock::now() - started;
  CHECK(res.status == 200);
  CHECK(elapsed >= 400ms);
}

TEST_CASE("control add, patch and delete each post exactly one smart event with the token") {
  Fixture fx;
  auto added = fx.control(http::verb::post, "/v1/records/CUSTOMER",
                          R"({"fields":{"NAME":"Acme & Sons","CUSTOMERID":"C-T1"}})");
  REQUIRE(added.status == 201);
  auto recordno = field_of(added.body, "recordno");
  REQUIRE(!recordno.empty());
  CHECK(field_of(added.body, "object") == "CUSTOMER");
  REQUIRE(eventually([&] { return fx.sink.count() >= 1; }));

  auto patched = fx.control(http::verb::patch, "/v1/records/customer/" + recordno,
                            R"({"fields":{"NAME":"Acme Ltd"}})");
  REQUIRE(patched.status == 200);
  CHECK(field_of(patched.body, "NAME") == "Acme Ltd");
  REQUIRE(eventually([&] { return fx.sink.count() >= 2; }));

  auto deleted = fx.control(http::verb::delete_, "/v1/records/CUSTOMER/" + recordno);
  CHECK(deleted.status == 204);
  CHECK(deleted.body.empty());
  REQUIRE(eventually([&] { return fx.server->poster_stats().posted >= 3; }));
  std::this_thread::sleep_for(200ms);  // room for a wrongly repeated post to arrive

  auto got = fx.sink.received();
  REQUIRE(got.size() == 3);
  const char* actions[] = {"add", "set", "delete"};
  for (std::size_t i = 0; i < got.size(); ++i) {
    CAPTURE(got[i].body);
    CHECK(got[i].target == std::string("/v1/intacct/demo/events?token=") + kEventToken);
    CHECK(got[i].content_type == "application/x-www-form-urlencoded");
    CHECK(got[i].user_agent == "Intacct Standard HTTP Agent");
    CHECK(got[i].authorization.empty());
    CHECK(got[i].body.rfind("object=CUSTOMER&action=" + std::string(actions[i]) +
                                "&recordno=" + recordno + "&whenmodified=",
                            0) == 0);
    CHECK(looks_like_encoded_stamp(form_value(got[i].body, "whenmodified")));
    CHECK(form_value(got[i].body, "NAME") == "<absent>");  // thin by default
  }
  auto stats = fx.control(http::verb::get, "/v1/stats");
  REQUIRE(stats.status == 200);
  CHECK(field_of(stats.body, "posted") == "3");
  CHECK(field_of(stats.body, "failed") == "0");
  CHECK(fx.control(http::verb::get, "/v1/records/CUSTOMER/" + recordno).status == 404);
  CHECK(fx.logs().find(kEventToken) == std::string::npos);
}

TEST_CASE("with a bearer token and snapshots, posts carry the header and every field") {
  EventSink sink;
  sandbox::EventOptions events;
  events.url = "http://127.0.0.1:" + std::to_string(sink.port()) + "/hook";
  events.bearer_token = isync::Secret("bearer-for-events");
  events.snapshot = true;
  Fixture fx(events);
  auto added = fx.control(http::verb::post, "/v1/records/CUSTOMER",
                          R"({"fields":{"NAME":"Snap & Co","CUSTOMERID":"C-SNAP"}})");
  REQUIRE(added.status == 201);
  REQUIRE(eventually([&] { return sink.count() == 1; }));
  auto got = sink.received()[0];
  CHECK(got.target == "/hook");
  CHECK(got.authorization == "Bearer bearer-for-events");
  CHECK(form_value(got.body, "NAME") == "Snap+%26+Co");
  CHECK(form_value(got.body, "CUSTOMERID") == "C-SNAP");
  CHECK(form_value(got.body, "RECORDNO") == "<absent>");  // not repeated beside recordno
  CHECK(fx.logs().find("bearer-for-events") == std::string::npos);
}

TEST_CASE("bad control input gets the exact status and message") {
  Fixture fx;
  auto r = fx.control(http::verb::get, "/v1/records/VENDOR/1");
  CHECK(r.status == 404);
  CHECK(
      r.body ==
      R"({"error":{"code":"unknown_object","message":"object \"VENDOR\" is not one of CUSTOMER, ARINVOICE, ARPYMT"}})");

  r = fx.control(http::verb::get, "/v1/records/CUSTOMER/999999");
  CHECK(r.status == 404);
  CHECK(r.body == R"({"error":{"code":"not_found","message":"no CUSTOMER with RECORDNO 999999"}})");

  r = fx.control(http::verb::post, "/v1/records/CUSTOMER", "{\"fields\":");
  CHECK(r.status == 400);
  CHECK(field_of(r.body, "code") == "malformed_body");

  r = fx.control(http::verb::post, "/v1/records/CUSTOMER", R"({"fields":{"NAME":"x"}} trailing)");
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"x({"error":{"code":"malformed_body","message":"the body has trailing bytes after the value, at offset 24"}})x");

  // The exact bytes of the deep-nesting input: 200,000 '[' (it once overflowed
  // the stack of a recursive parse).
  r = fx.control(http::verb::post, "/v1/records/CUSTOMER", std::string(200000, '['));
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"x({"error":{"code":"malformed_body","message":"the body is nested deeper than 64 levels"}})x");

  r = fx.control(http::verb::post, "/v1/records/CUSTOMER", R"({"name":"x"})");
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"({"error":{"code":"invalid_field","message":"unknown key \"name\"; send {\"fields\":{…}}"}})");

  r = fx.control(http::verb::put, "/v1/faults", R"({"latency":5})");
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"({"error":{"code":"invalid_field","message":"unknown fault \"latency\"; known: latency_ms, rate_limit, rate_limit_http, server_error, timeout_after_write, land_later, land_delay_ms, drop_events, deny_reads, server_error_ratio, timeout_after_write_ratio, land_later_ratio, drop_events_ratio, deny_read_objects"}})");

  r = fx.control(http::verb::put, "/v1/faults", R"({"rate_limit":-1})");
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"({"error":{"code":"invalid_field","message":"\"rate_limit\" must be an integer from 0 to 1000000"}})");

  r = fx.control(http::verb::get, "/v1/records/CUSTOMER?limit=1001");
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"({"error":{"code":"invalid_parameter","message":"limit \"1001\" is not an integer from 1 to 1000"}})");
  // A bad escape is refused, never taken as "no limit" ("%-1" is no hex byte).
  r = fx.control(http::verb::get, "/v1/records/CUSTOMER?limit=%-1");
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"({"error":{"code":"invalid_parameter","message":"limit \"%-1\" is not an integer from 1 to 1000"}})");

  r = fx.control(http::verb::put, "/v1/records/CUSTOMER/1", R"({"fields":{}})");
  CHECK(r.status == 405);
  CHECK(r.allow == "GET, PATCH, DELETE");

  r = fx.control(http::verb::get, "/v1/nothing");
  CHECK(r.status == 404);
  CHECK(r.body == R"({"error":{"code":"not_found","message":"no route for \"/v1/nothing\""}})");

  // The engine's own validation comes back as 400 with its message.
  r = fx.control(http::verb::post, "/v1/records/CUSTOMER", R"({"fields":{"CUSTOMERID":"C-X"}})");
  CHECK(r.status == 400);
  CHECK(field_of(r.body, "message") ==
        "Required field NAME is missing for CUSTOMER. Provide NAME.");
  CHECK(fx.sink.count() == 0);
}

TEST_CASE("a control token, when set, is required on every route but /healthz") {
  Fixture fx({}, "control-secret");
  auto r = fx.control(http::verb::get, "/v1/faults");
  CHECK(r.status == 401);
  CHECK(
      r.body ==
      R"({"error":{"code":"unauthorized","message":"the control token is missing or wrong; send Authorization: Bearer <control token>"}})");
  CHECK(call(fx.control_port, http::verb::get, "/v1/faults", {}, {}, "wrong").status == 401);
  CHECK(call(fx.control_port, http::verb::get, "/v1/faults", {}, {}, "control-secret").status ==
        200);
  CHECK(fx.control(http::verb::get, "/healthz").status == 200);
}

TEST_CASE("drop_events drops exactly N smart events") {
  Fixture fx;
  REQUIRE(fx.control(http::verb::put, "/v1/faults", R"({"drop_events":2})").status == 200);
  for (int i = 0; i < 4; ++i) {
    auto r = fx.control(http::verb::post, "/v1/records/CUSTOMER",
                        R"({"fields":{"NAME":"Drop )" + std::to_string(i) + R"("}})");
    REQUIRE(r.status == 201);
  }
  REQUIRE(eventually([&] { return fx.server->poster_stats().posted == 2; }));
  std::this_thread::sleep_for(200ms);
  CHECK(fx.sink.count() == 2);
  auto stats = fx.server->poster_stats();
  CHECK(stats.dropped == 2);
  CHECK(stats.failed == 0);
  CHECK(field_of(fx.control(http::verb::get, "/v1/faults").body, "drop_events") == "0");
}

TEST_CASE("drop_events_ratio 1 keeps every event from the sink and lists it; ratio 0 posts again") {
  Fixture fx;
  REQUIRE(fx.control(http::verb::put, "/v1/faults", R"({"drop_events_ratio":1})").status == 200);
  auto r = fx.control(http::verb::post, "/v1/records/CUSTOMER", R"({"fields":{"NAME":"Gone"}})");
  REQUIRE(r.status == 201);
  const auto recordno = field_of(r.body, "recordno");
  REQUIRE(fx.control(http::verb::put, "/v1/faults", R"({"drop_events_ratio":0})").status == 200);
  REQUIRE(fx.control(http::verb::patch, "/v1/records/CUSTOMER/" + recordno,
                     R"({"fields":{"NAME":"Back"}})")
              .status == 200);
  REQUIRE(eventually([&] { return fx.server->poster_stats().posted == 1; }));
  std::this_thread::sleep_for(200ms);
  REQUIRE(fx.sink.count() == 1);
  CHECK(form_value(fx.sink.received()[0].body, "action") == "set");
  CHECK(fx.server->poster_stats().dropped == 1);
  const auto dropped = fx.control(http::verb::get, "/v1/events/dropped");
  CHECK(dropped.status == 200);
  CHECK(field_of(dropped.body, "count") == "1");
  CHECK(dropped.body.find(R"("object":"CUSTOMER","recordno":)" + recordno + R"(,"action":"add")") !=
        std::string::npos);
}

TEST_CASE("land_later makes a gateway create visible only after the delay") {
  Fixture fx;
  REQUIRE(
      fx.control(http::verb::put, "/v1/faults", R"({"land_later":1,"land_delay_ms":600})").status ==
      200);
  auto before = fx.company->count("CUSTOMER");
  auto started = std::chrono::steady_clock::now();
  auto res = post_gateway(
      fx.gateway_port,
      login_request({{"create-1", intacct::Create{"CUSTOMER",
                                                  {intacct::leaf("CUSTOMERID", "C-LATE"),
                                                   intacct::leaf("NAME", "Late Ltd")}}}}));
  CHECK(res.status == 524);
  CHECK(fx.company->count("CUSTOMER") == before);
  CHECK(fx.sink.count() == 0);
  REQUIRE(eventually([&] { return fx.company->count("CUSTOMER") == before + 1; }));
  CHECK(std::chrono::steady_clock::now() - started >= 600ms);
  REQUIRE(eventually([&] { return fx.sink.count() == 1; }));
  CHECK(fx.sink.received()[0].body.rfind("object=CUSTOMER&action=add&", 0) == 0);
}

TEST_CASE("a receiver that is down counts failed posts without retrying") {
  sandbox::EventOptions events;
  events.url = "http://127.0.0.1:" + std::to_string(free_port()) + "/down?token=secret-in-query";
  Fixture fx(events);
  REQUIRE(fx.control(http::verb::post, "/v1/records/CUSTOMER", R"({"fields":{"NAME":"Nobody"}})")
              .status == 201);
  REQUIRE(eventually([&] { return fx.server->poster_stats().failed == 1; }));
  CHECK(fx.server->poster_stats().posted == 0);
  CHECK(fx.server->poster_stats().queued == 0);
  auto logs = fx.logs();
  CHECK(logs.find("smart event post failed") != std::string::npos);
  CHECK(logs.find("/down") != std::string::npos);
  CHECK(logs.find("secret-in-query") == std::string::npos);
}

// ---- The binary ------------------------------------------------------------

namespace {

struct RunResult {
  int code = -100;  // exit code, -signal, or -100 when still running at the deadline
  std::string out, err;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string temp_dir() {
  char tmpl[] = "/tmp/isync-sandbox-test-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  return tmpl;
}

// Where one child's stdout and stderr go.
struct ChildFiles {
  std::string out, err;
  explicit ChildFiles(const std::string& dir) {
    static int counter = 0;
    out = dir + "/out-" + std::to_string(++counter);
    err = out + ".err";
  }
};

// The intacct-sandbox binary as a child: stdout and stderr go to files.
class Child : private ChildFiles, public isync::testing::Child {
 public:
  Child(std::vector<std::string> args, const std::vector<std::string>& extra_env,
        const std::string& dir)
      : ChildFiles(dir),
        isync::testing::Child(ISYNC_SANDBOX_BINARY, std::move(args), extra_env, err, out) {}

  RunResult wait(std::chrono::milliseconds deadline = 20s) {
    RunResult r;
    r.code = wait_exit(deadline).value_or(-100);
    r.out = read_file(out);
    r.err = read_file(err);
    return r;
  }
};

RunResult ctl(const Fixture& fx, const std::string& dir, std::vector<std::string> args) {
  args.insert(args.begin(),
              {"ctl", "--control", "http://127.0.0.1:" + std::to_string(fx.control_port)});
  Child child(std::move(args), {}, dir);
  return child.wait();
}

}  // namespace

TEST_CASE("intacct-sandbox ctl drives the control API and exits 0, 1 or 2") {
  Fixture fx;
  auto dir = temp_dir();

  auto added = ctl(fx, dir, {"add", "CUSTOMER", "NAME=Cli Ltd", "CUSTOMERID=C-CLI"});
  CAPTURE(added.err);
  REQUIRE(added.code == 0);
  auto recordno = added.out.substr(0, added.out.find('\n'));
  REQUIRE(fx.company->get("CUSTOMER", std::stoll(recordno)).has_value());
  CHECK(fx.company->get("CUSTOMER", std::stoll(recordno))->fields.at("NAME") == "Cli Ltd");

  auto set = ctl(fx, dir, {"set", "CUSTOMER", recordno, "NAME=Cli Two"});
  CHECK(set.code == 0);
  CHECK(fx.company->get("CUSTOMER", std::stoll(recordno))->fields.at("NAME") == "Cli Two");

  auto got = ctl(fx, dir, {"get", "CUSTOMER", recordno});
  CHECK(got.code == 0);
  CHECK(got.out.find("\"NAME\":\"Cli Two\"") != std::string::npos);

  auto listed = ctl(fx, dir, {"list", "CUSTOMER", "--limit", "2"});
  CHECK(listed.code == 0);
  CHECK(listed.out.rfind("{\"records\":[", 0) == 0);

  CHECK(ctl(fx, dir, {"faults", "latency_ms=5", "rate_limit_http=false"}).code == 0);
  CHECK(fx.company->faults().latency == 5ms);
  CHECK(fx.company->faults().rate_limit_http == false);
  auto shown = ctl(fx, dir, {"faults"});
  CHECK(shown.out.find("\"latency_ms\":5") != std::string::npos);
  CHECK(ctl(fx, dir,
            {"faults", "server_error_ratio=0.05", "land_later_ratio=.5",
             "timeout_after_write_ratio=1"})
            .code == 0);
  CHECK(fx.company->faults().server_error_ratio == 0.05);
  CHECK(fx.company->faults().land_later_ratio == 0.5);
  CHECK(fx.company->faults().timeout_after_write_ratio == 1.0);
  auto bad_ratio = ctl(fx, dir, {"faults", "server_error_ratio=1.5"});
  CHECK(bad_ratio.code == 1);
  CHECK(bad_ratio.err.find("\"server_error_ratio\" must be a number from 0 to 1") !=
        std::string::npos);
  CHECK(ctl(fx, dir, {"faults", "server_error_ratio=0.1.2"}).code == 2);
  CHECK(ctl(fx, dir, {"faults", "clear"}).code == 0);
  CHECK(fx.company->faults().latency == 0ms);
  CHECK(fx.company->faults().server_error_ratio == 0.0);
  CHECK(fx.company->faults().timeout_after_write_ratio == 0.0);

  auto settings = ctl(fx, dir, {"settings"});
  CHECK(settings.code == 0);
  CHECK(settings.out ==
        "{\"payment_batch_required\":false,\"unique_payment_numbers\":false,\"write_clock_offset_"
        "s\":0}\n");
  settings = ctl(fx, dir, {"settings", "unique_payment_numbers=true"});
  CHECK(settings.code == 0);
  CHECK(settings.out ==
        "{\"payment_batch_required\":false,\"unique_payment_numbers\":true,\"write_clock_offset_"
        "s\":0}\n");
  CHECK(fx.company->settings().unique_payment_numbers);
  CHECK(ctl(fx, dir, {"settings", "unique_payment_numbers=yes"}).code == 2);
  auto unknown = ctl(fx, dir, {"settings", "batch=true"});
  CHECK(unknown.code == 1);
  CHECK(unknown.err.find("unknown setting \"batch\"") != std::string::npos);

  CHECK(ctl(fx, dir, {"expire-sessions"}).code == 0);
  auto stats = ctl(fx, dir, {"stats"});
  CHECK(stats.code == 0);
  CHECK(stats.out.find("\"events\":{") != std::string::npos);

  CHECK(ctl(fx, dir, {"delete", "CUSTOMER", recordno}).code == 0);
  CHECK_FALSE(fx.company->get("CUSTOMER", std::stoll(recordno)).has_value());

  auto missing = ctl(fx, dir, {"get", "CUSTOMER", recordno});
  CHECK(missing.code == 1);
  CHECK(missing.err.find("no CUSTOMER with RECORDNO " + recordno) != std::string::npos);

  // What reconciliation tests use: offset, silent writes, drop ratio, denial, dropped events.
  CHECK(ctl(fx, dir, {"settings", "write_clock_offset_s=-20736000"}).code == 0);
  CHECK(fx.company->settings().write_clock_offset == std::chrono::seconds(-20736000));
  CHECK(ctl(fx, dir, {"settings", "write_clock_offset_s=-2x"}).code == 2);
  CHECK(ctl(fx, dir, {"settings", "write_clock_offset_s=0"}).code == 0);
  REQUIRE(eventually([&] { return fx.server->poster_stats().queued == 0; }));
  const auto posted = fx.server->poster_stats().posted;
  auto quiet = ctl(fx, dir, {"add", "CUSTOMER", "NAME=Quiet", "--silent"});
  REQUIRE(quiet.code == 0);
  const auto quiet_no = quiet.out.substr(0, quiet.out.find('\n'));
  CHECK(ctl(fx, dir, {"set", "CUSTOMER", quiet_no, "NAME=Quieter", "--silent"}).code == 0);
  CHECK(ctl(fx, dir, {"delete", "CUSTOMER", quiet_no, "--silent"}).code == 0);
  CHECK_FALSE(fx.company->get("CUSTOMER", std::stoll(quiet_no)).has_value());
  CHECK(ctl(fx, dir, {"faults", "drop_events_ratio=1", "deny_read_objects=arpymt,CUSTOMER"}).code ==
        0);
  CHECK(fx.company->faults().deny_read_objects == std::set<std::string>{"ARPYMT", "CUSTOMER"});
  CHECK(ctl(fx, dir, {"add", "CUSTOMER", "NAME=Dropped"}).code == 0);
  auto dropped = ctl(fx, dir, {"dropped-events"});
  CHECK(dropped.code == 0);
  CHECK(dropped.out.rfind("{\"count\":1,", 0) == 0);
  CHECK(ctl(fx, dir, {"dropped-events", "clear"}).code == 0);
  CHECK(fx.company->dropped_events().count == 0);
  CHECK(ctl(fx, dir, {"dropped-events", "all"}).code == 2);
  CHECK(ctl(fx, dir, {"faults", "deny_read_objects="}).code == 0);
  CHECK(fx.company->faults().deny_read_objects.empty());
  CHECK(ctl(fx, dir, {"faults", "clear"}).code == 0);
  CHECK(fx.server->poster_stats().queued == 0);
  CHECK(fx.server->poster_stats().posted == posted);  // nothing posted since `quiet`

  CHECK(ctl(fx, dir, {"faults", "latency_ms=soon"}).code == 2);
  CHECK(ctl(fx, dir, {"add", "CUSTOMER", "NAME"}).code == 2);
  CHECK(ctl(fx, dir, {"frobnicate"}).code == 2);
  std::filesystem::remove_all(dir);
}

TEST_CASE("serve writes its ports, answers, and on SIGTERM exits 0 having saved its state") {
  auto dir = temp_dir();
  EventSink sink;
  std::string state = dir + "/state.json";
  std::string ports = dir + "/ports";
  std::ofstream(dir + "/events-url") << "http://127.0.0.1:" << sink.port()
                                     << "/v1/intacct/demo/events?token=" << kEventToken << "\n";
  Child serve({"serve",
               "--gateway-listen",
               "127.0.0.1:0",
               "--control-listen",
               "127.0.0.1:0",
               "--sender-id",
               kSenderId,
               "--company-id",
               kCompanyId,
               "--user-id",
               kUserId,
               "--demo-customers",
               "3",
               "--demo-invoices",
               "4",
               "--events-url-file",
               dir + "/events-url",
               "--state-file",
               state,
               "--port-file",
               ports,
               "--unique-payment-numbers"},
              {std::string("INTACCT_SANDBOX_SENDER_PASSWORD=") + kSenderPassword,
               std::string("INTACCT_SANDBOX_USER_PASSWORD=") + kUserPassword},
              dir);
  REQUIRE(eventually([&] { return read_file(ports).find('\n') != std::string::npos; }));
  std::istringstream in(read_file(ports));
  int gateway = 0, control = 0;
  in >> gateway >> control;
  REQUIRE(gateway > 0);
  REQUIRE(control > 0);

  auto health = call(static_cast<std::uint16_t>(control), http::verb::get, "/healthz");
  CHECK(health.status == 200);
  CHECK(
      call(static_cast<std::uint16_t>(control), http::verb::get, "/v1/settings").body ==
      R"({"payment_batch_required":false,"unique_payment_numbers":true,"write_clock_offset_s":0})");
  auto added =
      call(static_cast<std::uint16_t>(control), http::verb::post, "/v1/records/CUSTOMER",
           R"({"fields":{"NAME":"Saved Ltd","CUSTOMERID":"C-SAVED"}})", "application/json");
  CHECK(added.status == 201);
  auto res = post_gateway(static_cast<std::uint16_t>(gateway),
                          login_request({{"q", intacct::ReadByQuery{"CUSTOMER", {}, "", 10}}}));
  CHECK(res.status == 200);
  CHECK(eventually([&] { return sink.count() == 1; }));

  serve.signal(SIGTERM);
  auto exit = serve.wait();
  CAPTURE(exit.err);
  CHECK(exit.code == 0);
  auto saved = read_file(state);
  CHECK(saved.find("C-SAVED") != std::string::npos);
  CHECK(exit.err.find("\"functions\":\"readByQuery\"") != std::string::npos);
  CHECK(exit.err.find(kSenderPassword) == std::string::npos);
  CHECK(exit.err.find(kUserPassword) == std::string::npos);
  CHECK(exit.err.find(kEventToken) == std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("posts about one record arrive in the order of its changes") {
  EventSink sink;
  sandbox::EventOptions events;
  events.url = "http://127.0.0.1:" + std::to_string(sink.port()) + "/hook";
  events.snapshot = true;
  events.connections = 4;
  Fixture fx(events);
  auto added = fx.company->add("CUSTOMER", {{"NAME", "N-0"}});
  REQUIRE(added.has_value());
  constexpr int kChanges = 60;
  for (int i = 1; i < kChanges; ++i) {
    // A second record between each change keeps the other lanes busy too.
    REQUIRE(fx.company->add("CUSTOMER", {{"NAME", "other"}}).has_value());
    REQUIRE(fx.company->set("CUSTOMER", added->recordno, {{"NAME", "N-" + std::to_string(i)}})
                .has_value());
  }
  REQUIRE(eventually([&] { return sink.count() == 2 * kChanges - 1; }));
  std::vector<std::string> names;
  for (const auto& r : sink.received()) {
    if (form_value(r.body, "recordno") == std::to_string(added->recordno)) {
      names.push_back(form_value(r.body, "NAME"));
    }
  }
  REQUIRE(names.size() == kChanges);
  for (int i = 0; i < kChanges; ++i)
    CHECK(names[static_cast<std::size_t>(i)] == "N-" + std::to_string(i));
}

TEST_CASE("a full post queue drops changes and counts them; a silent receiver times out") {
  // A listener that never answers: the first post waits out its deadline.
  asio::io_context ioc;
  tcp::acceptor silent(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  sandbox::EventOptions events;
  events.url = "http://127.0.0.1:" + std::to_string(silent.local_endpoint().port()) + "/hook";
  events.queue_limit = 1;
  events.response_timeout = 300ms;
  Fixture fx(events);
  for (int i = 0; i < 3; ++i) {
    REQUIRE(fx.company->add("CUSTOMER", {{"NAME", "Q" + std::to_string(i)}}).has_value());
  }
  CHECK(fx.server->poster_stats().dropped == 2);
  REQUIRE(eventually([&] { return fx.server->poster_stats().failed == 1; }));
  CHECK(fx.server->poster_stats().queued == 0);
  CHECK(fx.logs().find("the post queue is full") != std::string::npos);
}

TEST_CASE("events URLs: plain http only, the query kept for the request and hidden from logs") {
  using sandbox::detail::parse_event_url;
  auto u = parse_event_url("http://127.0.0.1:8080/v1/intacct/demo/events?token=abc");
  REQUIRE(u.has_value());
  CHECK(u->host == "127.0.0.1");
  CHECK(u->port == "8080");
  CHECK(u->target == "/v1/intacct/demo/events?token=abc");
  CHECK(u->shown == "http://127.0.0.1:8080/v1/intacct/demo/events");
  auto bare = parse_event_url("HTTP://[::1]?token=x");
  REQUIRE(bare.has_value());
  CHECK(bare->host == "::1");
  CHECK(bare->port == "80");
  CHECK(bare->target == "/?token=x");
  CHECK(bare->shown == "http://[::1]/");

  auto https = parse_event_url("https://127.0.0.1/hook");
  REQUIRE_FALSE(https.has_value());
  CHECK(https.error().message ==
        "events URL: https is not supported (plain HTTP only); expected "
        "http://HOST[:PORT]/PATH[?QUERY]");
  CHECK_FALSE(parse_event_url("http://user:pw@127.0.0.1/hook").has_value());
  CHECK_FALSE(parse_event_url("http://127.0.0.1:0/hook").has_value());
  CHECK_FALSE(parse_event_url("http://127.0.0.1:99999/hook").has_value());
  CHECK_FALSE(parse_event_url("http:///hook").has_value());

  CHECK(sandbox::detail::form_encode("11/22/2026 13:00:00") == "11%2F22%2F2026+13%3A00%3A00");
  CHECK(sandbox::detail::form_encode("a-b_c.d~e&f=g") == "a-b_c.d~e%26f%3Dg");
}

TEST_CASE("start() refuses an events URL it cannot post to") {
  isync::SystemClock clock;
  sandbox::Company company(sandbox::Options{}, clock);
  isync::Log log{isync::Level::error, [](std::string_view) {}};
  isync::testing::Loop loop;
  sandbox::ServerOptions so;
  so.gateway_port = 0;
  so.control_port = 0;
  so.events.url = "https://127.0.0.1/hook";
  sandbox::Server server(loop.ioc.get_executor(), company, so, log);
  auto r = server.start();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "invalid_config");
}

TEST_CASE("/v1/settings shows and switches the payment settings; bad input gets 400") {
  Fixture fx;
  auto r = fx.control(http::verb::get, "/v1/settings");
  CHECK(r.status == 200);
  CHECK(
      r.body ==
      R"({"payment_batch_required":false,"unique_payment_numbers":false,"write_clock_offset_s":0})");
  r = fx.control(http::verb::put, "/v1/settings", R"({"payment_batch_required":true})");
  CHECK(r.status == 200);
  CHECK(
      r.body ==
      R"({"payment_batch_required":true,"unique_payment_numbers":false,"write_clock_offset_s":0})");
  CHECK(fx.company->settings().payment_batch_required);
  r = fx.control(http::verb::put, "/v1/settings",
                 R"({"unique_payment_numbers":true,"write_clock_offset_s":0})");
  CHECK(
      r.body ==
      R"({"payment_batch_required":true,"unique_payment_numbers":true,"write_clock_offset_s":0})");
  r = fx.control(http::verb::put, "/v1/settings", R"({"unique_payment_numbers":1})");
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"({"error":{"code":"invalid_field","message":"\"unique_payment_numbers\" must be true or false"}})");
  r = fx.control(http::verb::put, "/v1/settings", R"({"batch":true})");
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"({"error":{"code":"invalid_field","message":"unknown setting \"batch\"; known: payment_batch_required, unique_payment_numbers, write_clock_offset_s"}})");
  r = fx.control(http::verb::delete_, "/v1/settings");
  CHECK(r.status == 405);
  CHECK(r.allow == "GET, PUT");
  r = fx.control(http::verb::get, "/v1/settings");
  CHECK(
      r.body ==
      R"({"payment_batch_required":true,"unique_payment_numbers":true,"write_clock_offset_s":0})");
}

TEST_CASE("fault ratios through /v1/faults; a reverse_arpayment is counted in /v1/stats") {
  Fixture fx;
  auto r = fx.control(http::verb::put, "/v1/faults", R"({"server_error_ratio":1})");
  CHECK(r.status == 200);
  CHECK(field_of(r.body, "server_error_ratio") == "1.0");
  CHECK(field_of(fx.control(http::verb::get, "/v1/faults").body, "land_later_ratio") == "0.0");
  auto read = login_request({{"r", intacct::Read{"CUSTOMER", {"1"}, {}, ""}}});
  CHECK(post_gateway(fx.gateway_port, read).status == 503);
  CHECK(post_gateway(fx.gateway_port, read).status == 503);
  r = fx.control(http::verb::put, "/v1/faults", R"({"land_later_ratio":1.5})");
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"({"error":{"code":"invalid_field","message":"\"land_later_ratio\" must be a number from 0 to 1"}})");
  r = fx.control(http::verb::delete_, "/v1/faults");
  CHECK(field_of(r.body, "server_error_ratio") == "0.0");
  CHECK(post_gateway(fx.gateway_port, read).status == 200);

  // The seeded company has posted payments; reverse the first one.
  REQUIRE(fx.company->count("ARPYMT") > 0);
  const auto payment = fx.company->list("ARPYMT", 0, 1).at(0);
  intacct::Legacy reverse{
      "reverse_arpayment",
      {{"key", std::to_string(payment.recordno)}},
      {intacct::group("datereversed", {intacct::leaf("year", "2026"), intacct::leaf("month", "11"),
                                       intacct::leaf("day", "22")}),
       intacct::leaf("memo", "Refunded")},
      true};
  auto res = post_gateway(fx.gateway_port, login_request({{"rev-1", reverse}}));
  REQUIRE(res.status == 200);
  auto parsed = intacct::parse_response(200, "text/xml", res.body);
  REQUIRE(parsed.has_value());
  REQUIRE(parsed->results.size() == 1);
  CHECK(parsed->results[0].status == intacct::Status::success);
  REQUIRE(parsed->results[0].key);
  CHECK(*parsed->results[0].key == std::to_string(payment.recordno));
  CHECK(fx.company->get("ARPYMT", payment.recordno)->fields.at("STATE") == "Reversed");

  auto stats = fx.control(http::verb::get, "/v1/stats").body;
  CHECK(stats.find("\"reverse_arpayment\":1") != std::string::npos);
  CHECK(stats.find("\"faults_by_name\":{\"server_error\":2}") != std::string::npos);
  CHECK(field_of(stats, "faults_injected") == "2");
}
