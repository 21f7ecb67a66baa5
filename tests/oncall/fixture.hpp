// The on-call tests' rig: a real redis-server, an io thread, an async
// connection and an Engine for tenants acme and beta; dead letters filed as
// the queue files them, and helpers to move an event to another state the
// way the queue's scripts leave it.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "oncall/oncall.hpp"
#include "queue/queue.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

namespace isync::testing {

inline constexpr std::int64_t kNow = 1800000000000;  // 2027-01-15

// Waits (generously) for an async call's single callback.
template <class T, class Start>
T wait_for(Start start) {
  auto promise = std::make_shared<std::promise<T>>();
  auto future = promise->get_future();
  start([promise](T value) { promise->set_value(std::move(value)); });
  REQUIRE(future.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  return future.get();
}

inline queue::Envelope customer_event(const std::string& tenant, const std::string& recordno,
                                      std::int64_t at_ms = kNow) {
  queue::Envelope e;
  e.event_id = make_ulid(at_ms);
  e.source = "intacct";
  e.tenant = tenant;
  e.object = "CUSTOMER";
  e.action = "set";
  e.key = recordno;
  e.version = at_ms / 1000;
  e.whenmodified = format_whenmodified(e.version);
  e.received_at_ms = at_ms;
  e.content_type = "application/x-www-form-urlencoded";
  e.raw = "object=CUSTOMER&action=set&recordno=" + recordno;
  return e;
}

inline queue::Failure failure(const std::string& code = "intacct_error") {
  queue::Failure f;
  f.cls = queue::FailureClass::permanent;
  f.code = code;
  f.message = "Intacct refused it";
  f.errorno = "BL34000061";
  f.description = "Invalid customer";
  f.correction = "Fix the customer";
  return f;
}

struct OnCallRig {
  RedisServer server;
  ManualClock clock{kNow};
  std::mutex log_mu;
  std::vector<std::string> log_lines;
  Log log{Level::info, [this](std::string_view line) {
            std::lock_guard lock(log_mu);
            log_lines.emplace_back(line);
          }};
  std::unique_ptr<Loop> io = std::make_unique<Loop>(2);
  std::shared_ptr<redis::Connection> conn = open();
  oncall::Options options;
  std::unique_ptr<oncall::Engine> engine;
  std::vector<std::string> tenants{"acme", "beta"};

  OnCallRig() {
    options.lease = std::chrono::milliseconds(5000);
    rebuild();
  }
  ~OnCallRig() {
    close_and_wait(*conn);
    io->stop();
  }

  std::shared_ptr<redis::Connection> open() {
    redis::Options o;
    o.reconnect_interval = std::chrono::milliseconds(50);
    auto c = redis::Connection::create(io->executor(), server.endpoint(), o);
    c->start();
    REQUIRE(eventually([&] { return c->connected(); }));
    return c;
  }

  void rebuild() { engine = std::make_unique<oncall::Engine>(conn, tenants, options, clock); }

  std::string k(const std::string& tenant, const std::string& suffix) {
    return queue::key(tenant, suffix);
  }

  // A dead letter, as the queue files it.
  std::string dead(const queue::Envelope& e, const queue::Failure& f = failure(),
                   std::int64_t at_ms = 0) {
    auto r = wait_for<Result<void>>([&](auto cb) {
      queue::file_dead_letter(*conn, e, f, at_ms != 0 ? at_ms : clock.now_ms(), cb);
    });
    REQUIRE(r.has_value());
    return e.event_id;
  }
  std::string dead_customer(const std::string& tenant = "acme", const std::string& key = "7") {
    return dead(customer_event(tenant, key));
  }

  // Moves a dead letter to `state` as the queue's scripts leave it:
  // retrying/parked in their ZSET, pending on nothing (delivered), done.
  void move(const std::string& tenant, const std::string& id, const std::string& state) {
    server.cmd({"ZREM", k(tenant, "dead"), id});
    if (state == "retrying") server.cmd({"ZADD", k(tenant, "retry"), "99999999999999", id});
    if (state == "parked") server.cmd({"ZADD", k(tenant, "parked"), "1", id});
    if (state == "dead") server.cmd({"ZADD", k(tenant, "dead"), "1", id});
    server.cmd({"HSET", k(tenant, "ev:" + id), "state", state});
  }

  std::string field(const std::string& tenant, const std::string& id, const std::string& f) {
    auto r = server.cmd({"HGET", k(tenant, "ev:" + id), f});
    return r.type == redis::Reply::Type::string ? r.str : std::string("(nil)");
  }
  bool in(const std::string& tenant, const std::string& zset, const std::string& id) {
    return server.cmd({"ZSCORE", k(tenant, zset), id}).type == redis::Reply::Type::string;
  }
  long long stream_len(const std::string& tenant) {
    return server.cmd({"XLEN", k(tenant, "events")}).integer;
  }

  Result<oncall::ActionAnswer> act(oncall::ActionRequest r) {
    return wait_for<Result<oncall::ActionAnswer>>([&](auto cb) { engine->act(std::move(r), cb); });
  }
  Result<oncall::ActionAnswer> replay(std::vector<std::string> ids, std::string reason = "") {
    oncall::ActionRequest r;
    r.action = oncall::Action::replay;
    r.ids = std::move(ids);
    r.actor = "alice";
    r.reason = std::move(reason);
    return act(std::move(r));
  }
  Result<oncall::ActionAnswer> discard(std::vector<std::string> ids,
                                       std::string reason = "not ours", bool by_hand = false) {
    oncall::ActionRequest r;
    r.action = oncall::Action::discard;
    r.ids = std::move(ids);
    r.actor = "alice";
    r.reason = std::move(reason);
    r.settled_by_hand = by_hand;
    return act(std::move(r));
  }
};

inline std::string error_of(const Result<oncall::ActionAnswer>& r) {
  return r.has_value() ? std::string("(ok)") : r.error().code;
}

}  // namespace isync::testing
