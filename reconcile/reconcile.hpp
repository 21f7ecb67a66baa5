// reconcile — the daily reconciliation: makes the mirror equal to Intacct
// over each tenant's scope at a bounded API cost (PRODUCT.md §4).
//
// Contract:
//  * Reconciler::start takes the tenant's run lock in Redis
//    (isync:{t}:reconcile:lock, value "<fencing token>:<run id>", expiry
//    lock_ttl, renewed every lock_ttl/3 while the run lives) and runs in the
//    background. One run per tenant at a time across all processes: a second
//    start answers already_running with the running run's id. Every write a
//    run makes passes the lock's value as fencing token, so a run that lost
//    its lock (paused past the expiry) changes nothing more. A crashed run's
//    lock expires; the next run re-lists everything and converges.
//  * Start refusals: already_running, index_building (the mirror's RECORDNO
//    index is being back-filled; try later), unknown_tenant, no_intacct,
//    unavailable (Redis).
//  * A run, per object (CUSTOMER, ARINVOICE, ARPYMT, in that order): lists
//    Intacct with `query` (showprivate, ORDER BY RECORDNO, pages of 2000, by
//    key: RECORDNO > last seen; with concurrency ≥ 3 the key space past the
//    first page is split by the index's highest RECORDNO into concurrency − 1
//    ranges listed side by side), compares each page with the index
//    (handlers::MirrorSync), reads missing and stale records 100 keys a call
//    and applies them through the mirror's apply script (source
//    "reconcile"), removes live Draft invoices, and tombstones gone
//    candidates once a read confirms them, unless more than max(100, 5 % of
//    listed) are gone (mass_delete_suspected; allow_mass_delete overrides).
//    Then payments left unsettled (handlers::PaymentSettler).
//  * Scope: `since` = first run − initial_window − 1 day, kept in Redis
//    (isync:{t}:reconcile:since). CUSTOMER whole; ARINVOICE WHENMODIFIED ≥
//    since OR TOTALDUE ≠ 0; ARPYMT WHENMODIFIED ≥ since. Records outside are
//    never read, tombstoned or counted.
//  * Intacct calls: up to concurrency − 1 in flight (at least one),
//    background priority (live traffic keeps its slots), transient failures retried with capped exponential backoff;
//    a permanent failure ends that object's part (reported), an open circuit
//    ends the run ("failed: credentials rejected").
//  * The report (JSON, see detail/report.hpp) is kept in Redis for the last
//    keep_runs runs per tenant (isync:{t}:reconcile:runs, newest first, and
//    isync:{t}:reconcile:run:<id>), updated about every second while the run
//    lives; figures for /metrics are summed in isync:{t}:reconcile:stats.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/core.hpp"
#include "handlers/handlers.hpp"
#include "intacct/client.hpp"
#include "redis/redis.hpp"

namespace isync::reconcile {

// One tenant's reconcile settings (from its [[tenant]] table).
struct TenantPlan {
  std::string tenant;
  std::string timezone = "UTC";
  std::string reconcile_at = "02:30";
  std::string initial_window = "6 months";  // "<n> days" | "<n> months"
  int concurrency = 2;
};

struct Options {
  // Run lock expiry; renewed every third of it.
  std::chrono::milliseconds lock_ttl{60'000};
  // Payments unsettled for longer than this are looked at.
  std::chrono::milliseconds readback_wait{60'000};
  // Transient Intacct failures: first delay, cap, attempts per call.
  std::chrono::milliseconds retry_base{2'000};
  std::chrono::milliseconds retry_cap{60'000};
  int max_attempts = 8;
  // At concurrency 1, the pause after each call so live traffic gets the slot.
  std::chrono::milliseconds pause_at_concurrency_1{1'000};
  // Reports kept per tenant.
  int keep_runs = 30;
  // How often the live report is written while the run lives.
  std::chrono::milliseconds progress_interval{1'000};
};

struct RunRequest {
  std::string tenant;
  // CUSTOMER | ARINVOICE | ARPYMT; empty = all three.
  std::vector<std::string> objects;
  bool dry_run = false;
  bool allow_mass_delete = false;
  std::string trigger = "cli";  // schedule | startup | cli | admin
};

struct StartResult {
  std::string run_id;          // the new run's, or the running one's (already_running)
  std::optional<Error> error;  // set when not started
};

class Reconciler {
 public:
  // `hub` may be null (no tenant has Intacct access: every start answers
  // no_intacct). REQUIRES: metrics, clock and log outlive the reconciler.
  Reconciler(boost::asio::any_io_executor ex, std::shared_ptr<redis::Connection> conn,
             std::shared_ptr<intacct::ClientHub> hub, std::vector<TenantPlan> tenants,
             Options options, handlers::MirrorOptions mirror, handlers::PaymentOptions payments,
             Metrics& metrics, Clock& clock, Log& log);
  ~Reconciler();
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  // `started` is called once (never inline) when the run has started or was
  // refused; `finished` (optional) once with the final report JSON when a
  // started run ends.
  void start(RunRequest request, std::function<void(StartResult)> started,
             std::function<void(std::string report_json)> finished = {});
  // Ends running runs at their next step (they record "failed: stopped" and
  // release their locks). Idempotent.
  void stop();
  // Runs in flight in this process.
  int running() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Reports kept in Redis, readable from any process. newest first.
void list_runs(redis::Connection& conn, const std::string& tenant, int limit,
               std::function<void(Result<std::vector<std::string>>)> done);
// Error{"not_found"} when no such run is kept.
void get_run(redis::Connection& conn, const std::string& tenant, const std::string& run_id,
             std::function<void(Result<std::string>)> done);

// A report (JSON, as list_runs/get_run/finished give it) as text for a
// terminal. Error{"invalid_report"} when the text is not a report.
Result<std::string> report_text(std::string_view report_json);

// /metrics at scrape time: reads every tenant's stats hash (stats_key:
// runs:<state>, calls, drift:<OBJECT>:<kind>, last_success_ms, summed by
// runs of every process) and sets
//   isync_reconcile_runs_total{tenant,state}            (counter)
//   isync_reconcile_drift_total{tenant,object,kind}     (counter; object
//       CUSTOMER | ARINVOICE | ARPYMT | payments)
//   isync_reconcile_api_calls_total{tenant}             (counter)
//   isync_reconcile_last_success_timestamp_seconds{tenant} (gauge; absent
//       until a run succeeded)
// so a run started from the CLI shows in every process. A tenant whose hash
// cannot be read keeps its last figures. `done` runs once (on the
// connection's strand), after every tenant answered or failed.
void publish_metrics(redis::Connection& conn, const std::vector<std::string>& tenants,
                     Metrics& metrics, std::function<void()> done);

// Redis keys (queue::key of the tenant).
std::string lock_key(std::string_view tenant);
std::string runs_key(std::string_view tenant);
std::string run_key(std::string_view tenant, std::string_view run_id);
std::string stats_key(std::string_view tenant);
std::string since_key(std::string_view tenant);

// `now_s` (epoch seconds) less the config's initial_window ("<n> days" or
// "<n> months", calendar months in UTC, the day clamped to the month's end)
// less one more day. Error{"invalid_window"} for other text.
Result<std::int64_t> scope_since(std::int64_t now_s, std::string_view initial_window);

}  // namespace isync::reconcile
