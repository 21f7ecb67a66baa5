#include "tests/support/redis_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>

namespace isync::testing {

namespace {

// The lowest port the kernel hands out to outgoing connections and to
// bind(0) (32768 unless configured otherwise).
int ephemeral_low() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0;
  if (in >> low && low > 11000) return low;
  return 32768;
}

bool bindable(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

// Drawn at random below the ephemeral range: a port the kernel picked for
// bind(0) could be handed to any process's next outgoing connection (the
// tests make thousands) between our release and the server's bind, and did.
std::uint16_t free_port() {
  static std::mutex mu;
  static std::mt19937 rng{std::random_device{}()};
  std::lock_guard lock(mu);
  std::uniform_int_distribution<int> pick(10000, ephemeral_low() - 1);
  for (int i = 0; i < 1000; ++i) {
    const auto port = static_cast<std::uint16_t>(pick(rng));
    if (bindable(port)) return port;
  }
  throw std::runtime_error("free_port: no free port below the ephemeral range");
}

bool close_and_wait(redis::Connection& conn) {
  auto closed = std::make_shared<std::promise<void>>();
  auto done = closed->get_future();
  conn.close([closed] { closed->set_value(); });
  return done.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
}

RedisServer::RedisServer(std::vector<std::string> extra_args) : extra_(std::move(extra_args)) {
  char tmpl[] = "/tmp/isync-redis-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  port_ = free_port();
  start();
}

RedisServer::~RedisServer() {
  kill();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void RedisServer::start(std::chrono::milliseconds deadline) {
  if (pid_ > 0) return;
  std::vector<std::string> args = {"redis-server",
                                   "--port",
                                   std::to_string(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--dir",
                                   dir_,
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "yes",
                                   "--appendfsync",
                                   "always",
                                   "--maxmemory-policy",
                                   "noeviction",
                                   "--daemonize",
                                   "no",
                                   "--loglevel",
                                   "warning",
                                   "--logfile",
                                   dir_ + "/redis.log"};
  args.insert(args.end(), extra_.begin(), extra_.end());
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // Die with the test process, even when it is killed (a CTest timeout),
    // so no redis-server outlives its test.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp("redis-server", argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  bool up = eventually(
      [&] {
        auto c = redis::SyncConnection::connect(endpoint(), std::chrono::milliseconds(200));
        if (!c) return false;
        auto r = c->command({"PING"});
        return r && r->type == redis::Reply::Type::status;
      },
      deadline);
  if (!up) throw std::runtime_error("redis-server did not start on port " + std::to_string(port_));
}

void RedisServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void RedisServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

redis::Endpoint RedisServer::endpoint() const {
  redis::Endpoint ep;
  ep.host = "127.0.0.1";
  ep.port = port_;
  return ep;
}

std::string RedisServer::url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }

redis::Reply RedisServer::cmd(const std::vector<std::string>& argv) {
  auto c = redis::SyncConnection::connect(endpoint(), std::chrono::milliseconds(2000));
  if (!c) throw std::runtime_error("redis connect: " + c.error().message);
  auto r = c->command(argv);
  if (!r) throw std::runtime_error("redis command: " + r.error().message);
  return *r;
}

std::vector<std::string> RedisServer::keys() {
  std::vector<std::string> out;
  std::string cursor = "0";
  do {
    auto r = cmd({"SCAN", cursor, "COUNT", "1000"});
    if (r.type != redis::Reply::Type::array || r.elements.size() != 2) break;
    cursor = r.elements[0].str;
    for (auto& k : r.elements[1].elements) out.push_back(k.str);
  } while (cursor != "0");
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace isync::testing
