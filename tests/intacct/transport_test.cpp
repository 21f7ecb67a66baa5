// HttpTransport against a small in-test HTTP/HTTPS server on 127.0.0.1.
#include "intacct/transport.hpp"

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <thread>

#include "intacct/detail/transport_call.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using namespace isync;
using namespace isync::intacct;
using isync::testing::eventually;
using isync::testing::Loop;

constexpr auto kWait = 10s;

// ---- Certificates ----------------------------------------------------------------

struct KeyPair {
  std::string cert_pem;
  std::string key_pem;
};

std::string to_pem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  auto n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

std::string to_pem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  auto n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  REQUIRE(ext != nullptr);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A test CA, and server certificates it signs.
class TestCa {
 public:
  TestCa() : key_(EVP_EC_gen("P-256")), cert_(X509_new()) {
    fill(cert_, key_, "isync test CA", nullptr, nullptr, 1);
    add_ext(cert_, cert_, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(cert_, cert_, NID_key_usage, "critical,keyCertSign,cRLSign");
    X509_sign(cert_, key_, EVP_sha256());
  }
  ~TestCa() {
    X509_free(cert_);
    EVP_PKEY_free(key_);
  }
  std::string pem() const { return to_pem(cert_); }

  // `san` e.g. "DNS:localhost,IP:127.0.0.1".
  KeyPair issue(const char* san, int serial) const {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    fill(cert, key, "isync test server", cert_, key_, serial);
    add_ext(cert, cert_, NID_subject_alt_name, san);
    add_ext(cert, cert_, NID_ext_key_usage, "serverAuth");
    X509_sign(cert, key_, EVP_sha256());
    KeyPair out{to_pem(cert), to_pem(key)};
    X509_free(cert);
    EVP_PKEY_free(key);
    return out;
  }

 private:
  static void fill(X509* cert, EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY*, int serial) {
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                               -1, -1, 0);
    X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
  }

  EVP_PKEY* key_;
  X509* cert_;
};

const TestCa& test_ca() {
  static const TestCa ca;
  return ca;
}

// The CA's certificate in a temporary file, for TransportOptions::ca_file.
class CaFile {
 public:
  CaFile() {
    path_ = std::filesystem::temp_directory_path() /
            ("isync-transport-ca-" + std::to_string(::getpid()) + ".pem");
    std::ofstream(path_) << test_ca().pem();
  }
  ~CaFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// ---- The test server ------------------------------------------------------------

// Routes, by request target:
//   /echo          200, the request body back
//   /headers       200, the request's headers of interest as text
//   /status/N      status N with a small XML body
//   /delay/MS      200 after MS milliseconds
//   /never         reads the request and never answers
//   /drop          reads the request and closes without answering
//   /close         200 with Connection: close, then closes
//   /big/N         200 with an N-byte body
class TestServer {
 public:
  explicit TestServer(ssl::context* tls = nullptr)
      : tls_(tls), acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    asio::co_spawn(ioc_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~TestServer() {
    ioc_.stop();
    thread_.join();
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string url(const std::string& path, const std::string& host = "127.0.0.1") const {
    return std::string(tls_ ? "https://" : "http://") + host + ":" + std::to_string(port()) + path;
  }
  int accepted() const { return accepted_.load(); }
  int requests() const { return requests_.load(); }
  // Connections waiting for their next request.
  int waiting() const { return waiting_.load(); }

  // Closes every connection waiting for its next request: with a FIN, or a
  // RST when `reset`. Returns once done.
  void close_idle(bool reset) {
    std::promise<void> done;
    asio::post(ioc_, [&] {
      for (auto& [id, c] : conns_) {
        if (!c.waiting) continue;
        boost::system::error_code ignored;
        if (reset) c.socket->set_option(asio::socket_base::linger(true, 0), ignored);
        c.socket->close(ignored);
      }
      done.set_value();
    });
    done.get_future().wait();
  }

 private:
  struct Conn {
    tcp::socket* socket;
    bool waiting;
  };

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      ++accepted_;
      asio::co_spawn(ioc_, session(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> session(tcp::socket socket) {
    if (!tls_) {
      beast::tcp_stream stream(std::move(socket));
      co_await serve(stream, stream.socket());
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls_);
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::server,
                                                asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    co_await serve(stream, beast::get_lowest_layer(stream).socket());
  }

  template <class Stream>
  asio::awaitable<void> serve(Stream& stream, tcp::socket& socket) {
    auto id = next_id_++;
    conns_[id] = Conn{&socket, true};
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      conns_[id].waiting = true;
      ++waiting_;
      auto [ec, n] =
          co_await http::async_read(stream, buffer, req, asio::as_tuple(asio::use_awaitable));
      conns_[id].waiting = false;
      --waiting_;
      if (ec) break;
      ++requests_;
      std::string target(req.target());
      http::response<http::string_body> res{http::status::ok, 11};
      res.set(http::field::content_type, "application/xml");
      res.keep_alive(req.keep_alive());
      if (target == "/echo") {
        res.body() = req.body();
      } else if (target == "/headers") {
        res.body() = "ct=" + std::string(req[http::field::content_type]) +
                     ";accept=" + std::string(req[http::field::accept]) +
                     ";ua=" + std::string(req[http::field::user_agent]) +
                     ";host=" + std::string(req[http::field::host]) +
                     ";ae=" + std::string(req[http::field::accept_encoding]) +
                     ";method=" + std::string(req.method_string());
      } else if (target.rfind("/status/", 0) == 0) {
        res.result(static_cast<unsigned>(std::stoi(target.substr(8))));
        res.body() = "<status>" + target.substr(8) + "</status>";
      } else if (target.rfind("/delay/", 0) == 0 || target == "/never") {
        auto ms = target == "/never" ? 600'000 : std::stoi(target.substr(7));
        asio::steady_timer timer(ioc_, std::chrono::milliseconds(ms));
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      } else if (target == "/drop") {
        break;
      } else if (target == "/close") {
        res.keep_alive(false);
      } else if (target.rfind("/big/", 0) == 0) {
        res.body() = std::string(std::stoul(target.substr(5)), 'x');
      } else {
        res.result(http::status::not_found);
      }
      res.prepare_payload();
      auto [wec, wn] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
      if (wec || !res.keep_alive()) break;
    }
    conns_.erase(id);
    boost::system::error_code ignored;
    socket.close(ignored);
  }

  ssl::context* tls_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<int> accepted_{0};
  std::atomic<int> requests_{0};
  std::atomic<int> waiting_{0};
  int next_id_ = 0;
  std::map<int, Conn> conns_;  // io thread only
};

ssl::context server_tls(const KeyPair& pair) {
  ssl::context ctx(ssl::context::tls_server);
  ctx.use_certificate_chain(asio::buffer(pair.cert_pem));
  ctx.use_private_key(asio::buffer(pair.key_pem), ssl::context::pem);
  return ctx;
}

// ---- Client helpers ---------------------------------------------------------------

struct Fixture {
  explicit Fixture(Level level = Level::debug)
      : log(level, [this](std::string_view line) {
          std::lock_guard lock(lines_mu);
          lines.emplace_back(line);
        }) {}

  Loop loop;
  std::vector<std::string> lines;
  std::mutex lines_mu;
  Log log;

  std::shared_ptr<HttpTransport> make(TransportOptions options = plain_options()) {
    return HttpTransport::create(loop.ioc.get_executor(), std::move(options), log);
  }
  static TransportOptions plain_options() {
    TransportOptions o;
    o.allow_plain_http = true;
    return o;
  }
  bool logged(const std::string& needle) {
    std::lock_guard lock(lines_mu);
    for (const auto& l : lines) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }
};

TransportResult call(HttpTransport& t, const std::string& url, std::string body = "<x/>",
                     std::chrono::milliseconds timeout = 0ms) {
  auto promise = std::make_shared<std::promise<TransportResult>>();
  auto future = promise->get_future();
  t.post(url, std::move(body), timeout, [promise](TransportResult r) { promise->set_value(r); });
  REQUIRE(future.wait_for(kWait) == std::future_status::ready);
  return future.get();
}

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
