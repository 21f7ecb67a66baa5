#include <doctest/doctest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <future>
#include <mutex>
#include <thread>

#include "redis/redis.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

namespace {

using isync::redis::Errc;
using isync::redis::Reply;
using isync::testing::eventually;
using isync::testing::Loop;
using isync::testing::RedisServer;
using namespace std::chrono_literals;

struct Answer {
  boost::system::error_code ec;
  Reply reply;
};

std::shared_ptr<isync::redis::Connection> connect(Loop& loop, const RedisServer& server,
                                                  isync::redis::Options options = {}) {
  options.reconnect_interval = 50ms;
  auto conn = isync::redis::Connection::create(loop.ioc.get_executor(), server.endpoint(), options);
  conn->start();
  REQUIRE(eventually([&] { return conn->connected(); }));
  return conn;
}

Answer run(isync::redis::Connection& conn, std::vector<std::string> argv,
           std::chrono::milliseconds timeout = 0ms) {
  std::promise<Answer> p;
  auto f = p.get_future();
  conn.command(
      std::move(argv),
      [&p](boost::system::error_code ec, Reply r) {
        p.set_value({ec, std::move(r)});
      },
      timeout);
  REQUIRE(f.wait_for(10s) == std::future_status::ready);
  return f.get();
}

Answer run_eval(isync::redis::Connection& conn, const isync::redis::Script& s,
                std::vector<std::string> keys, std::vector<std::string> args) {
  std::promise<Answer> p;
  auto f = p.get_future();
  conn.eval(s, std::move(keys), std::move(args), [&p](boost::system::error_code ec, Reply r) {
    p.set_value({ec, std::move(r)});
  });
  REQUIRE(f.wait_for(10s) == std::future_status::ready);
  return f.get();
}

}  // namespace

TEST_CASE("pipelined commands from several threads are all answered in order per caller") {
  RedisServer server;
  Loop loop;
  auto conn = connect(loop, server);

  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::mutex mu;
  std::vector<std::vector<long long>> seen(kThreads);
  std::atomic<int> answered{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < kThreads; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        conn->command({"INCR", "counter:" + std::to_string(t)},
                      [&, t](boost::system::error_code ec, Reply r) {
                        if (ec || r.type != Reply::Type::integer) {
                          failures.fetch_add(1);
                        } else {
                          std::lock_guard lock(mu);
                          seen[static_cast<size_t>(t)].push_back(r.integer);
                        }
                        answered.fetch_add(1);
                      });
      }
    });
  }
  for (auto& c : callers) c.join();
  REQUIRE(eventually([&] { return answered.load() == kThreads * kPerThread; }));
  CHECK(failures.load() == 0);
  for (const auto& values : seen) {
    REQUIRE(values.size() == kPerThread);
    for (size_t i = 0; i < values.size(); ++i) CHECK(values[i] == static_cast<long long>(i + 1));
  }
  conn->close();
}

TEST_CASE("a command while Redis is down fails at once with not_connected") {
  RedisServer server;
  Loop loop;
  auto conn = connect(loop, server);
  server.stop();
  REQUIRE(eventually([&] { return !conn->connected(); }));
  auto started = std::chrono::steady_clock::now();
  auto a = run(*conn, {"PING"});
  CHECK(a.ec == isync::redis::make_error_code(Errc::not_connected));
  CHECK_FALSE(isync::redis::may_have_run(a.ec));
  CHECK(std::chrono::steady_clock::now() - started < 2s);
  conn->close();
}

TEST_CASE("after Redis restarts the connection reconnects by itself and reports both changes") {
  RedisServer server;
  // Declared before the loop: the listener may still run (close() reports
  // "down") until the loop's threads are joined.
  std::mutex mu;
  std::vector<bool> changes;
  Loop loop;
  isync::redis::Options options;
  options.reconnect_interval = 50ms;
  auto conn = isync::redis::Connection::create(loop.ioc.get_executor(), server.endpoint(), options);
  conn->on_state_change([&](bool up) {
    std::lock_guard lock(mu);
    changes.push_back(up);
  });
  conn->start();
  REQUIRE(eventually([&] { return conn->connected(); }));
  server.stop();
  REQUIRE(eventually([&] { return !conn->connected(); }));
  server.start();
  REQUIRE(eventually([&] { return conn->connected(); }));
  auto a = run(*conn, {"PING"});
  CHECK(!a.ec);
  CHECK(a.reply.str == "PONG");
  {
    std::lock_guard lock(mu);
    CHECK(changes == std::vector<bool>{true, false, true});
  }
  conn->close();
}

TEST_CASE("a command past its deadline fails with timeout and the connection recovers") {
  RedisServer server({"--enable-debug-command", "yes"});
  Loop loop;
  auto conn = connect(loop, server);
  auto a = run(*conn, {"DEBUG", "SLEEP", "2"}, 300ms);
  CHECK(a.ec == isync::redis::make_error_code(Errc::timeout));
  CHECK(isync::redis::may_have_run(a.ec));
  REQUIRE(eventually([&] {
    if (!conn->connected()) return false;
    return !run(*conn, {"PING"}).ec;
  }));
  conn->close();
}

TEST_CASE("an error reply arrives as Type::error with no transport error") {
  RedisServer server;
  Loop loop;
  auto conn = connect(loop, server);
  CHECK(!run(*conn, {"SET", "k", "v"}).ec);
  auto a = run(*conn, {"LPUSH", "k", "x"});
  CHECK(!a.ec);
  CHECK(a.reply.type == Reply::Type::error);
  CHECK(a.reply.str.rfind("WRONGTYPE", 0) == 0);
  conn->close();
}

TEST_CASE("nested replies are deep-copied with their types") {
  RedisServer server;
  Loop loop;
  auto conn = connect(loop, server);
  CHECK(!run(*conn, {"RPUSH", "l", "a", "b"}).ec);
  auto a = run(*conn, {"LRANGE", "l", "0", "-1"});
  REQUIRE(a.reply.type == Reply::Type::array);
  REQUIRE(a.reply.elements.size() == 2);
  CHECK(a.reply.elements[1].str == "b");
  CHECK(run(*conn, {"GET", "missing"}).reply.is_nil());
  conn->close();
}

TEST_CASE("eval loads the script again after SCRIPT FLUSH") {
  RedisServer server;
  Loop loop;
  auto conn = connect(loop, server);
  isync::redis::Script script("return redis.call('INCRBY', KEYS[1], ARGV[1])");
  auto first = run_eval(*conn, script, {"n"}, {"5"});
  CHECK(!first.ec);
  CHECK(first.reply.integer == 5);
  CHECK(!run(*conn, {"SCRIPT", "FLUSH"}).ec);
  auto second = run_eval(*conn, script, {"n"}, {"2"});
  CHECK(!second.ec);
  CHECK(second.reply.type == Reply::Type::integer);
  CHECK(second.reply.integer == 7);
  conn->close();
}

TEST_CASE("AUTH and SELECT are sent on connect when the endpoint asks for them") {
  RedisServer server;
  // Set after start: the test launcher's readiness probe does not authenticate.
  server.cmd({"CONFIG", "SET", "requirepass", "s3cret"});
  Loop loop;
  auto ep = server.endpoint();
  ep.password = "s3cret";
  ep.db = 2;
  auto conn = isync::redis::Connection::create(loop.ioc.get_executor(), ep, {});
  conn->start();
  REQUIRE(eventually([&] { return conn->connected(); }));
  CHECK(!run(*conn, {"SET", "in-db-2", "1"}).ec);
  auto sync = isync::redis::SyncConnection::connect(ep, 2000ms);
  REQUIRE(sync.has_value());
  auto r = sync->command({"GET", "in-db-2"});
  REQUIRE(r.has_value());
  CHECK(r->str == "1");
  conn->close();
}

TEST_CASE("close fails later commands with closed") {
  RedisServer server;
  Loop loop;
  auto conn = connect(loop, server);
  conn->close();
  REQUIRE(eventually([&] { return !conn->connected(); }));
  auto a = run(*conn, {"PING"});
  CHECK(a.ec == isync::redis::make_error_code(Errc::closed));
  CHECK_FALSE(isync::redis::may_have_run(a.ec));
}

TEST_CASE("close(done) calls done after the commands in flight have failed") {
  RedisServer server({"--enable-debug-command", "yes"});
  Loop loop;
  auto conn = connect(loop, server);
  std::atomic<bool> failed_as_sent{false};
  std::atomic<bool> failed_before_done{false};
  std::promise<void> in_flight_done;
  // In flight (Redis sleeps on it) when close() runs: written, so Redis runs
  // it, and the failure says it may have run.
  conn->command({"DEBUG", "SLEEP", "2"}, [&](boost::system::error_code ec, isync::redis::Reply) {
    failed_as_sent =
        ec == isync::redis::make_error_code(Errc::reply_lost) && isync::redis::may_have_run(ec);
    in_flight_done.set_value();
  });
  std::this_thread::sleep_for(100ms);
  std::promise<void> closed;
  conn->close([&] {
    failed_before_done = in_flight_done.get_future().wait_for(0s) == std::future_status::ready;
    closed.set_value();
  });
  REQUIRE(closed.get_future().wait_for(10s) == std::future_status::ready);
  CHECK(failed_before_done.load());
  CHECK(failed_as_sent.load());
}

TEST_CASE("the blocking client reports a refused connection as redis_io") {
  isync::redis::Endpoint ep;
  ep.port = isync::testing::free_port();
  auto c = isync::redis::SyncConnection::connect(ep, 500ms);
  REQUIRE(!c);
  CHECK(c.error().code == "redis_io");
}

TEST_CASE("a command in flight when the link is lost fails with reply_lost: it may have run") {
  RedisServer server;
  Loop loop;
  auto conn = connect(loop, server);
  std::promise<Answer> p;
  auto f = p.get_future();
  // Redis holds the BLPOP, so it is written and waiting when the link goes.
  conn->command({"BLPOP", "nothing-here", "0"}, [&p](boost::system::error_code ec, Reply r) {
    p.set_value({ec, std::move(r)});
  });
  REQUIRE(eventually([&] {
    return server.cmd({"INFO", "clients"}).str.find("blocked_clients:1") != std::string::npos;
  }));
  server.cmd({"CLIENT", "KILL", "SKIPME", "yes"});
  REQUIRE(f.wait_for(10s) == std::future_status::ready);
  auto a = f.get();
  CHECK(a.ec == isync::redis::make_error_code(Errc::reply_lost));
  CHECK(isync::redis::may_have_run(a.ec));
  conn->close();
}

TEST_CASE(
    "a command not completely written when its link is dropped fails with not_connected "
    "and does not run") {
  RedisServer server({"--enable-debug-command", "yes"});
  Loop loop;
  auto conn = connect(loop, server);
  std::promise<Answer> sleep_done, set_done;
  // Redis reads nothing while it sleeps, so the 32 MiB SET fills the socket
  // buffers and hiredis keeps the rest; the sleep's deadline drops the link.
  conn->command(
      {"DEBUG", "SLEEP", "2"},
      [&](boost::system::error_code ec, Reply r) {
        sleep_done.set_value({ec, std::move(r)});
      },
      500ms);
  conn->command({"SET", "big", std::string(32 * 1024 * 1024, 'x')},
                [&](boost::system::error_code ec, Reply r) {
                  set_done.set_value({ec, std::move(r)});
                });
  auto sleep_future = sleep_done.get_future();
  auto set_future = set_done.get_future();
  REQUIRE(sleep_future.wait_for(10s) == std::future_status::ready);
  REQUIRE(set_future.wait_for(10s) == std::future_status::ready);
  auto slept = sleep_future.get();
  auto set = set_future.get();
  CHECK(slept.ec == isync::redis::make_error_code(Errc::timeout));
  CHECK(isync::redis::may_have_run(slept.ec));
  CHECK(set.ec == isync::redis::make_error_code(Errc::not_connected));
  CHECK_FALSE(isync::redis::may_have_run(set.ec));
  // Once Redis is awake it has dropped the incomplete command with the link.
  REQUIRE(eventually([&] { return server.cmd({"PING"}).str == "PONG"; }));
  CHECK(server.cmd({"EXISTS", "big"}).integer == 0);
  conn->close();
}
