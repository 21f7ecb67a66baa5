// oncall — what the on-call engineer does with failed events (PRODUCT.md §6):
// find them, read them, replay or discard them one at a time or by the
// thousand, and follow the bulk jobs. The CLI (app/) and the admin API
// (ingest/, through http.hpp) are two faces of this one engine; both talk to
// Redis only through it.
//
// Contract:
//  * Events are found through queue/event_index.hpp. `show` adds the
//    envelope, the raw payload as stored (already redacted at ingest), every
//    attempt, and for a payment event its ledger entry pay:<payment id>.
//  * Actions by state (one Lua script per batch of ids, atomic per event):
//      replay  from dead, parked, retrying (made due now: it goes back on the
//              stream), discarded; pending is a no-op (skipped, code
//              "already_pending"); done is 409 invalid_state.
//      discard from dead, parked, retrying; pending and done are 409
//              invalid_state. A reason is required.
//    A replay keeps the id and the history, appends a "replayed" attempt
//    (actor, reason, at), resets attempt and first_failure (a fresh retry
//    budget), and puts the envelope back on the stream (state pending).
//  * Payments (source "stripe"; the ledger is handlers/'s pay:<envelope key>):
//      - discarding an event whose ledger entry is unsettled (unsent, posting,
//        unknown, reversing, reverse_unknown) needs settled_by_hand, else 409
//        payment_unsettled; with it the payment's lease is taken with the
//        ledger's take script (409 payment_in_progress while a worker holds
//        it), the entry becomes `abandoned` (final), leaves
//        payments:unsettled, and the invoice lock is deleted if this payment
//        holds it;
//      - replaying an event whose ledger entry is abandoned is 409
//        payment_abandoned;
//      - `set` (INVOICE and/or CUSTOMER) rewrites the envelope's snapshot of
//        exactly one dead payment_intent.succeeded or charge.succeeded event
//        before its replay; the ledger entry must be absent, or failed with
//        sends 0 and failed_event this event (else 409 payment_may_be_posted).
//        The raw payload is untouched; a "set" attempt records old and new.
//  * By one id a refusal is the Error itself (not_found, invalid_state,
//    payment_*). By several ids (<= kMaxIds) the answer lists what was
//    skipped and why. By filter (tenant required) a job is created: the
//    matched ids are stored with it under the tenant's hash tag and it acts
//    on those only; any JobRunner (every serve process, and the CLI that
//    follows it) advances it at the tenant's shared replay rate, one atomic
//    step at a time, so a crash or two runners never act twice on an id.
//    `set` on an event that is not dead is invalid_state; on another source
//    or event type, with another field, several ids or a filter it is
//    invalid_field "set: ...".
//  * By ids, `matched` counts the ids that have a document; the ids without
//    one are listed in skipped with state "" and code not_found. A dry run
//    (by ids or filter) answers matched and up to 5 samples, writes nothing.
//  * A job step is one script: it reads the job's position, takes tokens
//    from the tenant's bucket (isync:{t}:oncall:bucket, rate replay_rate/s,
//    burst max(1, rate), Redis's clock), acts on the next ids and advances
//    the position, so two runners never act on an id twice.
//  * Errors are values: Error{code, message}, codes invalid_field (the
//    message starts with the field: "reason: ...", "ids: ...", "tenant: ...",
//    "filter: ...", "set: ..."), not_found, invalid_state (the message names
//    the state), payment_unsettled, payment_in_progress, payment_abandoned,
//    payment_may_be_posted, unavailable (Redis trouble).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/core.hpp"
#include "queue/activity.hpp"
#include "queue/event_index.hpp"
#include "redis/redis.hpp"

namespace isync::oncall {

inline constexpr std::size_t kMaxIds = 1000;           // ids in one request
inline constexpr std::int64_t kMaxJobEvents = 100000;  // ids one job may match

struct Options {
  double replay_rate = 20;                 // events per second per tenant, across processes
  std::chrono::milliseconds lease{30000};  // payment lease taken by a discard
  std::chrono::milliseconds job_retention{7LL * 86'400'000};  // finished jobs kept
  queue::SweepOptions sweep;                                  // retention of documents
};

// The full story of one event (events show).
struct EventDetail {
  queue::EventSummary summary;
  std::string envelope;  // JSON as queued (raw payload inside, redacted at ingest)
  std::string attempts;  // JSON array, oldest first
  // The payment's ledger entry (field → value), empty when not a payment or none.
  std::vector<std::pair<std::string, std::string>> ledger;
};

enum class Action { replay, discard };

struct ActionRequest {
  Action action = Action::replay;
  std::vector<std::string> ids;  // by id(s); empty = by filter
  std::string tenant;            // by filter: required; by ids: optional (else all are searched)
  queue::EventFilter filter;     // by filter only
  bool dry_run = false;
  std::string reason;  // discard: required
  std::string actor;   // who: CLI --actor (default the OS user), "admin-api" over HTTP
  bool settled_by_hand = false;
  std::vector<std::pair<std::string, std::string>> set;  // INVOICE | CUSTOMER → value
};

struct Skipped {
  std::string id, state, code;  // state "" when not found
};

struct ActionAnswer {
  std::int64_t matched = 0;
  std::int64_t acted = 0;  // replayed or discarded
  std::vector<Skipped> skipped;
  std::string job_id;                        // by filter: the job created
  std::vector<queue::EventSummary> samples;  // dry run: up to 5
  bool dry_run = false;                      // the answer of a dry run (nothing written)
};

struct Job {
  std::string id, tenant;
  Action action = Action::replay;
  std::string state;                  // running | done | cancelled
  std::string reason, actor, filter;  // filter: JSON as requested
  bool settled_by_hand = false;
  std::int64_t matched = 0, processed = 0, acted = 0, skipped = 0;
  std::vector<Skipped> skipped_samples;  // the first 100
  std::int64_t created_at_ms = 0, updated_at_ms = 0, finished_at_ms = 0;
};

class Engine {
 public:
  // `tenants`: the configured ones; nothing is done for any other tenant.
  Engine(std::shared_ptr<redis::Connection> conn, std::vector<std::string> tenants, Options options,
         Clock& clock);

  const std::vector<std::string>& tenants() const { return tenants_; }

  // `tenant` "" = all. invalid_field for an unknown tenant, a bad filter or cursor.
  void list(std::string tenant, queue::EventFilter filter, int limit, std::string cursor,
            std::function<void(Result<queue::EventPage>)> done);
  // `tenant` "" = search every tenant. not_found names the id and says that
  // only failed events are kept.
  void show(std::string tenant, std::string id, std::function<void(Result<EventDetail>)> done);
  void act(ActionRequest request, std::function<void(Result<ActionAnswer>)> done);

  void jobs(std::string tenant, std::function<void(Result<std::vector<Job>>)> done);
  void job(std::string id, std::function<void(Result<Job>)> done);  // not_found
  // Cancels a running job (a finished one is answered as it is).
  void cancel(std::string id, std::function<void(Result<Job>)> done);
  // The tenant's events handled, failed and dead-lettered per minute over the
  // last 24 h (queue/activity.hpp). invalid_field for an unknown tenant.
  void activity(std::string tenant, std::function<void(Result<queue::Activity>)> done);

 private:
  std::shared_ptr<redis::Connection> conn_;
  std::vector<std::string> tenants_;
  Options options_;
  Clock& clock_;
};

// Advances jobs, sweeps old documents and back-fills the index, for every
// tenant, on its own timers. Safe in any number of processes at once.
class JobRunner {
 public:
  struct Settings {
    std::chrono::milliseconds tick{200};           // how often jobs are stepped
    std::chrono::milliseconds sweep_every{60000};  // 0 = no sweep, no back-fill (the CLI)
    std::string only_job;                          // non-empty: step this job only (the CLI)
  };
  JobRunner(boost::asio::any_io_executor ex, std::shared_ptr<redis::Connection> conn,
            std::vector<std::string> tenants, Options options, Settings settings, Clock& clock,
            Log& log);
  ~JobRunner();
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;
  void start();
  // Calls `stopped` once no step is in flight.
  void stop(std::function<void()> stopped);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Text forms shared by the CLI and the admin API. Times are ms since the
// epoch (keys end in _ms).
const char* action_name(Action a);  // "replay" | "discard"
// {"id","tenant","state","source","object","key","action","code","errorno",
//  "reason","attempt","updated_at_ms","first_failure_ms","received_at_ms"}
std::string to_json(const queue::EventSummary& s);
std::string to_json(const queue::EventPage& page);  // {"events":[…],"next_cursor"}
// {"event":{summary},"envelope":{…},"attempts":[…],"ledger":{…}|null}
std::string to_json(const EventDetail& d);
// by ids: {"matched","replayed"|"discarded","skipped":[{"id","state","code"}]};
// a job: {"job_id","matched"}; a dry run: {"matched","samples":[summary…]}
std::string to_json(const ActionAnswer& a, Action action);
// {"job_id","tenant","action","state","reason","actor","filter":{…},
//  "settled_by_hand","matched","processed","replayed"|"discarded","skipped",
//  "skipped_samples":[{"id","state","code"}],"created_at_ms","updated_at_ms",
//  "finished_at_ms"}
std::string to_json(const Job& j);
std::string to_json(const std::vector<Job>& jobs);  // {"jobs":[…]}
// {"tenant","minute_ms":60000,"from_ms","to_ms",
//  "minutes":[{"t","handled","failed","dead"}…]} (oldest first)
std::string to_json(const std::string& tenant, const queue::Activity& a);

}  // namespace isync::oncall
