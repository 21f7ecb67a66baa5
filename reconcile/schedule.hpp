// reconcile/schedule — when the daily reconciliation runs (PRODUCT.md §4).
//
// Contract:
//  * run_instant / local_day: calendar arithmetic in a tenant's time zone,
//    from the system's time zone database through Howard Hinnant's date/tz
//    (never a hand-kept table of offsets). Pure and thread-safe.
//  * Scheduler starts each tenant's run once per local date, at the first poll
//    at or after run_instant(today), and once per process start-up for a
//    tenant whose last success is missing or old. It never runs anything
//    itself: it calls StartFn, which starts a run and reports a verdict.
//  * "Once" holds across processes: before a start the scheduler claims a
//    marker in Redis with SET NX (the day marker for a scheduled run, the
//    start-up marker for a start-up run); a process that loses the claim does
//    nothing. A marker already holding this scheduler's own value counts as
//    claimed, so a claim whose reply was lost is not lost to its owner.
//  * Start-up: the first poll reads each tenant's last_success. Missing, not a
//    ms epoch, or older than catch_up_after → the start-up marker is claimed
//    (expiring after startup_marker_ttl, so processes starting together run
//    it once) and, when today's instant has passed, today's day marker in the
//    same script, so the day does not run again; then StartFn(…, "startup").
//    A start-up run before today's instant leaves the day to the schedule.
//  * Verdicts: started → done. busy → the markers of that start are given back
//    (only those still holding this scheduler's value: compare-and-delete),
//    and the same step (the day's claim, or the start-up check from the read
//    of last_success) is tried again once retry_after has passed on the
//    Clock. failed → logged; the day (or start-up) counts as done, the run
//    records its own failure. No verdict within verdict_timeout → logged and
//    counted as started.
//  * A busy start still being retried when the local date changes is dropped
//    for that date: the new date's run follows at its own instant.
//  * The time of day comes only from the injected Clock; timers only pace the
//    polls. Redis failures are logged (once per outage and tenant) and the
//    step is tried again at the next poll; nothing throws.
//  * Threads: the scheduler works on a strand of the given executor and never
//    blocks it. StartFn is called on that strand and must not block (it starts
//    the run and reports later); its verdict callback may be called from any
//    thread, once (later calls are ignored).
//  * stop(): after it returns no StartFn call is in progress (unless stop was
//    called from inside StartFn) and none begins; verdicts arriving later are
//    ignored except that a busy verdict still gives its markers back. Markers
//    claimed but not yet handed to StartFn when stop() runs are given back.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.hpp"
#include "redis/redis.hpp"

namespace isync::reconcile {

// ---- Calendar ----------------------------------------------------------------

// The UTC instant (epoch seconds) of the run for local date `date`
// ("YYYY-MM-DD", years 1900 to 9999) in zone `tz` at `hhmm` ("HH:MM",
// 00:00 to 23:59): the first instant whose local time is ≥ hhmm on that date.
// A skipped local time (spring change) → the transition instant; a repeated
// one (autumn) → its first occurrence.
// Errors: Error{"invalid_timezone", "unknown time zone '<tz>'"};
// Error{"invalid_time", "date \"<date>\" is not a date: expected YYYY-MM-DD"} and
// Error{"invalid_time", "time \"<hhmm>\" is not a time of day: expected HH:MM (00:00 to 23:59)"}.
Result<std::int64_t> run_instant(std::string_view tz, std::string_view date, std::string_view hhmm);

// The local date ("YYYY-MM-DD") of epoch second `t` in `tz`.
// Errors: invalid_timezone as above; invalid_time for an instant outside the
// years 1900 to 9999.
Result<std::string> local_day(std::string_view tz, std::int64_t t);

// ---- Redis keys ----------------------------------------------------------------
// isync:{t}:reconcile:day:<YYYY-MM-DD>   the day's scheduled run was claimed (SET
//                                        NX, expires after day_marker_ttl; value
//                                        = the claiming scheduler's owner id)
// isync:{t}:reconcile:startup            a start-up run was claimed (SET NX,
//                                        expires after startup_marker_ttl)
// isync:{t}:reconcile:last_success       ms epoch text of the last successful
//                                        run; written by the run, only read here
std::string day_marker_key(std::string_view tenant, std::string_view date);
std::string startup_marker_key(std::string_view tenant);
std::string last_success_key(std::string_view tenant);

// ---- Scheduler -----------------------------------------------------------------

struct ScheduleEntry {
  std::string tenant;        // [a-z0-9_-]{1,64}
  std::string timezone;      // a zone of the tz database, e.g. "America/New_York"
  std::string reconcile_at;  // "HH:MM", local time of `timezone`
};

// Whether the scheduler can use `e`: a valid tenant id, zone and time of day.
// Errors: invalid_tenant, invalid_timezone, invalid_time (messages name the
// tenant and the value).
Result<void> validate(const ScheduleEntry& e);

struct SchedulerOptions {
  std::chrono::milliseconds poll{30'000};         // how often the clock is looked at
  std::chrono::milliseconds retry_after{60'000};  // after a start that answered busy
                                                  // (index_building, already_running)
  std::chrono::hours catch_up_after{24};  // at start-up: run a tenant whose last success is older
  std::chrono::hours day_marker_ttl{72};  // expiry of a day marker (longer than any zone's day)
  // Expiry of the start-up marker: long enough to cover processes starting
  // together, short enough that a later start-up after a failed run tries again.
  std::chrono::milliseconds startup_marker_ttl{10 * 60'000};
  // A start whose verdict has not come after this (steady time) is given up on:
  // logged, and its day counted as done, so one lost callback cannot stall a
  // tenant for good.
  std::chrono::milliseconds verdict_timeout{10 * 60'000};
};

enum class StartVerdict {
  started,  // the run began
  busy,     // not now, try later (index_building, already_running)
  failed,   // could not start; `why` says why (logged; the day counts as done)
};

// Starts a run for the tenant; calls back once with the verdict and, when not
// started, why. `trigger` is "schedule" or "startup".
using StartFn = std::function<void(const std::string& tenant, std::string trigger,
                                   std::function<void(StartVerdict, std::string why)>)>;

class Scheduler {
 public:
  // Entries failing validate() are logged (error) and never run. `conn` is
  // shared (the scheduler neither starts nor closes it); `clock` and `log`
  // must outlive the scheduler and every callback it has handed out.
  Scheduler(boost::asio::any_io_executor ex, std::shared_ptr<redis::Connection> conn, Clock& clock,
            Log& log, std::vector<ScheduleEntry> entries, StartFn start,
            SchedulerOptions options = {});
  // Calls stop().
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Begins polling (the first poll at once, and it checks every tenant for a
  // start-up run). Thread-safe; a second call, or one after stop(), does nothing.
  void start();
  // Idempotent, thread-safe. See the contract above for what it guarantees.
  void stop();

  // Polls completed so far (each looked at every tenant); lets tests and
  // status pages know the scheduler is alive.
  std::uint64_t polls() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace isync::reconcile
