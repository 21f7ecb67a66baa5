// Shared by the event index tests: documents written straight into Redis and
// filed with the index's own Lua, and blocking wrappers over the async API.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <string>
#include <vector>

#include "queue/event_index.hpp"
#include "queue/queue.hpp"
#include "tests/queue/harness.hpp"

namespace isync::testing {

struct DocSpec {
  std::string tenant = "acme";
  std::string id{};
  std::string state = "dead";
  std::string object = "CUSTOMER";
  std::string key = "1";
  std::string code{}, errorno{};
  std::int64_t updated_at = 0;
};

// Writes ev:<id> as the queue's scripts do (object and key only in the
// envelope, so the index takes them from there) and files it.
inline void put_doc(RedisServer& server, const DocSpec& d) {
  static const std::string script =
      std::string(queue::kEventIndexLua) +
      "redis.call('HSET', KEYS[1], unpack(ARGV))\nisync_evindex(KEYS[1])\nreturn 1\n";
  queue::Envelope e = envelope(d.tenant, d.id, d.key);
  e.object = d.object;
  auto r = server.cmd({"EVAL",
                       script,
                       "1",
                       queue::key(d.tenant, "ev:" + d.id),
                       "event_id",
                       d.id,
                       "envelope",
                       queue::encode(e),
                       "state",
                       d.state,
                       "attempts",
                       "[]",
                       "attempt",
                       "1",
                       "first_failure",
                       std::to_string(d.updated_at),
                       "reason",
                       "it failed",
                       "updated_at",
                       std::to_string(d.updated_at),
                       "code",
                       d.code,
                       "errorno",
                       d.errorno});
  REQUIRE_MESSAGE(r.type == redis::Reply::Type::integer, r.str);
}

inline Result<queue::EventPage> list(redis::Connection& conn, std::vector<std::string> tenants,
                                     queue::EventFilter filter, int limit, std::string cursor) {
  std::promise<Result<queue::EventPage>> done;
  auto f = done.get_future();
  queue::list_events(conn, std::move(tenants), std::move(filter), limit, std::move(cursor),
                     [&done](Result<queue::EventPage> r) { done.set_value(std::move(r)); });
  REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  return f.get();
}

// Every id the filter matches, page after page.
inline std::vector<std::string> list_all(redis::Connection& conn, std::vector<std::string> tenants,
                                         const queue::EventFilter& filter, int limit = 100) {
  std::vector<std::string> ids;
  std::string cursor;
  for (int pages = 0; pages < 10000; ++pages) {
    auto page = list(conn, tenants, filter, limit, cursor);
    REQUIRE(page.has_value());
    CHECK(static_cast<int>(page->events.size()) <= limit);
    for (const auto& e : page->events) ids.push_back(e.id);
    if (page->next_cursor.empty()) break;
    cursor = page->next_cursor;
  }
  return ids;
}

inline Result<queue::SweepResult> sweep(redis::Connection& conn, const std::string& tenant,
                                        std::int64_t now, const queue::SweepOptions& o = {}) {
  std::promise<Result<queue::SweepResult>> done;
  auto f = done.get_future();
  queue::sweep_events(conn, tenant, now, o,
                      [&done](Result<queue::SweepResult> r) { done.set_value(std::move(r)); });
  REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  return f.get();
}

inline Result<std::int64_t> backfill(redis::Connection& conn, const std::string& tenant) {
  std::promise<Result<std::int64_t>> done;
  auto f = done.get_future();
  queue::backfill_event_index(conn, tenant,
                              [&done](Result<std::int64_t> r) { done.set_value(std::move(r)); });
  REQUIRE(f.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  return f.get();
}

// Index keys of `tenant` that hold `id`, by suffix (e.g. "s:dead").
inline std::vector<std::string> filed_under(RedisServer& server, const std::string& tenant,
                                            const std::string& id) {
  std::vector<std::string> out;
  for (const auto& k : server.keys()) {
    std::string pfx = queue::key(tenant, "evx:");
    if (k.rfind(pfx, 0) != 0) continue;
    if (server.cmd({"TYPE", k}).str != "zset") continue;
    if (!server.cmd({"ZSCORE", k, id}).is_nil()) out.push_back(k.substr(pfx.size()));
  }
  return out;
}

}  // namespace isync::testing
