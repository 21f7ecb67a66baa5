// How soon a Connection tries again while Redis is away or refuses the
// handshake, and how soon it is up once Redis answers.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "redis/redis.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

namespace {

using isync::testing::close_and_wait;
using isync::testing::eventually;
using isync::testing::Loop;
using isync::testing::RedisServer;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// A loopback listener that accepts every connection and closes it at once,
// noting when it accepted: the TCP connect succeeds, the handshake fails.
class SlammingListener {
 public:
  SlammingListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;  // held until the end of the test, so no race for it
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 64) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~SlammingListener() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  SlammingListener(const SlammingListener&) = delete;
  SlammingListener& operator=(const SlammingListener&) = delete;

  std::uint16_t port() const { return port_; }
  std::vector<SteadyClock::time_point> accepts() {
    std::lock_guard lock(mu_);
    return accepts_;
  }

 private:
  void run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      {
        std::lock_guard lock(mu_);
        accepts_.push_back(SteadyClock::now());
      }
      ::close(c);
    }
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<SteadyClock::time_point> accepts_;
  std::thread thread_;
};

// Link changes with the time each was reported.
struct StateLog {
  std::mutex mu;
  std::vector<std::pair<bool, SteadyClock::time_point>> changes;

  void attach(isync::redis::Connection& conn) {
    conn.on_state_change([this](bool up) {
      std::lock_guard lock(mu);
      changes.emplace_back(up, SteadyClock::now());
    });
  }
  std::optional<SteadyClock::time_point> first_up_after(SteadyClock::time_point t) {
    std::lock_guard lock(mu);
    for (const auto& [up, at] : changes)
      if (up && at > t) return at;
    return std::nullopt;
  }
  int ups() {
    std::lock_guard lock(mu);
    return static_cast<int>(
        std::count_if(changes.begin(), changes.end(), [](const auto& c) { return c.first; }));
  }
};

}  // namespace

TEST_CASE(
    "a connection whose handshake fails after the TCP connect tries again every "
    "reconnect_interval, never slower") {
  SlammingListener listener;
  StateLog states;
  Loop loop;
  isync::redis::Endpoint ep;
  ep.port = listener.port();
  isync::redis::Options options;  // the default reconnect_interval, 100 ms
  options.client_name = "isync-reconnect-test";
  auto conn = isync::redis::Connection::create(loop.executor(), ep, options);
  states.attach(*conn);
  conn->start();
  std::this_thread::sleep_for(8s);
  REQUIRE(close_and_wait(*conn));
  auto accepts = listener.accepts();
  REQUIRE(accepts.size() >= 2);
  auto longest = SteadyClock::duration::zero();
  for (std::size_t i = 1; i < accepts.size(); ++i)
    longest = std::max(longest, accepts[i] - accepts[i - 1]);
  MESSAGE("attempts: " << accepts.size() << ", longest gap: "
                       << std::chrono::duration_cast<std::chrono::milliseconds>(longest).count()
                       << " ms");
  CHECK(longest <= 250ms);
  CHECK(accepts.size() >= 8s / 250ms);
  CHECK(states.ups() == 0);  // no PONG, so never reported up
}

TEST_CASE(
    "a Redis loading its data refuses the handshake, and the connection is up within a "
    "second of Redis's first PONG") {
  // 20,000 keys at 300 µs each: Redis answers LOADING for six seconds or more
  // after a restart, long enough for the poller below to see it on a loaded
  // machine.
  RedisServer server({"--enable-debug-command", "yes", "--key-load-delay", "300",
                      "--aof-use-rdb-preamble", "yes"});
  server.cmd({"DEBUG", "POPULATE", "20000"});
  server.cmd({"BGREWRITEAOF"});
  REQUIRE(eventually([&] {
    auto info = server.cmd({"INFO", "persistence"}).str;
    return info.find("aof_rewrite_in_progress:0") != std::string::npos &&
           info.find("aof_rewrite_scheduled:0") != std::string::npos;
  }));

  StateLog states;
  Loop loop;
  isync::redis::Options options;
  options.client_name = "isync-reconnect-test";
  auto conn = isync::redis::Connection::create(loop.executor(), server.endpoint(), options);
  states.attach(*conn);
  conn->start();
  REQUIRE(eventually([&] { return conn->connected(); }));
  server.stop();
  REQUIRE(eventually([&] { return !conn->connected(); }));
  const auto restarted = SteadyClock::now();

  // A separate client polls: when it last sent a PING that got LOADING, and
  // when the first PONG came back.
  std::atomic<bool> polling{true};
  std::optional<SteadyClock::time_point> last_loading_sent, first_pong;
  std::thread poller([&] {
    while (polling && !first_pong) {
      const auto sent = SteadyClock::now();
      auto c = isync::redis::SyncConnection::connect(server.endpoint(), 200ms);
      if (c) {
        auto r = c->command({"PING"});
        if (r && r->type == isync::redis::Reply::Type::status) first_pong = SteadyClock::now();
        if (r && r->is_error() && r->str.rfind("LOADING", 0) == 0) last_loading_sent = sent;
      }
      std::this_thread::sleep_for(10ms);
    }
  });
  // Returns once PING answers; loading may take far longer than six seconds
  // on a loaded machine under the sanitizers.
  bool came_up = false;
  try {
    server.start(std::chrono::seconds(120));
    came_up = eventually([&] { return conn->connected(); }, std::chrono::seconds(30));
  } catch (const std::exception&) {
  }
  polling = false;
  poller.join();
  REQUIRE(came_up);

  REQUIRE(last_loading_sent.has_value());
  REQUIRE(first_pong.has_value());
  auto up = states.first_up_after(restarted);
  REQUIRE(up.has_value());
  // Up only once Redis answered PING: after the last LOADING answer.
  CHECK(*up > *last_loading_sent);
  MESSAGE("up " << std::chrono::duration_cast<std::chrono::milliseconds>(*up - *first_pong).count()
                << " ms after the first PONG");
  CHECK(*up - *first_pong <= 1s);
  REQUIRE(close_and_wait(*conn));
}

TEST_CASE(
    "work given to when_up runs once the first link is up, so its first command is answered; "
    "at once when the link is up; once only; and never after close") {
  RedisServer server;
  server.stop();  // Redis is not there yet when the process starts
  // Declared before the loop: the handlers may run until its threads are joined.
  std::mutex mu;
  std::vector<std::string> seen;
  auto note = [&](std::string s) {
    std::lock_guard lock(mu);
    seen.push_back(std::move(s));
  };
  auto count = [&](const std::string& s) {
    std::lock_guard lock(mu);
    return std::count(seen.begin(), seen.end(), s);
  };
  Loop loop;
  isync::redis::Options options;
  options.reconnect_interval = 50ms;
  auto conn = isync::redis::Connection::create(loop.executor(), server.endpoint(), options);
  auto lone = isync::redis::Connection::create(loop.executor(), server.endpoint(), options);
  conn->when_up([&, c = conn.get()] {
    note("first");
    c->command({"PING"}, [&](boost::system::error_code ec, isync::redis::Reply r) {
      note(!ec && r.str == "PONG" ? "answered" : "failed: " + ec.message());
    });
  });
  lone->when_up([&] { note("after close"); });
  conn->start();
  lone->start();
  std::this_thread::sleep_for(300ms);
  CHECK(count("first") == 0);
  REQUIRE(close_and_wait(*lone));

  server.start();
  REQUIRE(eventually([&] { return count("answered") == 1; }));
  conn->when_up([&] { note("while up"); });
  REQUIRE(eventually([&] { return count("while up") == 1; }));

  server.stop();
  REQUIRE(eventually([&] { return !conn->connected(); }));
  server.start();
  REQUIRE(eventually([&] { return conn->connected(); }));
  std::this_thread::sleep_for(200ms);
  CHECK(count("first") == 1);
  CHECK(count("while up") == 1);
  CHECK(count("after close") == 0);
  {
    std::lock_guard lock(mu);
    CHECK(seen == std::vector<std::string>{"first", "answered", "while up"});
  }
  REQUIRE(close_and_wait(*conn));
}
