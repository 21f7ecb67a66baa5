// Test support: a real redis-server on a free loopback port, configured as
// production requires (AOF, appendfsync always, noeviction), with its data in
// a fresh temporary directory. stop() and start() keep the port, so tests can
// take Redis away and bring it back.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "redis/redis.hpp"

namespace isync::testing {

class RedisServer {
 public:
  // Extra `redis-server` arguments (e.g. {"--maxmemory", "1mb"}) may be given.
  explicit RedisServer(std::vector<std::string> extra_args = {});
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Starts redis-server and waits (up to `deadline`) until PING answers.
  void start(std::chrono::milliseconds deadline = std::chrono::seconds(10));
  void stop();  // SIGTERM, waits for exit
  void kill();  // SIGKILL

  std::uint16_t port() const { return port_; }
  redis::Endpoint endpoint() const;
  std::string url() const;

  // Blocking command for assertions; throws on transport failure.
  redis::Reply cmd(const std::vector<std::string>& argv);
  // Every key (SCAN), sorted — to assert that a request left Redis unchanged.
  std::vector<std::string> keys();

 private:
  std::vector<std::string> extra_;
  std::string dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

// Closes `conn` and waits (up to 10 s) until its pending commands have been
// failed. Fixtures do this before stopping their io loop: a command still
// held by hiredis keeps its callback, and so whatever the callback holds
// (often the owner of the connection), alive for good. False if it did not
// close in time (its loop is not running).
bool close_and_wait(redis::Connection& conn);

// A free TCP port on 127.0.0.1 (bound then released), below the range the
// kernel uses for outgoing connections, so none of those can take it.
std::uint16_t free_port();

// Polls `pred` every 20 ms until it is true or `deadline` passes.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds deadline = std::chrono::seconds(10));

}  // namespace isync::testing

#include <thread>

template <class Pred>
bool isync::testing::eventually(Pred pred, std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}
