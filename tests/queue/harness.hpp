// Shared by the queue tests: an io_context on two threads and a connected
// async client to a test redis-server.
#pragma once

#include <doctest/doctest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <future>
#include <thread>

#include "queue/queue.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

namespace isync::testing {

inline std::shared_ptr<redis::Connection> connect(Loop& loop, const RedisServer& server) {
  redis::Options o;
  o.reconnect_interval = std::chrono::milliseconds(50);
  auto conn = redis::Connection::create(loop.ioc.get_executor(), server.endpoint(), o);
  conn->start();
  REQUIRE(eventually([&] { return conn->connected(); }));
  return conn;
}

inline queue::Envelope envelope(const std::string& tenant, const std::string& id,
                                const std::string& recordno) {
  queue::Envelope e;
  e.event_id = id;
  e.source = "intacct";
  e.tenant = tenant;
  e.object = "CUSTOMER";
  e.action = "set";
  e.key = recordno;
  e.version = 1700000000;
  e.whenmodified = "11/14/2023 22:13:20";
  e.received_at_ms = 1700000000000;
  e.content_type = "application/x-www-form-urlencoded";
  e.raw = "object=CUSTOMER&action=set&recordno=" + recordno;
  return e;
}

inline Result<queue::AcceptResult> accept(queue::Producer& p, const queue::Envelope& e) {
  std::promise<Result<queue::AcceptResult>> done;
  auto f = done.get_future();
  p.accept(e, queue::smart_event_dedup_key(e), std::chrono::hours(72),
           [&done](Result<queue::AcceptResult> r) { done.set_value(std::move(r)); });
  REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  return f.get();
}

}  // namespace isync::testing
