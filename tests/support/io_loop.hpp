// Test support: an io_context run by its own threads (two by default, so
// handlers really race) until stop() or destruction. The io_context itself
// lives until destruction, so objects built on it may be destroyed after
// stop(); those still holding work on it must be destroyed first.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

namespace isync::testing {

class Loop {
 public:
  explicit Loop(int threads = 2) {
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this] { ioc.run(); });
    }
  }
  ~Loop() { stop(); }
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // Lets the handlers already queued run, and those they queue in turn (a
  // few rounds), before stopping, so that work a fixture started on its way
  // out (a shutdown, a close) gets to run. Handlers queued on a busy strand
  // may still be waiting: a fixture waits for what it needs itself (see
  // close_and_wait). Waits (timers, sockets) are not awaited.
  void stop() {
    guard_.reset();
    for (int round = 0; round < 3 && !ioc.stopped(); ++round) {
      auto ran = std::make_shared<std::promise<void>>();
      auto done = ran->get_future();
      boost::asio::post(ioc, [ran] { ran->set_value(); });
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (done.wait_for(std::chrono::milliseconds(10)) != std::future_status::ready) {
        if (ioc.stopped() || std::chrono::steady_clock::now() > deadline) break;
      }
    }
    ioc.stop();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  boost::asio::any_io_executor executor() { return ioc.get_executor(); }

  boost::asio::io_context ioc;

 private:
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_{
      ioc.get_executor()};
  std::vector<std::thread> threads_;
};

}  // namespace isync::testing
