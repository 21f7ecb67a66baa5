// The HTTP front against a real redis-server, spoken to over real sockets.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "handlers/handlers.hpp"
#include "ingest/ingest.hpp"
#include "tests/ingest/raw_http.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::ip::tcp;
using isync::testing::close_and_wait;
using isync::testing::eventually;
using isync::testing::exchange;
using isync::testing::read_reply;
using isync::testing::RedisServer;
using isync::testing::Reply;

namespace {

constexpr const char* kToken = "acme-secret-token";
constexpr const char* kReadToken = "acme-read-token";
constexpr const char* kAdminToken = "admin-secret-token";
constexpr const char* kForm = "application/x-www-form-urlencoded";

std::string request(const std::string& method, const std::string& target,
                    const std::string& content_type, const std::string& body,
                    const std::string& token = kToken) {
  std::string out = method + " " + target + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n";
  if (!token.empty()) out += "Authorization: Bearer " + token + "\r\n";
  if (!content_type.empty()) out += "Content-Type: " + content_type + "\r\n";
  if (!body.empty() || method == "POST") {
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return out + "\r\n" + body;
}

std::string event_body(int recordno, const std::string& when = "01/02/2024 10:20:30") {
  return "object=CUSTOMER&action=set&recordno=" + std::to_string(recordno) +
         "&whenmodified=" + when + "&NAME=Acme+Ltd";
}

std::string error_json(const std::string& code, const std::string& message) {
  return R"({"error":{"code":")" + code + R"(","message":")" + message + R"("}})";
}

// A server on loopback ports with its own io_context thread and one producer
// (a second one on `second` when given).
struct Harness {
  explicit Harness(RedisServer& redis, isync::ingest::Options options = {},
                   std::optional<isync::redis::Endpoint> second = {})
      : redis_(redis) {
    conn = isync::redis::Connection::create(loop.executor(), redis.endpoint(), {});
    conn->start();
    producer = std::make_shared<isync::queue::Producer>(conn, metrics);
    std::vector<std::shared_ptr<isync::queue::Producer>> producers{producer};
    if (second) {
      conn2 = isync::redis::Connection::create(loop.executor(), *second, {});
      conn2->start();
      producers.push_back(std::make_shared<isync::queue::Producer>(conn2, metrics));
    }
    mirror = std::make_shared<isync::handlers::MirrorReader>(conn);
    options.public_port = 0;
    options.admin_port = 0;
    options.tenants = {{"acme", kToken, kReadToken, {}, {}}, {"other", "other-token", "", {}, {}}};
    options.admin_token = kAdminToken;
    server = std::make_unique<isync::ingest::Server>(loop.executor(), options, producers, mirror,
                                                     metrics, clock, log);
    auto started = server->start();
    REQUIRE(started.has_value());
    REQUIRE(eventually([this] { return conn->connected(); }));
  }

  ~Harness() {
    if (!stopped) {
      std::promise<void> done;
      server->stop([&] { done.set_value(); });
      done.get_future().wait_for(std::chrono::seconds(30));
    }
    close_and_wait(*conn);
    if (conn2) close_and_wait(*conn2);
    loop.stop();
  }

  std::uint16_t port() const { return server->public_port(); }
  std::uint16_t admin() const { return server->admin_port(); }

  long long stream_length() {
    return redis_.cmd({"XLEN", isync::queue::key("acme", "events")}).integer;
  }

  RedisServer& redis_;
  isync::testing::Loop loop{1};
  isync::Metrics metrics;
  isync::SystemClock clock;
  isync::Log log{isync::Level::error, [](std::string_view) {}};
  std::shared_ptr<isync::redis::Connection> conn, conn2;
  std::shared_ptr<isync::queue::Producer> producer;
  std::shared_ptr<isync::handlers::MirrorReader> mirror;
  std::unique_ptr<isync::ingest::Server> server;
  bool stopped = false;
};

// Sends `bytes`, checks status, body and that Redis holds the same keys as before.
Reply expect_rejected(RedisServer& redis, std::uint16_t port, const std::string& bytes,
                      unsigned status, const std::string& code, const std::string& message) {
  auto before = redis.keys();
  auto r = exchange(port, bytes);
  CHECK(r.status == status);
  CHECK(r.body == error_json(code, message));
  CHECK(r.headers["content-type"] == "application/json");
  CHECK(redis.keys() == before);
  return r;
}

}  // namespace

TEST_CASE(
    "every rejection of the check-order table answers its status, code and message and "
    "leaves Redis unchanged") {
  RedisServer redis;
  isync::ingest::Options options;
  options.body_limit = 64 * 1024;
  Harness h(redis, options);
  const std::string events = "/v1/intacct/acme/events";

  expect_rejected(redis, h.port(), request("POST", "/v1/nope", kForm, event_body(1)), 404,
                  "not_found", "no route for /v1/nope");
  auto r405 = expect_rejected(redis, h.port(), request("GET", events, "", ""), 405,
                              "method_not_allowed", "method GET is not allowed here; use POST");
  CHECK(r405.headers["allow"] == "POST");

  const std::string unauthorized =
      "the tenant is unknown or the token is missing or wrong; send Authorization: Bearer "
      "<token> or ?token=<token>";
  auto unknown = expect_rejected(redis, h.port(),
                                 request("POST", "/v1/intacct/nobody/events", kForm, event_body(1)),
                                 401, "unauthorized", unauthorized);
  auto bad =
      expect_rejected(redis, h.port(), request("POST", events, kForm, event_body(1), "wrong-token"),
                      401, "unauthorized", unauthorized);
  CHECK(unknown.head == bad.head);
  CHECK(unknown.body == bad.body);
  expect_rejected(redis, h.port(), request("POST", events, kForm, event_body(1), ""), 401,
                  "unauthorized", unauthorized);
  expect_rejected(redis, h.port(),
                  request("POST", events + "?token=wrong", kForm, event_body(1), ""), 401,
                  "unauthorized", unauthorized);
  // Another tenant's token does not open this tenant.
  expect_rejected(redis, h.port(), request("POST", events, kForm, event_body(1), "other-token"),
                  401, "unauthorized", unauthorized);

  expect_rejected(redis, h.port(), request("POST", events, "text/plain", event_body(1)), 415,
                  "unsupported_media_type",
                  "Content-Type \\\"text/plain\\\" is not accepted; send "
                  "application/x-www-form-urlencoded, application/json or application/xml");

  // Over the cap by Content-Length: answered from the header, body never sent.
  std::string big_header = "POST " + events + " HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
                           kToken + "\r\nContent-Type: " + kForm +
                           "\r\nContent-Length: 2000000\r\n\r\n";
  expect_rejected(redis, h.port(), big_header, 413, "payload_too_large",
                  "the body is larger than 65536 bytes (Content-Length 2000000)");
  // Over the cap in a chunked body: found while reading it.
  std::string chunked = "POST " + events + " HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
                        kToken + "\r\nContent-Type: " + kForm +
                        "\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string chunk(16 * 1024, 'a');
  for (int i = 0; i < 6; ++i) chunked += "4000\r\n" + chunk + "\r\n";
  chunked += "0\r\n\r\n";
  expect_rejected(redis, h.port(), chunked, 413, "payload_too_large",
                  "the body is larger than 65536 bytes");

  expect_rejected(redis, h.port(), request("POST", events, kForm, "object=CUSTOMER&action"), 400,
                  "malformed_body", "pair \\\"action\\\" has no '='");
  expect_rejected(
      redis, h.port(), request("POST", events, "application/json", R"({"object":"CUSTOMER"} x)"),
      400, "malformed_body", "the JSON body has trailing bytes after the value, at offset 22");
  expect_rejected(redis, h.port(),
                  request("POST", events, "application/xml", "<!DOCTYPE event><event/>"), 400,
                  "malformed_body", "the XML body has a DOCTYPE; DTDs are not accepted");
  expect_rejected(redis, h.port(),
                  request("POST", events, "application/json",
                          R"({"object":"CUSTOMER","action":"set","whenmodified":"01/02/2024"})"),
                  400, "invalid_field", "field \\\"recordno\\\" is required");
  expect_rejected(redis, h.port(), request("POST", events, kForm, event_body(1, "someday")), 400,
                  "invalid_field",
                  "field \\\"whenmodified\\\" \\\"someday\\\" is not a date: expected MM/DD/YYYY "
                  "HH:MM:SS, MM/DD/YYYY or ISO-8601");
  expect_rejected(
      redis, h.port(),
      request("POST", events, kForm, "object=VENDOR&action=set&recordno=1&whenmodified=01/02/2024"),
      400, "invalid_field",
      "field \\\"object\\\" must be CUSTOMER, ARINVOICE or ARPYMT, not \\\"VENDOR\\\"");
}

TEST_CASE(
    "a valid event is 202 and queued; a redelivery is queued once and answers the "
    "original id") {
  RedisServer redis;
  Harness h(redis);
  auto first = exchange(h.port(), request("POST", "/v1/intacct/acme/events", kForm, event_body(7)));
  REQUIRE(first.status == 202);
  REQUIRE(first.body.size() > 40);
  CHECK(first.body.find(R"("duplicate":false)") != std::string::npos);
  std::string id = first.body.substr(first.body.find(R"("event_id":")") + 12, 26);
  CHECK(h.stream_length() == 1);

  auto again = exchange(h.port(), request("POST", "/v1/intacct/acme/events", kForm, event_body(7)));
  CHECK(again.status == 202);
  CHECK(again.body == R"({"event_id":")" + id + R"(","duplicate":true})");
  CHECK(h.stream_length() == 1);

  // The token may come in the query string (Intacct cannot always set headers).
  auto by_query =
      exchange(h.port(), request("POST", std::string("/v1/intacct/acme/events?token=") + kToken,
                                 "application/json",
                                 R"({"object":"ARPYMT","action":"add","recordno":"9",)"
                                 R"("whenmodified":"2024-01-02T10:20:30Z"})",
                                 ""));
  CHECK(by_query.status == 202);
  CHECK(h.stream_length() == 2);
  auto entries = redis.cmd({"XRANGE", isync::queue::key("acme", "events"), "-", "+"});
  REQUIRE(entries.elements.size() == 2);
  std::string all;
  for (const auto& e : entries.elements) {
    for (const auto& f : e.elements[1].elements) all += f.str;
  }
  CHECK(all.find(id) != std::string::npos);
}

TEST_CASE("ingest answers 503 with Retry-After while Redis is down and leaves nothing behind") {
  RedisServer redis;
  Harness h(redis);
  auto before = redis.keys();
  redis.stop();
  auto r = exchange(h.port(), request("POST", "/v1/intacct/acme/events", kForm, event_body(3)));
  CHECK(r.status == 503);
  CHECK(r.headers["retry-after"] == "1");
  CHECK(r.body == error_json("unavailable",
                             "the event queue is unavailable; the event was not accepted, retry "
                             "later"));
  redis.start();
  CHECK(redis.keys() == before);
}

TEST_CASE("/healthz is ok; /readyz is 503 while Redis is stopped and 200 again after start") {
  RedisServer redis;
  Harness h(redis);
  auto health = exchange(h.port(), request("GET", "/healthz", "", "", ""));
  CHECK(health.status == 200);
  CHECK(health.body == R"({"status":"ok"})");
  auto ready = [&] { return exchange(h.port(), request("GET", "/readyz", "", "", "")); };
  CHECK(eventually([&] { return ready().status == 200; }));
  redis.stop();
  Reply down;
  CHECK(eventually([&] {
    down = ready();
    return down.status == 503;
  }));
  CHECK(down.headers["retry-after"] == "1");
  CHECK(down.body.rfind(R"({"status":"unavailable","reason":)", 0) == 0);
  redis.start();
  CHECK(eventually([&] { return ready().status == 200; }));
}

TEST_CASE("/readyz is 503 while any one of the accept connections cannot write") {
  RedisServer redis;
  // The second producer's Redis is a port nobody listens on.
  isync::redis::Endpoint nowhere;
  nowhere.port = isync::testing::free_port();
  Harness h(redis, {}, nowhere);
  // Requests go to the producers in turn: every probe must name the one
  // that is down, however many are asked.
  for (int i = 0; i < 6; ++i) {
    auto r = exchange(h.port(), request("GET", "/readyz", "", "", ""));
    CHECK(r.status == 503);
    CHECK(r.body.rfind(R"({"status":"unavailable","reason":)", 0) == 0);
  }
}

TEST_CASE("a client that sends half a header and stalls is disconnected after read_timeout") {
  RedisServer redis;
  isync::ingest::Options options;
  options.read_timeout = std::chrono::seconds(1);
  Harness h(redis, options);
  auto s = isync::testing::connect_loopback(h.port());
  asio::write(s, asio::buffer(std::string("POST /v1/intacct/acme/events HTTP/1.1\r\nHost: x\r\n")));
  auto t0 = std::chrono::steady_clock::now();
  char byte = 0;
  beast::error_code ec;
  auto n = s.read_some(asio::buffer(&byte, 1), ec);
  auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(n == 0);
  CHECK(ec == asio::error::eof);
  CHECK(waited >= std::chrono::milliseconds(500));
  CHECK(waited < std::chrono::seconds(10));
}

TEST_CASE("connections beyond max_connections are closed at once") {
  RedisServer redis;
  isync::ingest::Options options;
  options.max_connections = 2;
  Harness h(redis, options);
  auto a = isync::testing::connect_loopback(h.port());
  auto b = isync::testing::connect_loopback(h.port());
  // Both are admitted once they answer.
  for (auto* s : {&a, &b}) {
    asio::write(*s, asio::buffer(std::string("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")));
    CHECK(read_reply(*s).status == 200);
  }
  auto c = isync::testing::connect_loopback(h.port());
  char byte = 0;
  beast::error_code ec;
  c.read_some(asio::buffer(&byte, 1), ec);
  CHECK(ec == asio::error::eof);
  a.close();
  CHECK(eventually([&] {
    try {
      return exchange(h.port(), request("GET", "/healthz", "", "", "")).status == 200;
    } catch (const std::exception&) {
      return false;
    }
  }));
}

TEST_CASE("keep-alive serves several requests on one connection and honours Expect: 100-continue") {
  RedisServer redis;
  Harness h(redis);
  auto s = isync::testing::connect_loopback(h.port());
  for (int i = 1; i <= 3; ++i) {
    std::string body = event_body(100 + i);
    std::string req = "POST /v1/intacct/acme/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
                      std::string(kToken) + "\r\nContent-Type: " + kForm +
                      "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    asio::write(s, asio::buffer(req));
    auto r = read_reply(s);
    CHECK(r.status == 202);
  }
  std::string body = event_body(200);
  std::string head = "POST /v1/intacct/acme/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
                     std::string(kToken) + "\r\nContent-Type: " + kForm +
                     "\r\nExpect: 100-continue\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\n\r\n";
  asio::write(s, asio::buffer(head));
  std::string interim(25, '\0');
  asio::read(s, asio::buffer(interim));
  CHECK(interim == "HTTP/1.1 100 Continue\r\n\r\n");
  asio::write(s, asio::buffer(body));
  CHECK(read_reply(s).status == 202);
  CHECK(h.stream_length() == 4);
}

TEST_CASE("/metrics needs the admin token and counts requests by route template and status") {
  RedisServer redis;
  Harness h(redis);
  exchange(h.port(), request("POST", "/v1/intacct/acme/events", kForm, event_body(1)));
  exchange(h.port(), request("POST", "/v1/intacct/acme/events", kForm, event_body(1), "x"));
  auto denied = exchange(h.admin(), request("GET", "/metrics", "", "", ""));
  CHECK(denied.status == 401);
  auto read_token = exchange(h.admin(), request("GET", "/metrics", "", "", kReadToken));
  CHECK(read_token.status == 401);
  auto m = exchange(h.admin(), request("GET", "/metrics", "", "", kAdminToken));
  CHECK(m.status == 200);
  CHECK(m.headers["content-type"] == "text/plain; version=0.0.4");
  CHECK(
      m.body.find(
          R"(isync_http_requests_total{listener="public",route="/v1/intacct/{tenant}/events",status="202"} 1)") !=
      std::string::npos);
  CHECK(
      m.body.find(
          R"(isync_http_requests_total{listener="public",route="/v1/intacct/{tenant}/events",status="401"} 1)") !=
      std::string::npos);
  CHECK(m.body.find("isync_http_request_seconds_bucket") != std::string::npos);
  // The public listener has no /metrics.
  CHECK(exchange(h.port(), request("GET", "/metrics", "", "", kAdminToken)).status == 404);
}

TEST_CASE("mirror reads take the admin token or the tenant's read token; unknown records are 404") {
  RedisServer redis;
  Harness h(redis);
  auto denied = exchange(h.admin(), request("GET", "/v1/tenants/acme/customers/1", "", "", kToken));
  CHECK(denied.status == 401);
  auto other =
      exchange(h.admin(), request("GET", "/v1/tenants/other/customers/1", "", "", kReadToken));
  CHECK(other.status == 401);
  auto admin =
      exchange(h.admin(), request("GET", "/v1/tenants/acme/customers/1", "", "", kAdminToken));
  CHECK(admin.status == 404);
  CHECK(admin.body.rfind(R"({"error":{"code":"not_found",)", 0) == 0);
  auto reader =
      exchange(h.admin(), request("GET", "/v1/tenants/acme/invoices/5", "", "", kReadToken));
  CHECK(reader.status == 404);
  auto find = exchange(
      h.admin(), request("GET", "/v1/tenants/acme/customers?by=id&id=C1", "", "", kReadToken));
  CHECK(find.status == 200);
  CHECK(find.body == R"({"records":[]})");
  auto bad = exchange(h.admin(),
                      request("GET", "/v1/tenants/acme/customers?by=name", "", "", kAdminToken));
  CHECK(bad.status == 400);
  redis.stop();
  auto down =
      exchange(h.admin(), request("GET", "/v1/tenants/acme/customers/1", "", "", kAdminToken));
  CHECK(down.status == 503);
  CHECK(down.headers["retry-after"] == "1");
  redis.start();
}

TEST_CASE("stop() drains: every request answered 202 is in the stream and stop completes") {
  RedisServer redis;
  Harness h(redis);
  std::mutex mu;
  std::set<std::string> accepted;
  std::atomic<bool> go{true};
  std::atomic<int> next{1};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&] {
      while (go.load()) {
        Reply r;
        try {
          r = exchange(h.port(), request("POST", "/v1/intacct/acme/events", kForm,
                                         event_body(next.fetch_add(1))));
        } catch (const std::exception&) {
          return;  // the listener is closed
        }
        if (r.status == 202) {
          std::lock_guard lock(mu);
          accepted.insert(r.body.substr(r.body.find(R"("event_id":")") + 12, 26));
        }
      }
    });
  }
  REQUIRE(eventually([&] {
    std::lock_guard lock(mu);
    return accepted.size() >= 20;
  }));
  std::promise<void> drained;
  h.server->stop([&] { drained.set_value(); });
  CHECK(drained.get_future().wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  h.stopped = true;
  go.store(false);
  for (auto& t : clients) t.join();
  // After stop the listener no longer accepts.
  CHECK_THROWS(exchange(h.port(), request("GET", "/healthz", "", "", "")));

  auto entries = redis.cmd({"XRANGE", isync::queue::key("acme", "events"), "-", "+"});
  std::string all;
  for (const auto& e : entries.elements) {
    for (const auto& f : e.elements[1].elements) all += f.str;
  }
  std::lock_guard lock(mu);
  for (const auto& id : accepted) CHECK(all.find(id) != std::string::npos);
  CHECK(static_cast<std::size_t>(h.stream_length()) >= accepted.size());
}

TEST_CASE("the benchmark no-op route runs the same checks, answers 202 and writes nothing") {
  RedisServer redis;
  {
    Harness off(redis);
    CHECK(exchange(off.port(), request("POST", "/v1/noop/acme/events", kForm, event_body(1)))
              .status == 404);
  }
  isync::ingest::Options options;
  options.noop_route = true;
  Harness h(redis, options);
  auto before = redis.keys();
  auto ok = exchange(h.port(), request("POST", "/v1/noop/acme/events", kForm, event_body(1)));
  CHECK(ok.status == 202);
  CHECK(ok.body.find(R"("duplicate":false)") != std::string::npos);
  CHECK(exchange(h.port(), request("POST", "/v1/noop/acme/events", kForm, event_body(1), "bad"))
            .status == 401);
  CHECK(exchange(h.port(), request("POST", "/v1/noop/acme/events", kForm, "junk")).status == 400);
  CHECK(redis.keys() == before);
}
