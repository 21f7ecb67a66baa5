#include "bench/common/redis.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "bench/common/stats.hpp"

namespace isync::bench {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

FsyncFigures measure_fsync(const std::string& dir) {
  const std::string path = dir + "/fsync-probe";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) throw std::runtime_error("cannot create " + path);
  std::array<char, 4096> block{};
  block.fill('x');
  std::vector<double> ms;
  for (int i = 0; i < 200; ++i) {
    auto t0 = Clock::now();
    if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()) ||
        ::fdatasync(fd) != 0) {
      ::close(fd);
      throw std::runtime_error("write/fdatasync failed in " + dir);
    }
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  ::close(fd);
  std::filesystem::remove(path);
  return {percentile(ms, 0.50), percentile(ms, 0.99)};
}

RedisClient::RedisClient(std::uint16_t port) {
  timeval tv{5, 0};
  ctx_ = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (ctx_ == nullptr || ctx_->err) {
    if (ctx_) redisFree(ctx_);
    throw std::runtime_error("cannot connect to redis-server on port " + std::to_string(port));
  }
  redisSetTimeout(ctx_, tv);
}

RedisClient::~RedisClient() {
  if (ctx_) redisFree(ctx_);
}

namespace {

RedisClient::Reply convert(const redisReply* r) {
  RedisClient::Reply out;
  out.type = r->type;
  out.integer = r->integer;
  if (r->str) out.str.assign(r->str, r->len);
  for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
  return out;
}

void append(redisContext* ctx, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  if (redisAppendCommandArgv(ctx, static_cast<int>(args.size()), argv.data(), lens.data()) !=
      REDIS_OK)
    throw std::runtime_error("cannot send " + args.front() + " to redis-server");
}

RedisClient::Reply read_reply(redisContext* ctx, const std::string& what) {
  void* raw = nullptr;
  if (redisGetReply(ctx, &raw) != REDIS_OK || raw == nullptr)
    throw std::runtime_error("redis-server did not answer " + what);
  auto* r = static_cast<redisReply*>(raw);
  auto out = convert(r);
  freeReplyObject(r);
  if (out.type == REDIS_REPLY_ERROR)
    throw std::runtime_error("redis-server answered " + what + ": " + out.str);
  return out;
}

}  // namespace

RedisClient::Reply RedisClient::cmd(const std::vector<std::string>& args) {
  append(ctx_, args);
  return read_reply(ctx_, args.front());
}

void RedisClient::pipeline(const std::vector<std::vector<std::string>>& commands) {
  for (const auto& c : commands) append(ctx_, c);
  for (const auto& c : commands) read_reply(ctx_, c.front());
}

BenchRedis::BenchRedis(const std::string& dir) : port_(free_port()) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  child_ = std::make_unique<Child>(
      std::vector<std::string>{"redis-server", "--port", std::to_string(port_), "--bind",
                               "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "yes",
                               "--appendfsync", "always", "--maxmemory-policy", "noeviction",
                               "--daemonize", "no"},
      dir + "/../redis.log");
  if (!wait_until([&] { return probe(port_, "PING\r\n", "+PONG"); }, 10s))
    throw std::runtime_error("redis-server did not start; see " + dir + "/../redis.log");
  client_ = std::make_unique<RedisClient>(port_);
}

std::string BenchRedis::info_field(const std::string& section, const std::string& field) {
  auto text = client_->cmd({"INFO", section}).str;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind(field + ":", 0) == 0) return line.substr(field.size() + 1);
  }
  return {};
}

double BenchRedis::cpu_seconds() {
  return std::stod(info_field("cpu", "used_cpu_user")) +
         std::stod(info_field("cpu", "used_cpu_sys"));
}

std::uint64_t BenchRedis::used_memory() { return std::stoull(info_field("memory", "used_memory")); }

long long BenchRedis::xlen(const std::string& stream) {
  return client_->cmd({"XLEN", stream}).integer;
}

void BenchRedis::compact() {
  // Redis may have started a rewrite of its own (auto-aof-rewrite-percentage):
  // let it end, then ask for one; "already in progress" means one started
  // in between, which does as well.
  auto idle = [&] {
    return info_field("persistence", "aof_rewrite_in_progress") == "0" &&
           info_field("persistence", "aof_rewrite_scheduled") == "0";
  };
  wait_until(idle, 60s);
  try {
    client_->cmd({"BGREWRITEAOF"});
  } catch (const std::runtime_error& e) {
    if (std::string(e.what()).find("already in progress") == std::string::npos) throw;
  }
  if (!wait_until(idle, 120s)) throw std::runtime_error("the AOF rewrite did not end within 120 s");
}

void BenchRedis::reset() {
  client_->cmd({"FLUSHALL"});
  compact();
}

}  // namespace isync::bench
