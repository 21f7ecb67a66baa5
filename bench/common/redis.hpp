// Shared by the benchmarks: a redis-server with the production's durability
// (AOF, appendfsync always, data on the disk under test), a synchronous
// client for the driver (hiredis), the figures read from INFO, and the
// disk's fsync latency.
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/common/process.hpp"

namespace isync::bench {

struct FsyncFigures {
  double p50_ms = 0, p99_ms = 0;
};

// 4 KiB write + fdatasync, 200 times, in `dir`. Throws when it cannot.
FsyncFigures measure_fsync(const std::string& dir);

// One synchronous connection (5 s timeouts). cmd() throws on a lost
// connection or an error reply.
class RedisClient {
 public:
  explicit RedisClient(std::uint16_t port);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  struct Reply {
    int type = REDIS_REPLY_NIL;
    long long integer = 0;
    std::string str;
    std::vector<Reply> elements;
  };
  Reply cmd(const std::vector<std::string>& args);
  // Sends every command, then reads every reply (one round trip); throws on
  // the first error reply.
  void pipeline(const std::vector<std::vector<std::string>>& commands);

 private:
  redisContext* ctx_ = nullptr;
};

// redis-server on a free loopback port: `dir` emptied first, AOF with
// appendfsync always, no RDB saves, noeviction. Stopped by the destructor.
class BenchRedis {
 public:
  explicit BenchRedis(const std::string& dir);
  std::uint16_t port() const { return port_; }
  pid_t pid() const { return child_->pid(); }
  RedisClient& client() { return *client_; }

  // used_cpu_user + used_cpu_sys (INFO cpu), in seconds.
  double cpu_seconds();
  // used_memory (INFO memory), in bytes.
  std::uint64_t used_memory();
  // One field of INFO <section> as text ("" when absent).
  std::string info_field(const std::string& section, const std::string& field);
  long long xlen(const std::string& stream);
  // FLUSHALL, then BGREWRITEAOF and wait for it: every measurement starts
  // from an empty data set and a compact AOF (no rewrite fork mid-run).
  void reset();
  // BGREWRITEAOF and wait (the data set kept).
  void compact();

 private:
  std::uint16_t port_;
  std::unique_ptr<Child> child_;
  std::unique_ptr<RedisClient> client_;
};

}  // namespace isync::bench
