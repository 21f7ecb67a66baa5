// HttpTransport against a small in-test HTTP server on 127.0.0.1: stale and
// refused connections, servers that never answer or close early, replies too
// large, idle connections, plain HTTP refused, what the log holds, concurrent
// posts, and shutdown with calls in flight.
#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "intacct/detail/transport_call.hpp"
#include "tests/intacct/transport_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using namespace isync;
using namespace isync::intacct;
namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using isync::testing::eventually;
using namespace isync::intacct::test::transport;

}  // namespace

// A connection handed to a Call as if it came from the pool, after the server
// dropped it: exercises the stale-connection rules below the pool's own
// liveness check (which would otherwise catch it first).
TransportResult post_on_stale(Fixture& f, TestServer& server, bool reset) {
  auto state = std::make_shared<detail::TransportState>(f.loop.ioc.get_executor(),
                                                        Fixture::plain_options(), f.log);
  auto strand = make_strand_executor(f.loop.ioc.get_executor());
  auto conn = std::make_shared<detail::Connection>(strand);
  conn->plain = std::make_unique<beast::tcp_stream>(strand);
  conn->tcp().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
  REQUIRE(eventually([&] { return server.waiting() == 1; }));
  server.close_idle(reset);
  std::this_thread::sleep_for(100ms);
  auto url = detail::parse_transport_url(server.url("/echo"));
  REQUIRE(url.has_value());
  conn->pool_key = url->pool_key;
  std::promise<TransportResult> promise;
  auto c = std::make_shared<detail::Call>(
      state, *url, "<stale/>", 0ms, [&](TransportResult r) { promise.set_value(r); }, strand);
  c->start(conn);
  auto future = promise.get_future();
  REQUIRE(future.wait_for(kWait) == std::future_status::ready);
  auto r = future.get();
  state->shutdown();
  return r;
}

TEST_CASE("a reused connection whose write fails is retried once on a fresh connection") {
  Fixture f;
  TestServer server;
  // A RST makes the next write fail: the request never left, so it is resent.
  auto r = post_on_stale(f, server, /*reset=*/true);
  REQUIRE(r);
  CHECK(r->body == "<stale/>");
  CHECK(server.accepted() == 2);
  CHECK(f.logged("stale connection"));
}

TEST_CASE("a reused connection closed after the write completed is reset with sent=true") {
  Fixture f;
  TestServer server;
  // A FIN lets the write succeed; EOF then comes with no reply byte. The
  // server may have seen the request: the caller decides.
  auto r = post_on_stale(f, server, /*reset=*/false);
  REQUIRE_FALSE(r);
  CHECK(r.error().failure == TransportFailure::reset);
  CHECK(r.error().sent);
  CHECK(server.accepted() == 1);
}

TEST_CASE("connection refused is connect_failed, not sent") {
  Fixture f;
  auto t = f.make();
  auto port = isync::testing::free_port();
  auto r = call(*t, "http://127.0.0.1:" + std::to_string(port) + "/x");
  REQUIRE_FALSE(r);
  CHECK(r.error().failure == TransportFailure::connect_failed);
  CHECK_FALSE(r.error().sent);
  CHECK(r.error().message.find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
  CHECK(t->connections_opened() == 0);
}

TEST_CASE("a server that never answers times out after the write, sent=true") {
  Fixture f;
  TestServer server;
  auto t = f.make();
  auto r = call(*t, server.url("/never"), "<x/>", 300ms);
  REQUIRE_FALSE(r);
  CHECK(r.error().failure == TransportFailure::timeout);
  CHECK(r.error().sent);
  CHECK(t->idle_connections() == 0);
  t->shutdown();
}

TEST_CASE("a server that closes after reading the request is reset, sent=true") {
  Fixture f;
  TestServer server;
  auto t = f.make();
  auto r = call(*t, server.url("/drop"));
  REQUIRE_FALSE(r);
  CHECK(r.error().failure == TransportFailure::reset);
  CHECK(r.error().sent);
  t->shutdown();
}

TEST_CASE("a reply larger than max_reply_bytes fails with a clear message, sent=true") {
  Fixture f;
  TestServer server;
  auto o = Fixture::plain_options();
  o.max_reply_bytes = 1000;
  auto t = f.make(o);
  REQUIRE(call(*t, server.url("/big/900")));
  auto r = call(*t, server.url("/big/5000"));
  REQUIRE_FALSE(r);
  CHECK(r.error().sent);
  CHECK(r.error().message.find("larger than 1000 bytes") != std::string::npos);
  CHECK(t->idle_connections() == 0);
  t->shutdown();
}

TEST_CASE("idle connections are closed after idle_timeout, and at most max_idle_per_host kept") {
  Fixture f;
  TestServer server;
  auto o = Fixture::plain_options();
  o.idle_timeout = 300ms;
  o.max_idle_per_host = 2;
  auto t = f.make(o);
  std::vector<std::future<TransportResult>> futures;
  std::vector<std::shared_ptr<std::promise<TransportResult>>> promises;
  for (int i = 0; i < 4; ++i) {
    auto p = std::make_shared<std::promise<TransportResult>>();
    futures.push_back(p->get_future());
    t->post(server.url("/delay/200"), "<x/>", 0ms, [p](TransportResult r) { p->set_value(r); });
  }
  for (auto& fu : futures) {
    REQUIRE(fu.wait_for(kWait) == std::future_status::ready);
    CHECK(fu.get());
  }
  CHECK(t->connections_opened() == 4);
  CHECK(t->idle_connections() <= 2);
  CHECK(eventually([&] { return t->idle_connections() == 0; }));
  // The server sees the pool's closes.
  REQUIRE(call(*t, server.url("/echo")));
  CHECK(t->connections_opened() == 5);
  t->shutdown();
}

TEST_CASE("plain http:// is refused unless allowed, and then only to loopback, with no traffic") {
  Fixture f;
  auto off = f.make(TransportOptions{});
  auto r = call(*off, "http://127.0.0.1:1/x");
  REQUIRE_FALSE(r);
  CHECK(r.error().failure == TransportFailure::connect_failed);
  CHECK_FALSE(r.error().sent);
  CHECK(r.error().message.find("allow_plain_http is off") != std::string::npos);

  auto on = f.make();
  auto r2 = call(*on, "http://192.0.2.1/x");
  REQUIRE_FALSE(r2);
  CHECK(r2.error().failure == TransportFailure::connect_failed);
  CHECK_FALSE(r2.error().sent);
  CHECK(r2.error().message.find("only to a loopback host") != std::string::npos);
  CHECK(on->connections_opened() == 0);
  CHECK(off->connections_opened() == 0);

  auto r3 = call(*on, "not a url");
  REQUIRE_FALSE(r3);
  CHECK(r3.error().failure == TransportFailure::connect_failed);
}

TEST_CASE("bodies never reach the log; host:port and status do") {
  Fixture f;
  TestServer server;
  auto t = f.make();
  REQUIRE(call(*t, server.url("/echo"), "<password>hunter2</password>"));
  REQUIRE_FALSE(call(*t, server.url("/drop"), "<password>hunter2</password>"));
  CHECK(f.logged("127.0.0.1:" + std::to_string(server.port())));
  CHECK(f.logged("\"status\":200"));
  CHECK_FALSE(f.logged("hunter2"));
  t->shutdown();
}

TEST_CASE("100 concurrent posts from 2 threads all complete") {
  Fixture f;
  TestServer server;
  auto t = f.make();
  std::atomic<int> ok{0};
  std::atomic<int> done{0};
  auto fire = [&](int base) {
    for (int i = 0; i < 50; ++i) {
      auto body = "<n>" + std::to_string(base + i) + "</n>";
      t->post(server.url("/echo"), body, 0ms, [&, body](TransportResult r) {
        if (r && r->body == body) ++ok;
        ++done;
      });
    }
  };
  std::thread a(fire, 0);
  std::thread b(fire, 50);
  a.join();
  b.join();
  REQUIRE(eventually([&] { return done.load() == 100; }));
  CHECK(ok.load() == 100);
  CHECK(t->idle_connections() <= 8);
  t->shutdown();
}

TEST_CASE("shutdown completes calls in flight with an error, and later posts fail") {
  Fixture f;
  TestServer server;
  auto t = f.make();
  std::atomic<int> done{0};
  std::atomic<int> reset_sent{0};
  for (int i = 0; i < 5; ++i) {
    t->post(server.url("/never"), "<x/>", 60s, [&](TransportResult r) {
      if (!r && r.error().failure == TransportFailure::reset && r.error().sent) ++reset_sent;
      ++done;
    });
  }
  REQUIRE(eventually([&] { return server.requests() == 5; }));
  // One more, still connecting or writing when shutdown comes.
  t->post(server.url("/never"), "<x/>", 60s, [&](TransportResult) { ++done; });
  t->shutdown();
  REQUIRE(eventually([&] { return done.load() == 6; }));
  CHECK(reset_sent.load() == 5);
  auto r = call(*t, server.url("/echo"));
  REQUIRE_FALSE(r);
  CHECK(r.error().failure == TransportFailure::connect_failed);
  CHECK(r.error().message.find("shut down") != std::string::npos);
}

TEST_CASE("dropping the transport with calls in flight is safe; each call still completes") {
  Fixture f;
  TestServer server;
  std::atomic<int> done{0};
  {
    auto t = f.make();
    for (int i = 0; i < 3; ++i) {
      t->post(server.url("/delay/100"), "<x/>", 0ms, [&](TransportResult r) {
        CHECK(r);
        ++done;
      });
    }
  }
  CHECK(eventually([&] { return done.load() == 3; }));
}
