// The Scheduler's polls, starts and verdicts (contract in schedule.hpp; state
// and invariants in detail/scheduler_impl.hpp).
#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <exception>

#include "reconcile/detail/scheduler_impl.hpp"

namespace isync::reconcile {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

// Epoch seconds of epoch milliseconds, rounded down (also before 1970).
std::int64_t seconds_of(std::int64_t ms) { return ms >= 0 ? ms / 1000 : (ms - 999) / 1000; }

}  // namespace

Scheduler::Impl::Impl(asio::any_io_executor ex, std::shared_ptr<redis::Connection> conn,
                      Clock& clock, Log& log, std::vector<ScheduleEntry> entries, StartFn start,
                      SchedulerOptions options)
    : strand_(make_strand_executor(ex)),
      conn_(std::move(conn)),
      clock_(clock),
      log_(log),
      start_fn_(std::move(start)),
      options_(options),
      owner_(scheduler_owner_id(clock.now_ms())),
      timer_(strand_) {
  options_.poll = std::max(options_.poll, milliseconds(1));
  for (auto& e : entries) {
    Tenant t;
    if (auto ok = validate(e); !ok) {
      log_.error("reconcile schedule entry ignored", LogLine()
                                                         .str("tenant", e.tenant)
                                                         .str("error", ok.error().code)
                                                         .str("message", ok.error().message));
      t.usable = false;
    }
    t.entry = std::move(e);
    tenants_.push_back(std::move(t));
  }
}

void Scheduler::Impl::start() {
  asio::dispatch(strand_, [self = shared_from_this()] {
    if (self->started_ || self->stopped_) return;
    self->started_ = true;
    for (auto& t : self->tenants_) t.startup_pending = t.usable;
    self->poll();
  });
}

void Scheduler::Impl::stop() {
  {
    std::lock_guard lock(start_mu_);
    stopped_ = true;
  }
  asio::dispatch(strand_, [self = shared_from_this()] { self->timer_.cancel(); });
}

void Scheduler::Impl::poll() {
  if (stopped_) return;
  const std::int64_t now_ms = clock_.now_ms();
  for (std::size_t i = 0; i < tenants_.size(); ++i) step(i, now_ms);
  polls_.fetch_add(1);
  timer_.expires_after(options_.poll);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->poll();
  });
}

void Scheduler::Impl::step(std::size_t i, std::int64_t now_ms) {
  Tenant& t = tenants_[i];
  if (!t.usable) return;
  if (t.busy) {
    if (t.awaiting_verdict && std::chrono::steady_clock::now() >= t.verdict_deadline) {
      log_.warn("reconcile start gave no verdict in time; counted as started",
                fields(t).str("trigger", t.pending_trigger).str("date", t.pending_day));
      settle(t, t.pending_trigger, t.pending_day, t.pending_due);
      t.awaiting_verdict = false;
      t.busy = false;
      ++t.start_gen;  // its verdict, should it come, is stale
    }
    return;
  }
  if (now_ms < t.retry_at_ms) return;
  // Validated entries and a clock within the years 1900 to 9999 cannot fail.
  auto today = local_day(t.entry.timezone, seconds_of(now_ms));
  if (!today) return;
  auto instant = run_instant(t.entry.timezone, *today, t.entry.reconcile_at);
  if (!instant) return;
  const bool due = seconds_of(now_ms) >= *instant;
  if (t.startup_pending) {
    read_last_success(i, *today, due, now_ms);
  } else if (due && t.settled_day != *today) {
    claim_day(i, *today);
  }
}

void Scheduler::Impl::begin_start(Start s) {
  Tenant& t = tenants_[s.index];
  s.gen = ++t.start_gen;
  std::lock_guard lock(start_mu_);
  if (stopped_) {
    release(s.index, std::move(s.held), false);
    return;
  }
  t.busy = true;
  t.awaiting_verdict = true;
  t.verdict_deadline = std::chrono::steady_clock::now() + options_.verdict_timeout;
  t.pending_trigger = s.trigger;
  t.pending_day = s.day;
  t.pending_due = s.due;
  auto once = std::make_shared<std::atomic<bool>>(false);
  auto shared = std::make_shared<Start>(s);
  std::function<void(StartVerdict, std::string)> done = [self = shared_from_this(), once, shared](
                                                            StartVerdict v, std::string why) {
    if (once->exchange(true)) return;
    asio::post(self->strand_,
               [self, shared, v, why = std::move(why)] { self->on_verdict(*shared, v, why); });
  };
  try {
    start_fn_(t.entry.tenant, s.trigger, done);
  } catch (const std::exception& e) {
    done(StartVerdict::failed, std::string("the start threw: ") + e.what());
  } catch (...) {
    done(StartVerdict::failed, "the start threw");
  }
}

void Scheduler::Impl::on_verdict(const Start& s, StartVerdict v, const std::string& why) {
  Tenant& t = tenants_[s.index];
  const bool current = s.gen == t.start_gen && t.awaiting_verdict;
  if (current) {
    t.awaiting_verdict = false;
    t.busy = false;
  }
  // Busy means nothing runs: the markers go back, so that this process's
  // retry or another process can take the day.
  if (v == StartVerdict::busy) release(s.index, s.held, current);
  if (!current || stopped_) return;
  LogLine f = fields(t).str("trigger", s.trigger).str("date", s.day);
  switch (v) {
    case StartVerdict::started:
      log_.info("reconcile started", f);
      settle(t, s.trigger, s.day, s.due);
      break;
    case StartVerdict::failed:
      log_.warn("reconcile could not start; the day counts as done", f.str("why", why));
      settle(t, s.trigger, s.day, s.due);
      break;
    case StartVerdict::busy:
      log_.info("reconcile busy; trying again later",
                f.str("why", why).num("retry_after_ms", options_.retry_after.count()));
      t.retry_at_ms = clock_.now_ms() + options_.retry_after.count();
      break;
  }
}

void Scheduler::Impl::settle(Tenant& t, std::string_view trigger, const std::string& day,
                             bool due) {
  if (trigger == kTriggerStartup) t.startup_pending = false;
  if (due) t.settled_day = day;
}

Scheduler::Scheduler(asio::any_io_executor ex, std::shared_ptr<redis::Connection> conn,
                     Clock& clock, Log& log, std::vector<ScheduleEntry> entries, StartFn start,
                     SchedulerOptions options)
    : impl_(std::make_shared<Impl>(std::move(ex), std::move(conn), clock, log, std::move(entries),
                                   std::move(start), options)) {}

Scheduler::~Scheduler() { stop(); }

void Scheduler::start() { impl_->start(); }

void Scheduler::stop() { impl_->stop(); }

std::uint64_t Scheduler::polls() const { return impl_->polls_.load(); }

}  // namespace isync::reconcile
