#include <doctest/doctest.h>

#include "queue/queue.hpp"
#include "tests/queue/harness.hpp"

using namespace isync;
using namespace isync::testing;

TEST_CASE("a redelivery is queued once and answers the original id") {
  RedisServer server;
  Loop loop;
  Metrics metrics;
  queue::Producer producer(connect(loop, server), metrics);
  auto first = accept(producer, envelope("acme", "01HZ0000000000000000000001", "7"));
  REQUIRE(first.has_value());
  CHECK(first->event_id == "01HZ0000000000000000000001");
  CHECK(!first->duplicate);
  auto again = accept(producer, envelope("acme", "01HZ0000000000000000000002", "7"));
  REQUIRE(again.has_value());
  CHECK(again->event_id == "01HZ0000000000000000000001");
  CHECK(again->duplicate);
  CHECK(server.cmd({"XLEN", "isync:{acme}:events"}).integer == 1);
  auto ttl = server.cmd({"TTL", queue::smart_event_dedup_key(envelope("acme", "x", "7"))});
  CHECK(ttl.integer > 71 * 3600);
  CHECK(metrics.render().find("isync_enqueue_seconds_count 2") != std::string::npos);
}

TEST_CASE("an accept while Redis is down reports unavailable and leaves nothing") {
  RedisServer server;
  Loop loop;
  Metrics metrics;
  auto conn = connect(loop, server);
  queue::Producer producer(conn, metrics);
  server.stop();
  REQUIRE(eventually([&] { return !conn->connected(); }));
  auto r = accept(producer, envelope("acme", "01HZ0000000000000000000003", "8"));
  REQUIRE(!r);
  CHECK(r.error().code == "unavailable");
  bool ok = true;
  std::promise<bool> probe;
  producer.probe_writable([&](bool writable, std::string) { probe.set_value(writable); });
  ok = probe.get_future().get();
  CHECK(!ok);
  server.start();
  CHECK(server.keys().empty());
}

TEST_CASE("an accept when Redis is out of memory reports unavailable and leaves no dedup key") {
  RedisServer server({"--maxmemory", "64mb"});
  Loop loop;
  Metrics metrics;
  auto conn = connect(loop, server);
  queue::Producer producer(conn, metrics);
  // Fill past 1 MiB, then lower the limit: every later write is refused.
  std::string filler(16 * 1024, 'x');
  for (int i = 0; i < 128; ++i) server.cmd({"SET", "fill:" + std::to_string(i), filler});
  server.cmd({"CONFIG", "SET", "maxmemory", "1mb"});
  auto before = server.keys();
  auto r = accept(producer, envelope("acme", "01HZ0000000000000000000004", "9"));
  REQUIRE(!r);
  CHECK(r.error().code == "unavailable");
  CHECK(r.error().message.find("out of memory") != std::string::npos);
  CHECK(server.keys() == before);
  std::promise<std::pair<bool, std::string>> probe;
  producer.probe_writable([&](bool w, std::string why) { probe.set_value({w, why}); });
  auto p = probe.get_future().get();
  CHECK(!p.first);
  CHECK(p.second == "Redis is out of memory (maxmemory reached)");
}

TEST_CASE("probe_writable is true on a healthy Redis") {
  RedisServer server;
  Loop loop;
  Metrics metrics;
  queue::Producer producer(connect(loop, server), metrics);
  std::promise<bool> probe;
  producer.probe_writable([&](bool w, std::string) { probe.set_value(w); });
  CHECK(probe.get_future().get());
}

TEST_CASE("the requirement check accepts AOF with noeviction and names what is wrong otherwise") {
  {
    RedisServer good;
    auto c = redis::SyncConnection::connect(good.endpoint(), std::chrono::seconds(2));
    REQUIRE(c.has_value());
    auto r = queue::check_redis_requirements(*c);
    REQUIRE(r.has_value());
    CHECK(r->appendfsync == "always");
  }
  {
    RedisServer no_aof({"--appendonly", "no"});
    auto c = redis::SyncConnection::connect(no_aof.endpoint(), std::chrono::seconds(2));
    REQUIRE(c.has_value());
    auto r = queue::check_redis_requirements(*c);
    REQUIRE(!r);
    CHECK(r.error().code == "redis_requirements");
    CHECK(r.error().message.find("appendonly is 'no'") != std::string::npos);
    CHECK(r.error().message.find("appendonly yes\n") != std::string::npos);
  }
  {
    RedisServer lru({"--maxmemory-policy", "allkeys-lru"});
    auto c = redis::SyncConnection::connect(lru.endpoint(), std::chrono::seconds(2));
    REQUIRE(c.has_value());
    auto r = queue::check_redis_requirements(*c);
    REQUIRE(!r);
    CHECK(r.error().message.find("maxmemory-policy is 'allkeys-lru'") != std::string::npos);
    CHECK(r.error().message.find("maxmemory-policy noeviction") != std::string::npos);
  }
}
