// The HTTP front's connections: read timeout, max_connections, keep-alive
// with Expect: 100-continue, and the drain on stop().
#include <doctest/doctest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/ingest/server_harness.hpp"

using namespace isync::testing::ingest_server;

namespace asio = boost::asio;
namespace beast = boost::beast;
using isync::testing::read_reply;

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
