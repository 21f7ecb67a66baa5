// Test support: an io_context run by two threads (so handlers really race),
// joined on destruction. Objects built on it must be destroyed first.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <thread>
#include <vector>

namespace isync::testing {

struct Loop {
  boost::asio::io_context ioc;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{
      ioc.get_executor()};
  std::vector<std::thread> threads;
  Loop() {
    for (int i = 0; i < 2; ++i) threads.emplace_back([this] { ioc.run(); });
  }
  ~Loop() {
    guard.reset();
    ioc.stop();
    for (auto& t : threads) t.join();
  }
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;
};

}  // namespace isync::testing
