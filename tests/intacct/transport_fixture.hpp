// The transport tests' test CA, HTTP/HTTPS test server on 127.0.0.1, and client Fixture.
#pragma once

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

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

#include "intacct/transport.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

namespace isync::intacct::test::transport {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using namespace isync;
using namespace isync::intacct;
using isync::testing::Loop;

inline constexpr auto kWait = 10s;

// ---- Certificates ----------------------------------------------------------------

struct KeyPair {
  std::string cert_pem;
  std::string key_pem;
};

inline std::string to_pem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  auto n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

inline std::string to_pem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  auto n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

inline void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
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

inline const TestCa& test_ca() {
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

inline ssl::context server_tls(const KeyPair& pair) {
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

inline TransportResult call(HttpTransport& t, const std::string& url, std::string body = "<x/>",
                            std::chrono::milliseconds timeout = 0ms) {
  auto promise = std::make_shared<std::promise<TransportResult>>();
  auto future = promise->get_future();
  t.post(url, std::move(body), timeout, [promise](TransportResult r) { promise->set_value(r); });
  REQUIRE(future.wait_for(kWait) == std::future_status::ready);
  return future.get();
}

}  // namespace isync::intacct::test::transport
