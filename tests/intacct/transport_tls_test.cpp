// HttpTransport over TLS against a small in-test HTTPS server on 127.0.0.1,
// with certificates from a test CA; and a loopback benchmark (skipped by
// default).
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "tests/intacct/transport_fixture.hpp"

namespace {

using namespace isync;
using namespace isync::intacct;
using namespace isync::intacct::test::transport;

}  // namespace

// ---- TLS ----------------------------------------------------------------------------

TEST_CASE("TLS with the test CA in ca_file works, by IP and by name, and keeps connections alive") {
  Fixture f;
  CaFile ca;
  auto ctx = server_tls(test_ca().issue("DNS:localhost,IP:127.0.0.1", 2));
  TestServer server(&ctx);
  TransportOptions o;
  o.ca_file = ca.path();
  auto t = f.make(o);
  for (int i = 0; i < 3; ++i) {
    auto r = call(*t, server.url("/echo"), "<tls/>");
    REQUIRE(r);
    CHECK(r->body == "<tls/>");
  }
  CHECK(t->connections_opened() == 1);
  auto r = call(*t, server.url("/echo", "localhost"), "<name/>");
  REQUIRE(r);
  CHECK(r->body == "<name/>");
  CHECK(t->connections_opened() == 2);  // another pool key
  t->shutdown();
}

TEST_CASE("TLS against a certificate not trusted fails verification") {
  Fixture f;
  auto ctx = server_tls(test_ca().issue("DNS:localhost,IP:127.0.0.1", 3));
  TestServer server(&ctx);
  auto t = f.make(TransportOptions{});  // the system's trust store: no test CA in it
  auto r = call(*t, server.url("/echo"));
  REQUIRE_FALSE(r);
  CHECK(r.error().failure == TransportFailure::connect_failed);
  CHECK_FALSE(r.error().sent);
  CHECK(r.error().message.find("certificate verification failed") != std::string::npos);
  t->shutdown();
}

TEST_CASE("TLS with a certificate for another host name fails") {
  Fixture f;
  CaFile ca;
  auto ctx = server_tls(test_ca().issue("DNS:other.invalid", 4));
  TestServer server(&ctx);
  TransportOptions o;
  o.ca_file = ca.path();
  auto t = f.make(o);
  for (const char* host : {"127.0.0.1", "localhost"}) {
    CAPTURE(host);
    auto r = call(*t, server.url("/echo", host));
    REQUIRE_FALSE(r);
    CHECK(r.error().failure == TransportFailure::connect_failed);
    CHECK(r.error().message.find("certificate verification failed") != std::string::npos);
  }
  CHECK(server.requests() == 0);
  t->shutdown();
}

TEST_CASE("an unreadable ca_file fails every https call with a message naming it") {
  Fixture f;
  TransportOptions o;
  o.ca_file = (std::filesystem::temp_directory_path() / "isync-no-such-ca.pem").string();
  auto t = f.make(o);
  auto r = call(*t, "https://127.0.0.1:1/x");
  REQUIRE_FALSE(r);
  CHECK(r.error().failure == TransportFailure::connect_failed);
  CHECK(r.error().message.find("ca_file") != std::string::npos);
}

// ---- Benchmark (skipped by default; run with --no-skip) -----------------------------

namespace {

double round_trips_per_second(HttpTransport& t, const std::string& url, int n) {
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) REQUIRE(call(t, url, "<read><object>CUSTOMER</object></read>"));
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  return n / took.count();
}

}  // namespace

TEST_CASE("benchmark: sequential keep-alive round trips on loopback" * doctest::skip()) {
  Fixture f(Level::info);
  constexpr int kRounds = 5000;
  {
    TestServer server;
    auto t = f.make();
    call(*t, server.url("/echo"));
    MESSAGE("plain HTTP: " << round_trips_per_second(*t, server.url("/echo"), kRounds) << " /s");
    CHECK(t->connections_opened() == 1);
    t->shutdown();
  }
  {
    CaFile ca;
    auto ctx = server_tls(test_ca().issue("DNS:localhost,IP:127.0.0.1", 9));
    TestServer server(&ctx);
    TransportOptions o;
    o.ca_file = ca.path();
    auto t = f.make(o);
    call(*t, server.url("/echo"));
    MESSAGE("TLS: " << round_trips_per_second(*t, server.url("/echo"), kRounds) << " /s");
    CHECK(t->connections_opened() == 1);
    t->shutdown();
  }
}
