// HttpTransport against a small in-test HTTP server on 127.0.0.1: URLs, round
// trips, the request's headers, keep-alive and the connection pool.
#include <doctest/doctest.h>

#include <future>
#include <string>
#include <thread>

#include "intacct/detail/transport_call.hpp"
#include "tests/intacct/transport_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using namespace isync;
using namespace isync::intacct;
using isync::testing::eventually;
using namespace isync::intacct::test::transport;

}  // namespace

// ---- URLs ----------------------------------------------------------------------------

TEST_CASE("URLs split into host, port, target, Host header and pool key") {
  auto u = detail::parse_transport_url("https://api.intacct.com/ia/xml/xmlgw.phtml");
  REQUIRE(u.has_value());
  CHECK(u->tls);
  CHECK(u->host == "api.intacct.com");
  CHECK(u->port == 443);
  CHECK(u->target == "/ia/xml/xmlgw.phtml");
  CHECK(u->host_header == "api.intacct.com");
  CHECK(u->pool_key == "https://api.intacct.com:443");
  CHECK_FALSE(u->ip_literal);

  auto v6 = detail::parse_transport_url("HTTP://[::1]:8080");
  REQUIRE(v6.has_value());
  CHECK_FALSE(v6->tls);
  CHECK(v6->host == "::1");
  CHECK(v6->port == 8080);
  CHECK(v6->target == "/");
  CHECK(v6->host_header == "[::1]:8080");
  CHECK(v6->ip_literal);

  auto v4 = detail::parse_transport_url("http://127.0.0.1:81/x?y=1");
  REQUIRE(v4.has_value());
  CHECK(v4->ip_literal);
  CHECK(v4->target == "/x?y=1");
}

TEST_CASE("malformed URLs are refused with the reason") {
  for (const char* bad : {"api.intacct.com/x", "ftp://h/x", "https://user:pw@h/x", "https://h:0/",
                          "https://h:70000/", "https://h:/", "https://[::1/", "https://[zz]/",
                          "https:///x", "https://h/x#frag", "https://h/a b"}) {
    CAPTURE(bad);
    auto u = detail::parse_transport_url(bad);
    CHECK_FALSE(u.has_value());
  }
  auto u = detail::parse_transport_url("https://user:pw@h/x");
  REQUIRE_FALSE(u.has_value());
  CHECK(u.error().message.find("user info") != std::string::npos);
  CHECK(u.error().message.find("pw") == std::string::npos);
}

TEST_CASE("loopback hosts are localhost, 127.0.0.0/8 and ::1") {
  CHECK(detail::is_loopback_host("localhost"));
  CHECK(detail::is_loopback_host("LocalHost"));
  CHECK(detail::is_loopback_host("127.0.0.1"));
  CHECK(detail::is_loopback_host("127.1.2.3"));
  CHECK(detail::is_loopback_host("::1"));
  CHECK_FALSE(detail::is_loopback_host("192.0.2.1"));
  CHECK_FALSE(detail::is_loopback_host("localhost.example.com"));
  CHECK_FALSE(detail::is_loopback_host("::ffff:192.0.2.1"));
}

// ---- Plain HTTP ----------------------------------------------------------------------

// `done` runs on a loop thread; this thread is not one, so running there
// would mean it ran inline from post().
bool completes_on_loop_thread(HttpTransport& t, const std::string& url) {
  std::promise<bool> promise;
  auto caller = std::this_thread::get_id();
  t.post(url, "<x/>", 0ms,
         [&](TransportResult) { promise.set_value(std::this_thread::get_id() != caller); });
  auto future = promise.get_future();
  REQUIRE(future.wait_for(kWait) == std::future_status::ready);
  return future.get();
}

TEST_CASE("a POST round trip returns status, content type and body") {
  Fixture f;
  TestServer server;
  auto t = f.make();
  auto r = call(*t, server.url("/echo"), "<request>hello</request>");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->content_type == "application/xml");
  CHECK(r->body == "<request>hello</request>");
  t->shutdown();
}

TEST_CASE("the request carries Content-Type, Accept, User-Agent and Host, and no Accept-Encoding") {
  Fixture f;
  TestServer server;
  TransportOptions o = Fixture::plain_options();
  o.user_agent = "isync-test/1";
  auto t = f.make(o);
  auto r = call(*t, server.url("/headers"));
  REQUIRE(r);
  CHECK(r->body == "ct=application/xml;accept=application/xml;ua=isync-test/1;host=127.0.0.1:" +
                       std::to_string(server.port()) + ";ae=;method=POST");
  t->shutdown();
}

TEST_CASE("done is never called inline from post(), not even for a refused URL") {
  Fixture f;
  TestServer server;
  auto t = f.make();
  CHECK(completes_on_loop_thread(*t, server.url("/echo")));
  CHECK(completes_on_loop_thread(*t, "http://192.0.2.1/x"));
  CHECK(completes_on_loop_thread(*t, "bad"));
  t->shutdown();
  CHECK(completes_on_loop_thread(*t, server.url("/echo")));
}

TEST_CASE("a non-2xx reply is a reply, not an error") {
  Fixture f;
  TestServer server;
  auto t = f.make();
  auto r = call(*t, server.url("/status/503"));
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->body == "<status>503</status>");
  t->shutdown();
}

TEST_CASE("keep-alive: ten sequential posts use one connection") {
  Fixture f;
  TestServer server;
  auto t = f.make();
  for (int i = 0; i < 10; ++i) {
    auto r = call(*t, server.url("/echo"), "<n>" + std::to_string(i) + "</n>");
    REQUIRE(r);
    CHECK(r->body == "<n>" + std::to_string(i) + "</n>");
  }
  CHECK(t->connections_opened() == 1);
  CHECK(t->idle_connections() == 1);
  CHECK(server.accepted() == 1);
  t->shutdown();
  CHECK(t->idle_connections() == 0);
}

TEST_CASE("a reply with Connection: close is not pooled") {
  Fixture f;
  TestServer server;
  auto t = f.make();
  REQUIRE(call(*t, server.url("/close")));
  CHECK(t->idle_connections() == 0);
  REQUIRE(call(*t, server.url("/echo")));
  CHECK(t->connections_opened() == 2);
  t->shutdown();
}

TEST_CASE("a pooled connection the server closed while idle is replaced transparently") {
  for (bool reset : {false, true}) {
    CAPTURE(reset);
    Fixture f;
    TestServer server;
    auto t = f.make();
    REQUIRE(call(*t, server.url("/echo")));
    REQUIRE(t->idle_connections() == 1);
    // The server may still be finishing its write of the reply.
    REQUIRE(eventually([&] { return server.waiting() == 1; }));
    server.close_idle(reset);
    // Let the FIN/RST reach the client's socket (loopback: effectively at once).
    std::this_thread::sleep_for(100ms);
    auto r = call(*t, server.url("/echo"), "<again/>");
    REQUIRE(r);
    CHECK(r->body == "<again/>");
    CHECK(t->connections_opened() == 2);
    t->shutdown();
  }
}
