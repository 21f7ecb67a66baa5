// app — the intacct-sync executable's wiring: config in, modules started,
// signals handled, graceful shutdown. It owns no logic of its own.
//
// Contract:
//  * `serve(config, log)` runs the service until SIGTERM or SIGINT, then stops
//    accepting, drains in-flight requests (their Redis acks), stops the
//    workers, and returns 0. Every stage is bounded by drain_timeout plus a
//    small margin; past that the io threads are stopped regardless.
//  * Before anything listens it checks Redis (PRODUCT.md §2): unreachable ->
//    returns kExitUnavailable; AOF off or maxmemory-policy other than
//    noeviction -> returns kExitRefused with a message naming the setting;
//    appendfsync other than always -> a warning.
//  * Every serve process answers the admin API's on-call routes through
//    oncall::serve_http, and runs a JobRunner: bulk jobs stepped every 200 ms
//    at [admin] replay_rate per tenant, the sweep of old event documents (and
//    the index back-fill) once a minute; it is stopped before the
//    connections close.
//  * Secrets are never logged: the start line carries the redacted Redis URL.
//  * REQUIRES: called from the main thread, once; it installs the signal
//    handlers for the duration of the call.
//  * `reconcile(...)` is `intacct-sync reconcile`: runs the daily
//    reconciliation now, in this process, and reports (PRODUCT.md §4).
//  * `status(...)` is the on-call view of PRODUCT.md §6 for the CLI; the
//    running service answers the same document on GET /v1/admin/status.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/core.hpp"

namespace isync::app {

inline constexpr int kExitOk = 0;
inline constexpr int kExitUnavailable = 1;  // Redis unreachable, listener could not bind
inline constexpr int kExitRefused = 2;      // configuration or Redis requirements not met

int serve(const config::Config& config, Log& log);

// `intacct-sync reconcile` exit codes. With several tenants the highest
// code of any tenant is returned.
inline constexpr int kReconcileSucceeded = 0;
inline constexpr int kReconcileFailed = 1;         // a run failed or was partial; Redis unreachable
inline constexpr int kReconcileBadConfig = 2;      // bad config or arguments; no Intacct access
inline constexpr int kReconcileIndexBuilding = 3;  // the mirror's index is being built; try later
inline constexpr int kReconcileAlreadyRunning = 4;  // a run of the tenant is running elsewhere

struct ReconcileArgs {
  std::string tenant;                // empty = every tenant with Intacct credentials
  std::vector<std::string> objects;  // customers | invoices | payments; empty = all
  bool dry_run = false;
  bool json = false;  // the final report(s) as JSON, one document per line
  bool allow_mass_delete = false;
  // --log-level: wins over the config and over the quiet default on a terminal.
  std::optional<Level> log_level;
};

// Connects to Redis (refusing one that could lose writes, as serve does) and
// Intacct, starts a run per selected tenant (trigger "cli") and waits for
// them. While they run, progress from the live reports (read from Redis
// about once a second) goes to `out`: redrawn in place, one line per object,
// when `terminal`, else plain lines every 5 s. Then each final report, as
// text or JSON. SIGINT/SIGTERM stop the runs (they report "failed:
// stopped"). Errors go to `err`.
int reconcile(const config::Config& config, const ReconcileArgs& args, std::ostream& out,
              std::ostream& err, bool terminal);

// `intacct-sync events …` and `records show` exit codes (README "On-call").
inline constexpr int kEventsOk = 0;
inline constexpr int kEventsError = 1;     // Redis unreachable, bad config or arguments, a failure
inline constexpr int kEventsNotFound = 2;  // no such event, job or record
inline constexpr int kEventsRefused = 3;   // 409: invalid_state, payment_* (the message says why)
inline constexpr int kEventsInterrupted = 130;  // Ctrl-C while following a job (it goes on)

struct EventsArgs {
  // list | show | replay | discard | jobs | cancel | records-show
  std::string verb;
  bool json = false;
  // The filter (list; replay and discard with `filter`), as the API names them.
  std::string tenant, state, object, key, error, since, until, cursor;
  int limit = 0;                 // 0 = the default
  std::vector<std::string> ids;  // show: one; replay/discard: 1..1000; cancel: the job
  bool filter = false;           // replay/discard by filter (tenant required)
  bool dry_run = false;
  bool settled_by_hand = false;
  std::vector<std::string> set;  // "INVOICE=INV-1002", "CUSTOMER=C-9"
  std::string actor;             // empty = the OS user
  std::string reason;
  std::string record_object, record_key;  // records show
  // --log-level: wins over the config, whose level these commands raise to
  // warning (their output is on stdout; log lines would only interleave).
  std::optional<Level> log_level;
};

// The on-call verbs (PRODUCT.md §6), against Redis through oncall::Engine
// (no listener, no Intacct call). A replay or discard by filter creates the
// job and follows it: this process steps that job (a JobRunner restricted to
// it, at the tenant's shared replay rate, alongside any serve process) and
// prints its progress — redrawn in place when `terminal`, a line every 5 s
// otherwise — until it is done; Ctrl-C stops following and leaves the job to
// the serve processes (kEventsInterrupted). Results go to `out` (text, or the
// admin API's JSON with `json`), errors to `err`.
int events(const config::Config& config, const EventsArgs& args, std::ostream& out,
           std::ostream& err, bool terminal);

// `intacct-sync status`: connects to the configured Redis (no listener, no
// Intacct call), reads handlers::read_status for every configured tenant, with each
// tenant's last reconcile run, and
// prints it on `out` as text, or as JSON when `json`. Returns kExitOk;
// kExitUnavailable when Redis cannot be reached or read within
// connect_timeout + 3 x command_timeout (the reason on `err`, the URL
// redacted); kExitRefused for a redis.url that is not a redis:// URL.
int status(const config::Config& config, bool json, std::ostream& out, std::ostream& err);

}  // namespace isync::app
