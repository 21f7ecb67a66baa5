// The server tests' rig: a company behind a started Server, an event sink, HTTP calls.
#pragma once

#include <doctest/doctest.h>

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
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "intacct/intacct.hpp"
#include "sandbox/sandbox.hpp"
#include "sandbox/server.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

namespace isync::sandbox::test::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace intacct = isync::intacct;
namespace sandbox = isync::sandbox;
using asio::ip::tcp;
using isync::testing::free_port;
using namespace std::chrono_literals;

inline constexpr const char* kSenderId = "sandbox-sender";
inline constexpr const char* kSenderPassword = "sender-secret-pw";
inline constexpr const char* kCompanyId = "demo-co";
inline constexpr const char* kUserId = "ws-user";
inline constexpr const char* kUserPassword = "user-secret-pw";
inline constexpr const char* kEventToken = "event-token-in-url";
inline constexpr const char* kGatewayPath = "/ia/xml/xmlgw.phtml";

struct Response {
  int status = 0;  // 0 = no answer
  std::string body;
  std::string allow;
};

// One request on a new connection, with a 10 s deadline over all of it.
inline Response call(std::uint16_t port, http::verb method, const std::string& target,
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

inline intacct::Request login_request(std::vector<intacct::Function> functions) {
  intacct::Request r;
  r.sender_id = kSenderId;
  r.sender_password = isync::Secret(kSenderPassword);
  r.control_id = "test-control";
  r.auth = intacct::Login{kUserId, kCompanyId, isync::Secret(kUserPassword), ""};
  r.functions = std::move(functions);
  return r;
}

inline Response post_gateway(std::uint16_t port, const intacct::Request& request) {
  auto xml = intacct::to_xml(request);
  REQUIRE(xml.has_value());
  return call(port, http::verb::post, kGatewayPath, *xml, "application/xml");
}

inline std::string field_of(const std::string& json, const std::string& key) {
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
inline bool looks_like_encoded_stamp(const std::string& v) {
  // 11%2F22%2F2026+13%3A00%3A00
  return v.size() == 27 && v.substr(2, 3) == "%2F" && v.substr(7, 3) == "%2F" && v[14] == '+' &&
         v.substr(17, 3) == "%3A" && v.substr(22, 3) == "%3A";
}

inline std::string form_value(const std::string& body, const std::string& name) {
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

}  // namespace isync::sandbox::test::server
