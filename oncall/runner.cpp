// JobRunner: advances the jobs of every tenant at the tenant's shared rate,
// and on a slower timer back-fills the event index, sweeps old documents and
// deletes finished jobs past their retention (oncall.hpp).
//
// Everything runs on one strand, as one chain of Redis calls at a time (a
// tick's work, then the next tick is scheduled): stop() waits for the chain.
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cmath>
#include <set>

#include "oncall/detail/lua.hpp"
#include "oncall/detail/support.hpp"
#include "queue/queue.hpp"

namespace isync::oncall {

namespace asio = boost::asio;
using namespace detail;

struct JobRunner::Impl : std::enable_shared_from_this<Impl> {
  asio::any_io_executor strand;
  std::shared_ptr<redis::Connection> conn;
  std::vector<std::string> tenants;
  Options options;
  Settings settings;
  Clock& clock;
  Log& log;
  asio::steady_timer timer;
  std::string owner = random_owner();
  std::set<std::string> backfilled;
  std::chrono::steady_clock::time_point next_sweep = std::chrono::steady_clock::now();
  bool started = false, stopping = false, busy = false;
  std::function<void()> stopped;

  // The chain's position.
  std::size_t tenant_at = 0;
  std::vector<std::string> running;
  std::size_t job_at = 0;
  int steps = 0;

  Impl(asio::any_io_executor ex, std::shared_ptr<redis::Connection> c, std::vector<std::string> t,
       Options o, Settings s, Clock& ck, Log& l)
      : strand(make_strand_executor(ex)),
        conn(std::move(c)),
        tenants(std::move(t)),
        options(o),
        settings(std::move(s)),
        clock(ck),
        log(l),
        timer(strand) {}

  // Runs `f` on the strand (Redis answers on the connection's).
  template <class F>
  void on_strand(F f) {
    asio::post(strand, std::move(f));
  }

  void schedule(std::chrono::milliseconds after) {
    if (stopping) return;
    timer.expires_after(after);
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->stopping) return;
      self->tick();
    });
  }

  void tick() {
    busy = true;
    if (settings.sweep_every.count() > 0 && std::chrono::steady_clock::now() >= next_sweep) {
      next_sweep = std::chrono::steady_clock::now() + settings.sweep_every;
      tenant_at = 0;
      return sweep_tenant();
    }
    start_jobs();
  }

  void idle() {
    busy = false;
    if (stopping) {
      if (auto cb = std::move(stopped)) {
        stopped = nullptr;
        cb();
      }
      return;
    }
    schedule(settings.tick);
  }

  // ---- jobs ----

  void start_jobs() {
    tenant_at = 0;
    next_tenant();
  }

  void next_tenant() {
    if (stopping || tenant_at >= tenants.size()) return idle();
    const std::string tenant = tenants[tenant_at];
    conn->command({"ZRANGE", queue::key(tenant, "jobs:running"), "0", "9"},
                  [self = shared_from_this()](boost::system::error_code ec, redis::Reply r) {
                    self->on_strand([self, ec, r = std::move(r)] {
                      self->running.clear();
                      if (!ec && !r.is_error()) {
                        for (const auto& e : r.elements) {
                          if (self->settings.only_job.empty() || e.str == self->settings.only_job) {
                            self->running.push_back(e.str);
                          }
                        }
                      }
                      self->job_at = 0;
                      self->steps = 0;
                      self->step();
                    });
                  });
  }

  void tenant_done() {
    ++tenant_at;
    next_tenant();
  }

  void step() {
    if (stopping) return idle();
    if (job_at >= running.size() || steps >= 200) return tenant_done();
    ++steps;
    const std::string& tenant = tenants[tenant_at];
    const std::string id = running[job_at];
    const double rate = std::max(0.001, options.replay_rate);
    const double burst = std::max(1.0, rate);
    char rate_s[32], burst_s[32];
    std::snprintf(rate_s, sizeof rate_s, "%.6f", rate);
    std::snprintf(burst_s, sizeof burst_s, "%.6f", burst);
    conn->eval(step_script(), {job_key(tenant, id)},
               {prefix(tenant), id, rate_s, burst_s, std::to_string(kBatch),
                std::to_string(options.lease.count()), owner, std::to_string(clock.now_ms())},
               [self = shared_from_this(), id](boost::system::error_code ec, redis::Reply r) {
                 self->on_strand([self, ec, r = std::move(r), id] { self->stepped(ec, r, id); });
               });
  }

  void stepped(boost::system::error_code ec, const redis::Reply& r, const std::string& id) {
    if (ec || r.is_error() || r.elements.size() != 2) {
      log.warn("on-call job step failed; retried on the next tick",
               LogLine()
                   .str("tenant", tenants[tenant_at])
                   .str("job_id", id)
                   .str("why", ec ? ec.message() : r.str));
      return tenant_done();
    }
    const std::string verdict = r.elements[0].str;
    const long long n = r.elements[1].integer;
    if (verdict == "wait") return tenant_done();  // the tenant's tokens are spent
    if (verdict == "done") {
      log.info("on-call job finished",
               LogLine().str("tenant", tenants[tenant_at]).str("job_id", id));
    }
    if (verdict == "stepped" && n == static_cast<long long>(kBatch)) return step();
    if (verdict == "stepped") return tenant_done();  // fewer tokens than a batch
    ++job_at;
    step();
  }

  // ---- sweep, back-fill, finished jobs ----

  void sweep_tenant() {
    if (stopping || tenant_at >= tenants.size()) return start_jobs();
    const std::string tenant = tenants[tenant_at];
    if (backfilled.count(tenant) != 0) return sweep_events();
    queue::backfill_event_index(
        *conn, tenant, [self = shared_from_this(), tenant](Result<std::int64_t> r) {
          self->on_strand([self, tenant, r = std::move(r)] {
            if (!r) {
              self->log.warn("event index back-fill failed; tried again at the next sweep",
                             LogLine().str("tenant", tenant).str("why", r.error().message));
            } else {
              // A success is the whole back-fill (it resumes by itself after
              // an interruption); later sweeps skip it in this process.
              self->backfilled.insert(tenant);
              if (*r > 0) {
                self->log.info("event index back-filled",
                               LogLine().str("tenant", tenant).num("indexed", *r));
              }
            }
            self->sweep_events();
          });
        });
  }

  void sweep_events() {
    if (stopping) return idle();
    const std::string tenant = tenants[tenant_at];
    queue::sweep_events(*conn, tenant, clock.now_ms(), options.sweep,
                        [self = shared_from_this(), tenant](Result<queue::SweepResult> r) {
                          self->on_strand([self, tenant, r = std::move(r)] {
                            if (!r) {
                              self->log.warn(
                                  "event sweep failed; tried again at the next sweep",
                                  LogLine().str("tenant", tenant).str("why", r.error().message));
                            } else if (r->removed > 0 || r->orphans > 0) {
                              self->log.info("events swept", LogLine()
                                                                 .str("tenant", tenant)
                                                                 .num("removed", r->removed)
                                                                 .num("orphans", r->orphans));
                            }
                            self->expire_jobs();
                          });
                        });
  }

  void expire_jobs() {
    if (stopping) return idle();
    const std::string tenant = tenants[tenant_at];
    const auto cutoff = clock.now_ms() - options.job_retention.count();
    conn->eval(expire_jobs_script(), {queue::key(tenant, "jobs")},
               {prefix(tenant), std::to_string(cutoff), "100"},
               [self = shared_from_this()](boost::system::error_code, redis::Reply) {
                 self->on_strand([self] {
                   ++self->tenant_at;
                   self->sweep_tenant();
                 });
               });
  }
};

JobRunner::JobRunner(asio::any_io_executor ex, std::shared_ptr<redis::Connection> conn,
                     std::vector<std::string> tenants, Options options, Settings settings,
                     Clock& clock, Log& log)
    : impl_(std::make_shared<Impl>(std::move(ex), std::move(conn), std::move(tenants), options,
                                   std::move(settings), clock, log)) {}

JobRunner::~JobRunner() {
  auto impl = impl_;
  asio::post(impl->strand, [impl] {
    impl->stopping = true;
    impl->timer.cancel();
  });
}

void JobRunner::start() {
  auto impl = impl_;
  asio::post(impl->strand, [impl] {
    if (impl->started || impl->stopping) return;
    impl->started = true;
    impl->schedule(std::chrono::milliseconds(0));
  });
}

void JobRunner::stop(std::function<void()> stopped) {
  auto impl = impl_;
  asio::post(impl->strand, [impl, stopped = std::move(stopped)]() mutable {
    impl->stopping = true;
    impl->timer.cancel();
    if (impl->busy) {
      impl->stopped = std::move(stopped);
      return;
    }
    stopped();
  });
}

}  // namespace isync::oncall
