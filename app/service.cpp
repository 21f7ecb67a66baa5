#include "app/service.hpp"

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <condition_variable>
#include <csignal>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "alerts/alerts.hpp"
#include "app/wiring.hpp"
#include "console/console.hpp"
#include "handlers/handlers.hpp"
#include "handlers/mirror_sync.hpp"
#include "ingest/ingest.hpp"
#include "intacct/client.hpp"
#include "intacct/transport.hpp"
#include "oncall/http.hpp"
#include "oncall/oncall.hpp"
#include "queue/queue.hpp"
#include "reconcile/reconcile.hpp"
#include "redis/redis.hpp"

namespace isync::app {

namespace asio = boost::asio;

namespace {

// Margin past drain_timeout for the workers to report and the connections to
// close, before the io threads are stopped regardless.
constexpr std::chrono::seconds kShutdownMargin{5};
// On-call jobs are stepped this often; old event documents are swept (and
// the index back-filled) this often.
constexpr std::chrono::milliseconds kJobTick{200};
constexpr std::chrono::milliseconds kSweepEvery{60'000};
// The parked events of Intacct tenants are put back at most this often.
constexpr std::chrono::milliseconds kMinReprobe{60'000};

ingest::Options ingest_options(const config::Config& cfg) {
  ingest::Options o;
  o.public_address = cfg.server.public_listen.host;
  o.public_port = cfg.server.public_listen.port;
  o.admin_address = cfg.server.admin_listen.host;
  o.admin_port = cfg.server.admin_listen.port;
  o.body_limit = cfg.server.body_limit;
  o.header_limit = cfg.server.header_limit;
  o.read_timeout = cfg.server.read_timeout;
  o.write_timeout = cfg.server.read_timeout;
  o.drain_timeout = cfg.server.drain_timeout;
  o.max_connections = static_cast<std::size_t>(cfg.server.max_connections);
  // Retry-After is whole seconds; round up so a client never retries early.
  o.retry_after = std::chrono::ceil<std::chrono::seconds>(cfg.server.retry_after);
  o.dedup_window = std::chrono::ceil<std::chrono::seconds>(cfg.queue.dedup_window);
  for (const auto& t : cfg.tenants) {
    std::vector<std::string> stripe;
    for (const auto& secret : t.stripe_secrets) stripe.push_back(secret.reveal());
    std::vector<std::string> trigger;
    for (const auto& secret : t.trigger_client_secrets) trigger.push_back(secret.reveal());
    o.tenants.push_back({t.id, t.token.reveal(), t.read_token.reveal(), t.allow_cidrs,
                         std::move(stripe), std::move(trigger), t.trigger_client_id, t.company_id});
  }
  o.stripe_tolerance = cfg.payments.signature_tolerance;
  o.trigger_leeway = cfg.intacct.trigger_leeway;
  o.redact_fields = cfg.payments.redact;
  o.admin_token = cfg.admin.token.reveal();
  // Sessions are signed with a key derived from the admin token, so a new
  // token ends every console session.
  o.console_key = console::session_key(o.admin_token);
  o.console_session_ttl = cfg.admin.console_session_ttl;
  o.console_secure_cookie = cfg.admin.console_secure_cookie;
  o.trusted_proxies = cfg.server.trusted_proxies;
  o.noop_route = cfg.server.noop_route;
  return o;
}

queue::WorkerOptions worker_options(const config::Config& cfg) {
  using std::chrono::duration_cast;
  using std::chrono::seconds;
  queue::WorkerOptions o;
  o.workers = cfg.queue.workers;
  o.visibility_timeout = cfg.queue.visibility_timeout;
  o.retry_base = cfg.queue.retry_base;
  o.retry_cap = cfg.queue.retry_cap;
  o.give_up_after = cfg.queue.give_up_after;
  o.done_retention = duration_cast<seconds>(cfg.queue.done_retention);
  o.dead_retention = duration_cast<seconds>(cfg.queue.dead_letter_retention);
  o.max_deliveries = cfg.queue.max_deliveries;
  o.reconnect_interval = cfg.redis.reconnect_interval;
  return o;
}

// Stops the io_context if the orderly shutdown has not finished by then, so
// a wedged stage can never keep the process alive past its stop timeout.
class Watchdog {
 public:
  explicit Watchdog(asio::io_context& ioc) : ioc_(ioc) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      finished_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void arm(std::chrono::milliseconds limit, Log& log) {
    std::lock_guard lock(mu_);
    if (thread_.joinable()) return;
    thread_ = std::thread([this, limit, &log] {
      std::unique_lock lock2(mu_);
      if (!cv_.wait_for(lock2, limit, [this] { return finished_; })) {
        log.error("shutdown did not finish in time; stopping the io threads");
        ioc_.stop();
      }
    });
  }

 private:
  asio::io_context& ioc_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool finished_ = false;
  std::thread thread_;
};

}  // namespace

int serve(const config::Config& cfg, Log& log) {
  auto endpoint = redis::parse_url(cfg.redis.url.reveal());
  if (!endpoint) {
    // The parse error may quote the URL; show only the redacted form.
    log.error("redis.url is not a valid redis:// URL",
              LogLine().str("redis", cfg.redis.display_url));
    return kExitRefused;
  }
  if (int rc = detail::check_redis(*endpoint, cfg, log); rc != kExitOk) return rc;

  const int threads = cfg.server.threads > 0
                          ? cfg.server.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::string> tenant_ids;
  for (const auto& t : cfg.tenants) tenant_ids.push_back(t.id);

  // Declaration order is destruction order in reverse: the io_context outlives
  // everything that posts to it.
  asio::io_context ioc(threads);
  Metrics metrics;
  SystemClock clock;

  std::vector<std::shared_ptr<redis::Connection>> conns;
  auto connect = detail::connector(ioc.get_executor(), *endpoint, cfg, log, conns);

  // One pipelined connection per io thread for accepts, so concurrent
  // requests share round trips without one connection becoming the bottleneck.
  std::vector<std::shared_ptr<queue::Producer>> producers;
  for (int i = 0; i < threads; ++i) {
    producers.push_back(
        std::make_shared<queue::Producer>(connect("isync-ingest-" + std::to_string(i)), metrics));
  }
  // Not "isync-handler": that is the name of older versions' mirror-writing
  // connection (they write records without indexing them), and the index
  // back-fill waits while a connection of that name exists.
  auto handler_conn = connect("isync-handler-2");
  auto reader_conn = connect("isync-reader");

  // Intacct access, for the tenants that have credentials; only workers and
  // reconcile runs call Intacct, so a listener-only process has none.
  detail::IntacctAccess intacct;
  if (cfg.queue.workers > 0) {
    intacct = detail::make_intacct(ioc.get_executor(), connect("isync-intacct"), cfg, metrics,
                                   clock, log);
  }
  const auto& transport = intacct.transport;
  const auto& hub = intacct.hub;
  const auto& intacct_tenants = intacct.tenants;
  handlers::MirrorHandler handler(handler_conn, detail::mirror_options(cfg), metrics, clock, log,
                                  ioc.get_executor(), hub);
  // Payments (source "stripe") go to the payment handler, whose tenants
  // without Intacct access park them; everything else to the mirror.
  handlers::PaymentHandler payments(handler_conn, detail::payment_options(cfg),
                                    detail::payment_policies(cfg), metrics, clock, log,
                                    ioc.get_executor(), hub);
  handlers::EventRouter router(handler, &payments);
  auto reader = std::make_shared<handlers::MirrorReader>(reader_conn);
  handlers::MirrorSync mirror_sync(ioc.get_executor(), handler_conn, detail::mirror_options(cfg),
                                   clock, log);
  // No pool at all in a listener-only process (queue.workers = 0).
  std::optional<queue::WorkerPool> pool;
  if (cfg.queue.workers > 0) {
    pool.emplace(ioc.get_executor(), *endpoint, tenant_ids, router, worker_options(cfg), metrics,
                 clock, log);
  }

  // Reconcile runs in processes with workers (they have the Intacct access);
  // every process serves the kept reports and their metrics.
  std::optional<reconcile::Reconciler> reconciler;
  if (cfg.queue.workers > 0) {
    reconciler.emplace(ioc.get_executor(), connect("isync-reconcile"), hub,
                       detail::reconcile_plans(cfg), detail::reconcile_options(cfg),
                       detail::mirror_options(cfg), detail::payment_options(cfg), metrics, clock,
                       log);
  }
  // The daily scheduler: once per tenant and local date at reconcile_at, and
  // at start-up for a tenant whose last success is older than a day.
  std::optional<reconcile::Scheduler> scheduler;
  if (reconciler) {
    scheduler.emplace(ioc.get_executor(), connect("isync-scheduler"), clock, log,
                      detail::schedule_entries(cfg), detail::schedule_start(*reconciler));
  }

  // On-call: the admin API's events routes, and this process's share of the
  // bulk jobs, the sweep of old event documents and the index back-fill.
  oncall::Engine oncall_engine(connect("isync-oncall"), tenant_ids, detail::oncall_options(cfg),
                               clock);
  auto jobs_conn = connect("isync-oncall-jobs");
  oncall::JobRunner job_runner(ioc.get_executor(), jobs_conn, tenant_ids,
                               detail::oncall_options(cfg),
                               oncall::JobRunner::Settings{kJobTick, kSweepEvery, {}}, clock, log);
  auto jobs_stopped = std::make_shared<std::atomic<bool>>(false);
  // Alerts: every process checks Redis on a timer; claims in Redis make one
  // of them send each message.
  std::optional<alerts::Alerter> alerter;
  if (cfg.alerts.enabled()) {
    alerter.emplace(ioc.get_executor(), connect("isync-alerts"), detail::alert_tenants(cfg),
                    detail::alert_options(cfg), metrics, clock, log);
  }

  auto options = ingest_options(cfg);
  options.events_api = [&oncall_engine](ingest::EventsCall call, ingest::EventsReply done) {
    oncall::serve_http(
        oncall_engine,
        {std::move(call.method), std::move(call.path), std::move(call.query), std::move(call.body)},
        [done = std::move(done)](oncall::HttpAnswer a) {
          done(a.status, std::move(a.body), a.retry_after);
        });
  };
  options.before_metrics = [&metrics, &tenant_ids, reader_conn](std::function<void()> done) {
    queue::publish_stats(*reader_conn, tenant_ids, metrics,
                         [&metrics, &tenant_ids, reader_conn, done = std::move(done)]() mutable {
                           reconcile::publish_metrics(*reader_conn, tenant_ids, metrics,
                                                      std::move(done));
                         });
  };
  options.status = [&tenant_ids, &clock, reader_conn, budgets = detail::call_budgets(cfg)](
                       std::function<void(Result<std::string>)> done) {
    detail::read_status(*reader_conn, tenant_ids, budgets, clock.now_ms(), true, std::move(done));
  };
  detail::wire_reconcile(options, reconciler ? &*reconciler : nullptr, reader_conn);
  ingest::Server server(ioc.get_executor(), std::move(options), producers, reader, metrics, clock,
                        log);
  if (auto started = server.start(); !started) {
    log.error("cannot start the listeners: " + started.error().message);
    for (auto& c : conns) c->close();
    return kExitUnavailable;
  }
  if (pool) pool->start();
  // The sweep and the back-fills start once their connection is up: sent
  // while the first link is still being made, they would fail, log a
  // warning and wait for their next turn.
  jobs_conn->when_up([&job_runner] { job_runner.start(); });
  if (alerter) alerter->start();
  handler_conn->when_up([&mirror_sync, &tenant_ids] { mirror_sync.run_backfill(tenant_ids); });
  if (scheduler) scheduler->start();
  if (pool && hub) handler.start_rechecks(ioc.get_executor(), intacct_tenants);
  // Events parked while a tenant had no Intacct access (or its circuit was
  // open) go back on the stream once Redis is up: each is parked again if it
  // still cannot be handled. Tried again at the next reconnect if it fails.
  // Again every circuit_probe_interval: an event parked behind an open
  // circuit then reaches a worker, whose call is the circuit's one probe
  // login; if it succeeds the events flow, otherwise they park again without
  // calling Intacct.
  auto unparked = std::make_shared<std::atomic<bool>>(false);
  // On a strand of its own, with its stop flag: shutdown's cancel then never
  // meets the timer's handler re-arming it on another io thread, nor misses
  // a handler already queued.
  asio::steady_timer reprobe(make_strand_executor(ioc.get_executor()));
  bool reprobe_stopped = false;  // used on reprobe's strand only
  std::function<void()> rearm;
  // The connection keeps its state listener, which calls this: a weak
  // reference, so the two do not keep each other alive past shutdown.
  std::function<void()> unpark = [&log, &intacct_tenants,
                                  weak_conn = std::weak_ptr<redis::Connection>(handler_conn),
                                  unparked] {
    auto conn = weak_conn.lock();
    if (!conn || unparked->exchange(true)) return;
    for (const auto& t : intacct_tenants) {
      queue::unpark_all(*conn, t, [&log, t, unparked](Result<std::int64_t> moved) {
        if (!moved) {
          unparked->store(false);
          log.warn("could not unpark the tenant's events yet; trying again at the next reconnect",
                   LogLine().str("tenant", t).str("error", moved.error().message));
        } else if (*moved > 0) {
          log.info("unparked events", LogLine().str("tenant", t).num("events", *moved));
        }
      });
    }
  };
  if (hub) {
    handler_conn->on_state_change([unpark](bool up) {
      if (up) unpark();
    });
    if (handler_conn->connected()) unpark();
    rearm = [&] {
      reprobe.expires_after(std::max(cfg.intacct.circuit_probe_interval, kMinReprobe));
      reprobe.async_wait([&](const boost::system::error_code& ec) {
        if (ec || reprobe_stopped) return;
        unparked->store(false);
        unpark();
        rearm();
      });
    };
    asio::dispatch(reprobe.get_executor(), [&] { rearm(); });
  }

  log.info("intacct-sync started",
           LogLine()
               .str("public_listen",
                    cfg.server.public_listen.host + ":" + std::to_string(server.public_port()))
               .str("admin_listen",
                    cfg.server.admin_listen.host + ":" + std::to_string(server.admin_port()))
               .str("redis", cfg.redis.display_url)
               .num("tenants", static_cast<std::int64_t>(tenant_ids.size()))
               .num("workers", cfg.queue.workers)
               .num("threads", threads)
               .str("alerts", cfg.alerts.enabled() ? "on" : "off"));

  auto guard = asio::make_work_guard(ioc);
  Watchdog watchdog(ioc);
  asio::signal_set signals(ioc, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    log.info("stopping: draining in-flight requests", LogLine().num("signal", signo));
    watchdog.arm(cfg.server.drain_timeout + kShutdownMargin, log);
    server.stop([&] {
      log.info("requests drained; stopping workers");
      auto finish = [&] {
        // May run on a worker's strand: hand the last steps to the io_context.
        asio::post(reprobe.get_executor(), [&] {
          reprobe_stopped = true;
          reprobe.cancel();
        });
        asio::post(ioc, [&] {
          handler.stop_rechecks();
          mirror_sync.stop();
          if (hub) hub->shutdown();
          if (transport) transport->shutdown();
          // Stopped runs write their last report and release their locks
          // through Redis: give them up to 5 s before the connections close.
          auto wait = std::make_shared<asio::steady_timer>(ioc);
          auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
          auto poll = std::make_shared<std::function<void()>>();
          // The pending wait holds the poll; the poll only a weak reference
          // to itself, so nothing is left once it ends.
          *poll = [&, wait, deadline, weak = std::weak_ptr(poll)] {
            const bool busy = (reconciler && reconciler->running() > 0) || !jobs_stopped->load();
            if (busy && std::chrono::steady_clock::now() < deadline) {
              wait->expires_after(std::chrono::milliseconds(20));
              wait->async_wait([self = weak.lock()](boost::system::error_code) { (*self)(); });
              return;
            }
            for (auto& c : conns) c->close();
            guard.reset();
            log.info("stopped");
          };
          (*poll)();
        });
      };
      // Runs end at their next step and release their locks (written through
      // their own connection, closed below with the others).
      if (scheduler) scheduler->stop();
      if (reconciler) reconciler->stop();
      if (alerter) alerter->stop();
      job_runner.stop([jobs_stopped] { jobs_stopped->store(true); });
      if (pool) {
        pool->stop(finish);
      } else {
        finish();
      }
    });
  });

  std::vector<std::thread> io_threads;
  for (int i = 1; i < threads; ++i) io_threads.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : io_threads) t.join();
  return kExitOk;
}

}  // namespace isync::app
