// Test support: an HTTP/1.1 keep-alive server on loopback that hands each
// request body to a handler (a fake gateway, or the sandbox company's
// handle_gateway) and writes its reply after the reply's delay. Counts the
// requests in flight (between reading a request and writing its reply).
#pragma once

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace isync::intacct::test {

struct GatewayReply {
  int status = 200;
  std::string content_type = "text/xml";
  std::string body;
  std::chrono::milliseconds delay{0};
};

class GatewayServer {
 public:
  using Handler = std::function<GatewayReply(const std::string& body)>;
  // Sets `url` to the gateway's URL. The handler runs on the server's own
  // threads (two), so it must be thread-safe.
  GatewayServer(Handler handler, std::string& url) : handler_(std::move(handler)), acceptor_(ioc_) {
    namespace asio = boost::asio;
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    url = "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) +
          "/ia/xml/xmlgw.phtml";
    asio::co_spawn(ioc_, accept(), asio::detached);
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }
  ~GatewayServer() {
    ioc_.stop();
    for (auto& t : threads_) t.join();
  }
  GatewayServer(const GatewayServer&) = delete;
  GatewayServer& operator=(const GatewayServer&) = delete;

  std::atomic<int> in_flight{0}, max_in_flight{0};

 private:
  boost::asio::awaitable<void> accept() {
    namespace asio = boost::asio;
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      asio::co_spawn(ioc_, serve(std::move(socket)), asio::detached);
    }
  }
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket) {
    namespace asio = boost::asio;
    namespace beast = boost::beast;
    namespace http = beast::http;
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      auto [ec, n] =
          co_await http::async_read(stream, buffer, req, asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      int now = ++in_flight;
      int seen = max_in_flight.load();
      while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {
      }
      GatewayReply r = handler_(req.body());
      if (r.delay.count() > 0) {
        asio::steady_timer timer(stream.get_executor(), r.delay);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      }
      --in_flight;
      http::response<http::string_body> res{static_cast<http::status>(r.status), req.version()};
      res.set(http::field::content_type, r.content_type);
      res.body() = r.body;
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      auto [wec, wn] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
      if (wec || !res.keep_alive()) co_return;
    }
  }

  Handler handler_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
};

}  // namespace isync::intacct::test
