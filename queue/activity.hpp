// queue/activity — how many events each tenant's workers handled, failed and
// dead-lettered per minute over the last 24 h, for the console's chart
// (PRODUCT.md §6).
//
// Contract:
//  * Counting costs an in-memory increment per outcome: ActivityCounter
//    aggregates per (tenant, minute, kind) in the process, and the worker
//    pool flushes it every WorkerOptions::activity_flush (and once more when
//    it stops) with pipelined HINCRBY into one hash per tenant per hour,
//      isync:{t}:activity:<epoch hour>  field <epoch minute>:h|f|d
//    (epoch hour = ms / 3,600,000; epoch minute = ms / 60,000), each hash
//    given EXPIRE kActivityTtl (25 h) on every write: bounded in Redis by 25
//    hashes of at most 180 fields per tenant, shared by every process.
//  * Kinds: handled = a done outcome; dead = a dead letter (a delivery that
//    gave up, an undecodable entry, and file_dead_letter's events);
//    failed = every other outcome: retry, park (the delivery did not happen:
//    the tenant cannot reach Intacct) and unknown (the commit's reply was
//    lost; whether it ran is not known, so it is not counted as handled).
//    Each delivery counts once, so an event retried three times then done
//    counts three failed and one handled.
//  * A flush whose command failed without running (not connected) keeps its
//    counts for the next flush; a lost reply drops them (they may have been
//    written: a chart may undercount, never double-count). Counts older than
//    the TTL are dropped rather than written, so memory stays bounded while
//    Redis is away.
//  * read_activity reads the 25 hashes of the window in one pipelined batch:
//    minutes in [from_ms, to_ms) where to_ms is the end of now's minute and
//    from_ms = to_ms - 24 h, oldest first, minutes without counts omitted.
//    Redis trouble: Error{"unavailable"}.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "core/core.hpp"
#include "queue/queue.hpp"
#include "redis/redis.hpp"

namespace isync::queue {

inline constexpr std::int64_t kActivityMinuteMs = 60'000;
inline constexpr std::int64_t kActivityHourMs = 3'600'000;
inline constexpr std::int64_t kActivityWindowMs = 24 * kActivityHourMs;
inline constexpr std::chrono::seconds kActivityTtl{25 * 3600};

enum class ActivityKind { handled, failed, dead };

// See the contract: done → handled, dead → dead, the rest → failed.
ActivityKind activity_kind(Outcome::Kind k);
// The hash of the hour holding `ms`: isync:{t}:activity:<epoch hour>.
std::string activity_key(const std::string& tenant, std::int64_t ms);
// The field of the minute holding `ms`: "<epoch minute>:h" | ":f" | ":d".
std::string activity_field(std::int64_t ms, ActivityKind kind);

// Per-minute counts waiting to be flushed. Thread-safe.
class ActivityCounter {
 public:
  void add(const std::string& tenant, ActivityKind kind, std::int64_t now_ms, std::int64_t n = 1);
  // Counts not yet flushed (cells of tenant × minute × kind).
  std::size_t pending() const;
  // Takes every count and writes it (see the contract); `done` runs once,
  // on any thread, when every reply is in. now_ms: counts older than the TTL
  // are dropped. REQUIRES: the counter outlives `done`'s call.
  void flush(redis::Connection& conn, std::int64_t now_ms, std::function<void()> done);

 private:
  using Cell = std::tuple<std::string, std::int64_t, ActivityKind>;  // tenant, minute ms, kind
  mutable std::mutex mu_;
  std::map<Cell, std::int64_t> counts_;
};

struct ActivityMinute {
  std::int64_t t_ms = 0;  // the minute's start
  std::int64_t handled = 0, failed = 0, dead = 0;
};

struct Activity {
  std::int64_t from_ms = 0, to_ms = 0;  // [from, to), minute-aligned, 24 h
  std::vector<ActivityMinute> minutes;  // oldest first, minutes with counts only
};

void read_activity(redis::Connection& conn, const std::string& tenant, std::int64_t now_ms,
                   std::function<void(Result<Activity>)> done);

}  // namespace isync::queue
