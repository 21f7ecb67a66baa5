// The Scheduler's state and steps, shared by scheduler.cpp (polls, starts,
// verdicts) and scheduler_markers.cpp (the Redis steps: last success, claims,
// releases). Internal to reconcile/.
//
// All state lives on one strand. A tenant has at most one step outstanding at
// a time (a Redis command, or a start awaiting its verdict): `busy` guards it,
// so polls never pile commands up behind a slow Redis.
#pragma once

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "reconcile/schedule.hpp"

namespace isync::reconcile {

inline constexpr std::string_view kTriggerSchedule = "schedule";
inline constexpr std::string_view kTriggerStartup = "startup";

// Who claims a marker, for on-call: host, pid and a ULID that tells two
// schedulers of one process apart.
std::string scheduler_owner_id(std::int64_t now_ms);

struct Scheduler::Impl : std::enable_shared_from_this<Impl> {
  struct Tenant {
    ScheduleEntry entry;
    bool usable = true;
    bool busy = false;             // a Redis step or a start is outstanding
    bool startup_pending = false;  // the start-up check is still to be settled
    std::string settled_day;       // local date whose scheduled run needs nothing more here
    std::int64_t retry_at_ms = 0;  // Clock ms; no start before it (after a busy verdict)
    bool redis_trouble = false;    // a Redis step failed and has not succeeded since
    // The outstanding start, if any: verdicts of older ones are stale.
    std::uint64_t start_gen = 0;
    bool awaiting_verdict = false;
    std::chrono::steady_clock::time_point verdict_deadline;
    std::string pending_trigger, pending_day;
    bool pending_due = false;
  };

  // What a start holds, carried to its verdict.
  struct Start {
    std::size_t index = 0;
    std::uint64_t gen = 0;
    std::string trigger;
    std::string day;
    bool due = false;               // the day's scheduled instant had passed
    std::vector<std::string> held;  // markers claimed for it
  };

  Impl(boost::asio::any_io_executor ex, std::shared_ptr<redis::Connection> conn, Clock& clock,
       Log& log, std::vector<ScheduleEntry> entries, StartFn start, SchedulerOptions options);

  // scheduler.cpp
  void start();
  void stop();
  void poll();
  void step(std::size_t i, std::int64_t now_ms);
  void begin_start(Start s);
  void on_verdict(const Start& s, StartVerdict v, const std::string& why);
  // A start that began (or failed, or went silent) settles its trigger.
  static void settle(Tenant& t, std::string_view trigger, const std::string& day, bool due);

  // scheduler_markers.cpp
  // The start-up check: reads last_success and, when it is missing or old,
  // claims the start-up marker (and the day's, when `due`) and starts.
  void read_last_success(std::size_t i, std::string day, bool due, std::int64_t now_ms);
  void on_last_success(std::size_t i, const std::string& day, bool due, std::int64_t now_ms,
                       boost::system::error_code ec, const redis::Reply& r);
  // The day's run: claims the day marker and starts, or settles the day when
  // another process holds it.
  void claim_day(std::size_t i, const std::string& day);
  // Runs the claim script; `then` runs on the strand with one flag per key,
  // unless Redis failed (logged; the poll tries again) or stop() came first
  // (what was claimed is given back).
  void claim(std::size_t i, std::vector<std::string> keys, std::vector<std::string> args,
             std::function<void(std::vector<bool>)> then);
  // Gives back the markers in `held` that still hold owner_. With `then_idle`
  // the tenant stays busy until Redis answered, so a retry cannot claim a
  // marker the release then deletes.
  void release(std::size_t i, std::vector<std::string> held, bool then_idle);
  // True when the step failed (transport or error reply); logged once per outage.
  bool redis_failed(Tenant& t, std::string_view what, boost::system::error_code ec,
                    const redis::Reply& r);

  static LogLine fields(const Tenant& t) { return LogLine().str("tenant", t.entry.tenant); }
  std::int64_t day_marker_ttl_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(options_.day_marker_ttl).count();
  }

  boost::asio::any_io_executor strand_;
  std::shared_ptr<redis::Connection> conn_;
  Clock& clock_;
  Log& log_;
  StartFn start_fn_;
  SchedulerOptions options_;
  const std::string owner_;
  boost::asio::steady_timer timer_;
  std::vector<Tenant> tenants_;  // fixed after construction; indices are stable
  bool started_ = false;         // strand only
  // Set under start_mu_, which every StartFn call holds: once stop() has set
  // it, no call is in progress (on another thread) and none begins.
  // Recursive, so that StartFn may call stop().
  std::recursive_mutex start_mu_;
  std::atomic<bool> stopped_{false};
  std::atomic<std::uint64_t> polls_{0};
};

}  // namespace isync::reconcile
