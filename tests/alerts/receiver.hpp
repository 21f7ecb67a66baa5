// Test support: a webhook receiver on loopback — an HTTP/1.1 keep-alive
// server that keeps every POST body it gets and answers `status` after
// `delay_ms`. stop() and start() keep the port, so a test can take the
// receiver away (connections refused) and bring it back.
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
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace isync::testing {

class Receiver {
 public:
  // port 0 = any free port (then kept across stop/start).
  explicit Receiver(std::uint16_t port = 0, bool listening = true) : port_(port) {
    if (listening) start();
  }
  ~Receiver() { stop(); }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  void start() {
    namespace asio = boost::asio;
    std::lock_guard lock(mu_);
    if (ioc_) return;
    ioc_ = std::make_unique<asio::io_context>();
    acceptor_ = std::make_unique<asio::ip::tcp::acceptor>(*ioc_);
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port_);
    acceptor_->open(ep.protocol());
    acceptor_->set_option(asio::socket_base::reuse_address(true));
    acceptor_->bind(ep);
    acceptor_->listen();
    port_ = acceptor_->local_endpoint().port();
    asio::co_spawn(*ioc_, accept(), asio::detached);
    for (int i = 0; i < 2; ++i) threads_.emplace_back([io = ioc_.get()] { io->run(); });
  }

  void stop() {
    std::unique_ptr<boost::asio::io_context> io;
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      if (!ioc_) return;
      ioc_->stop();
      threads = std::move(threads_);
      threads_.clear();
    }
    for (auto& t : threads) t.join();
    std::lock_guard lock(mu_);
    acceptor_.reset();
    ioc_.reset();
  }

  std::uint16_t port() const { return port_; }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/hook/T0/XXXXtokenXXXX";
  }

  std::vector<std::string> bodies() const {
    std::lock_guard lock(mu_);
    return bodies_;
  }
  std::size_t count() const {
    std::lock_guard lock(mu_);
    return bodies_.size();
  }
  std::string content_type() const {
    std::lock_guard lock(mu_);
    return content_type_;
  }

  std::atomic<int> status{200};
  std::atomic<int> delay_ms{0};

 private:
  boost::asio::awaitable<void> accept() {
    namespace asio = boost::asio;
    for (;;) {
      auto [ec, socket] = co_await acceptor_->async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      asio::co_spawn(acceptor_->get_executor(), serve(std::move(socket)), asio::detached);
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
      if (int d = delay_ms.load(); d > 0) {
        asio::steady_timer timer(stream.get_executor(), std::chrono::milliseconds(d));
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      }
      const int st = status.load();
      if (st >= 200 && st < 300) {
        std::lock_guard lock(mu_);
        bodies_.push_back(req.body());
        content_type_ = std::string(req[http::field::content_type]);
      }
      http::response<http::string_body> res{static_cast<http::status>(st), req.version()};
      res.set(http::field::content_type, "text/plain");
      res.body() = st == 200 ? "ok" : "no";
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      auto [wec, wn] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
      if (wec || !res.keep_alive()) co_return;
    }
  }

  std::uint16_t port_;
  mutable std::mutex mu_;
  std::unique_ptr<boost::asio::io_context> ioc_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::vector<std::thread> threads_;
  std::vector<std::string> bodies_;
  std::string content_type_;
};

}  // namespace isync::testing
