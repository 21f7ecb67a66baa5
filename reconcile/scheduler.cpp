// The daily and start-up scheduler (contract in schedule.hpp).
//
// All state lives on one strand. A tenant has at most one step outstanding at
// a time (a Redis command, or a start awaiting its verdict): `busy` guards it,
// so polls never pile commands up behind a slow Redis.
#include <unistd.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <exception>
#include <mutex>
#include <optional>

#include "reconcile/schedule.hpp"

namespace isync::reconcile {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

// Claims KEYS in order for ARGV[1] (the owner), KEYS[i] expiring after
// ARGV[i + 1] ms; the keys after the first only if the first was claimed. A
// key already holding the owner counts as claimed, so a claim whose reply was
// lost is not lost to its own owner. Returns 1 (claimed) or 0 per key.
const redis::Script& claim_script() {
  static const redis::Script s(R"lua(
local out = {}
for i, k in ipairs(KEYS) do
  local won = 0
  if i == 1 or out[1] == 1 then
    if redis.call('SET', k, ARGV[1], 'NX', 'PX', ARGV[i + 1]) then
      won = 1
    elseif redis.call('GET', k) == ARGV[1] then
      won = 1
    end
  end
  out[i] = won
end
return out
)lua");
  return s;
}

// Deletes each of KEYS that still holds ARGV[1] (the owner): a marker that
// expired and was claimed by another process meanwhile stays. Returns the
// number deleted.
const redis::Script& release_script() {
  static const redis::Script s(R"lua(
local n = 0
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then
    n = n + redis.call('DEL', k)
  end
end
return n
)lua");
  return s;
}

// Who claimed a marker, for on-call: host, pid and a ULID that tells two
// schedulers of one process apart.
std::string owner_id(std::int64_t now_ms) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host[0] != '\0' ? host : "host") + ":" + std::to_string(::getpid()) + ":" +
         make_ulid(now_ms);
}

// Epoch seconds of epoch milliseconds, rounded down (also before 1970).
std::int64_t seconds_of(std::int64_t ms) { return ms >= 0 ? ms / 1000 : (ms - 999) / 1000; }

// The ms epoch text of last_success, or nullopt when it is not one.
std::optional<std::int64_t> parse_ms(std::string_view s) {
  std::int64_t v = 0;
  if (s.empty() || s.size() > 19) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

constexpr std::string_view kTriggerSchedule = "schedule";
constexpr std::string_view kTriggerStartup = "startup";

}  // namespace

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

  Impl(asio::any_io_executor ex, std::shared_ptr<redis::Connection> conn, Clock& clock, Log& log,
       std::vector<ScheduleEntry> entries, StartFn start, SchedulerOptions options)
      : strand_(make_strand_executor(ex)),
        conn_(std::move(conn)),
        clock_(clock),
        log_(log),
        start_fn_(std::move(start)),
        options_(options),
        owner_(owner_id(clock.now_ms())),
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

  void start() {
    asio::dispatch(strand_, [self = shared_from_this()] {
      if (self->started_ || self->stopped_) return;
      self->started_ = true;
      for (auto& t : self->tenants_) t.startup_pending = t.usable;
      self->poll();
    });
  }

  void stop() {
    {
      std::lock_guard lock(start_mu_);
      stopped_ = true;
    }
    asio::dispatch(strand_, [self = shared_from_this()] { self->timer_.cancel(); });
  }

  void poll() {
    if (stopped_) return;
    const std::int64_t now_ms = clock_.now_ms();
    for (std::size_t i = 0; i < tenants_.size(); ++i) step(i, now_ms);
    polls_.fetch_add(1);
    timer_.expires_after(options_.poll);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->poll();
    });
  }

  void step(std::size_t i, std::int64_t now_ms) {
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

  // ---- start-up ----------------------------------------------------------------

  void read_last_success(std::size_t i, std::string day, bool due, std::int64_t now_ms) {
    tenants_[i].busy = true;
    conn_->command({"GET", last_success_key(tenants_[i].entry.tenant)},
                   [self = shared_from_this(), i, day = std::move(day), due, now_ms](
                       boost::system::error_code ec, redis::Reply r) mutable {
                     asio::post(self->strand_,
                                [self, i, day = std::move(day), due, now_ms, ec, r = std::move(r)] {
                                  self->on_last_success(i, day, due, now_ms, ec, r);
                                });
                   });
  }

  void on_last_success(std::size_t i, const std::string& day, bool due, std::int64_t now_ms,
                       boost::system::error_code ec, const redis::Reply& r) {
    Tenant& t = tenants_[i];
    t.busy = false;
    if (stopped_ || redis_failed(t, "read last success", ec, r)) return;
    std::optional<std::int64_t> last;
    if (r.type == redis::Reply::Type::string) {
      last = parse_ms(r.str);
      if (!last) {
        log_.warn("reconcile last success is not a ms epoch; taken as missing",
                  fields(t).str("value", shorten(r.str, 32)));
      }
    }
    const auto max_age = std::chrono::duration_cast<milliseconds>(options_.catch_up_after).count();
    if (last && now_ms - *last <= max_age) {
      t.startup_pending = false;
      return;
    }
    std::vector<std::string> keys{startup_marker_key(t.entry.tenant)};
    std::vector<std::string> args{owner_, std::to_string(options_.startup_marker_ttl.count())};
    if (due) {
      // The day's instant has passed: the start-up run stands for it.
      keys.push_back(day_marker_key(t.entry.tenant, day));
      args.push_back(std::to_string(day_marker_ttl_ms()));
    }
    claim(i, std::move(keys), std::move(args), [this, i, day, due](std::vector<bool> won) {
      Tenant& tt = tenants_[i];
      if (!won[0]) {
        tt.startup_pending = false;
        log_.info("reconcile start-up run claimed by another process", fields(tt));
        return;
      }
      Start s{i, 0, std::string(kTriggerStartup), day, due, {startup_marker_key(tt.entry.tenant)}};
      if (due && won[1]) s.held.push_back(day_marker_key(tt.entry.tenant, day));
      begin_start(std::move(s));
    });
  }

  // ---- the day's run -------------------------------------------------------------

  void claim_day(std::size_t i, const std::string& day) {
    Tenant& t = tenants_[i];
    claim(i, {day_marker_key(t.entry.tenant, day)}, {owner_, std::to_string(day_marker_ttl_ms())},
          [this, i, day](std::vector<bool> won) {
            Tenant& tt = tenants_[i];
            if (!won[0]) {
              tt.settled_day = day;
              log_.info("reconcile of the day claimed by another process",
                        fields(tt).str("date", day));
              return;
            }
            begin_start(Start{i,
                              0,
                              std::string(kTriggerSchedule),
                              day,
                              true,
                              {day_marker_key(tt.entry.tenant, day)}});
          });
  }

  // ---- Redis steps ---------------------------------------------------------------

  // Runs the claim script; `then` runs on the strand with one flag per key,
  // unless Redis failed (logged; the poll tries again) or stop() came first
  // (what was claimed is given back).
  void claim(std::size_t i, std::vector<std::string> keys, std::vector<std::string> args,
             std::function<void(std::vector<bool>)> then) {
    tenants_[i].busy = true;
    const std::size_t n = keys.size();
    auto on_reply = [self = shared_from_this(), i, keys, n, then = std::move(then)](
                        boost::system::error_code ec, redis::Reply r) mutable {
      asio::post(self->strand_, [self, i, keys = std::move(keys), n, then = std::move(then), ec,
                                 r = std::move(r)] {
        Tenant& t = self->tenants_[i];
        t.busy = false;
        redis::Reply checked = r;
        if (!ec && !r.is_error() &&
            (r.type != redis::Reply::Type::array || r.elements.size() != n)) {
          checked.type = redis::Reply::Type::error;
          checked.str = "unexpected reply to the claim script";
        }
        if (self->redis_failed(t, "claim marker", ec, checked)) return;
        std::vector<bool> won;
        std::vector<std::string> held;
        for (std::size_t k = 0; k < n; ++k) {
          won.push_back(r.elements[k].integer == 1);
          if (won.back()) held.push_back(keys[k]);
        }
        if (self->stopped_) {
          self->release(i, held, false);
          return;
        }
        then(std::move(won));
      });
    };
    conn_->eval(claim_script(), std::move(keys), std::move(args), std::move(on_reply));
  }

  // Gives back the markers in `held` that still hold owner_. With `then_idle`
  // the tenant stays busy until Redis answered, so a retry cannot claim a
  // marker the release then deletes.
  void release(std::size_t i, std::vector<std::string> held, bool then_idle) {
    if (held.empty()) return;
    if (then_idle) tenants_[i].busy = true;
    conn_->eval(
        release_script(), std::move(held), {owner_},
        [self = shared_from_this(), i, then_idle](boost::system::error_code ec, redis::Reply r) {
          asio::post(self->strand_, [self, i, then_idle, ec, r = std::move(r)] {
            Tenant& t = self->tenants_[i];
            if (then_idle) t.busy = false;
            // A marker left behind is harmless: it is ours (a retry
            // claims it again) or it expires.
            self->redis_failed(t, "release marker", ec, r);
          });
        });
  }

  // ---- starts and verdicts ---------------------------------------------------------

  void begin_start(Start s) {
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

  void on_verdict(const Start& s, StartVerdict v, const std::string& why) {
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

  // A start that began (or failed, or went silent) settles its trigger.
  static void settle(Tenant& t, std::string_view trigger, const std::string& day, bool due) {
    if (trigger == kTriggerStartup) t.startup_pending = false;
    if (due) t.settled_day = day;
  }

  // ---- helpers -------------------------------------------------------------------

  // True when the step failed (transport or error reply); logged once per outage.
  bool redis_failed(Tenant& t, std::string_view what, boost::system::error_code ec,
                    const redis::Reply& r) {
    if (!ec && !r.is_error()) {
      if (t.redis_trouble) {
        t.redis_trouble = false;
        log_.info("reconcile scheduler reaches redis again", fields(t));
      }
      return false;
    }
    if (!t.redis_trouble) {
      t.redis_trouble = true;
      log_.warn("reconcile scheduler: redis step failed; trying again at the next poll",
                fields(t).str("step", what).str("error", ec ? ec.message() : shorten(r.str, 200)));
    }
    return true;
  }

  static LogLine fields(const Tenant& t) { return LogLine().str("tenant", t.entry.tenant); }

  std::int64_t day_marker_ttl_ms() const {
    return std::chrono::duration_cast<milliseconds>(options_.day_marker_ttl).count();
  }

  asio::any_io_executor strand_;
  std::shared_ptr<redis::Connection> conn_;
  Clock& clock_;
  Log& log_;
  StartFn start_fn_;
  SchedulerOptions options_;
  const std::string owner_;
  asio::steady_timer timer_;
  std::vector<Tenant> tenants_;  // fixed after construction; indices are stable
  bool started_ = false;         // strand only
  // Set under start_mu_, which every StartFn call holds: once stop() has set
  // it, no call is in progress (on another thread) and none begins.
  // Recursive, so that StartFn may call stop().
  std::recursive_mutex start_mu_;
  std::atomic<bool> stopped_{false};
  std::atomic<std::uint64_t> polls_{0};
};

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
