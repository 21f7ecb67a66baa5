// queue — durable per-tenant event streams in Redis, and the workers that
// drain them (PRODUCT.md §2).
//
// Contract:
//  * Producer::accept is the only way an event enters the system. It costs one
//    EVALSHA: if the dedup key is new it is set for the window and the envelope
//    is XADDed to the tenant's stream; otherwise the original event_id comes
//    back with duplicate=true and nothing is added. The callback runs after
//    Redis replied, i.e. after the AOF write (appendfsync always) — only then
//    may a 202 be sent. Any Redis trouble is Error{"unavailable"}.
//  * WorkerPool reads the streams with a consumer group (at-least-once) and
//    calls Handler::handle for each entry. The handler reports an Outcome:
//      done   — the handler already committed its effect together with
//               XACK + XDEL of the entry in one Lua script (kAckLua);
//      retry  — transient: the entry is acked and the event waits in the
//               tenant's retry ZSET (capped exponential backoff, full jitter)
//               until due, then goes back on the stream; after give_up_after
//               since its first failure it becomes a dead letter;
//      dead   — permanent: acked, kept as a dead letter with its history;
//      park   — not the event's fault (e.g. no Intacct client yet): acked and
//               kept in the parked ZSET without using an attempt;
//      unknown — a Redis step of the handler (its commit: effect + ack) was
//               sent and its reply lost (redis::may_have_run): the apply may
//               have committed. Nothing is filed; the entry is reclaimed only
//               if it did not (a committed ack removed it from the pending
//               list; otherwise it stays pending and is reclaimed after
//               visibility_timeout).
//    Each of retry/dead/park moves the event in one script, atomically with
//    the ack, so a crash never loses or duplicates it. Filing one after a
//    commit whose reply was lost could not double it either (the move finds
//    the entry acked and writes nothing), but would tell on-call of a retry
//    that never happens: hence unknown.
//  * An entry whose worker died stays pending; any worker reclaims it with
//    XAUTOCLAIM after visibility_timeout. An entry delivered more than
//    max_deliveries times is a dead letter ("poison").
//  * Acked entries are deleted by XDEL in the acking script; pending and
//    undelivered entries are never trimmed.
//  * The event_id (a ULID) stays with the event through retries, parking, dead
//    letters and replays; stream entry ids never leave this module except in
//    Delivery (for the ack).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/core.hpp"
#include "redis/redis.hpp"

namespace isync::queue {

// ---- Keys ------------------------------------------------------------------
// Every key of a tenant carries the tenant as a hash tag: isync:{acme}:<suffix>.
//   events              stream of envelopes (field "e"; also "a" = attempts so
//                       far, "f" = first-failure ms)
//   dedup:<sha256>      event_id of an accepted event, expires after the window
//   ev:<event_id>       hash: the event's document once it has failed or been
//                       parked (envelope, state, attempts JSON, reason; see
//                       event_index.hpp)
//   evx:*               the event index (event_index.hpp)
//   retry, parked, dead ZSETs of event ids (score: due ms / parked ms / dead ms)
//   rec:<OBJECT>:<recordno>, audit:<OBJECT>:<recordno>, id:<OBJECT>:<value>
//                       the mirror (owned by handlers/)
std::string key(std::string_view tenant, std::string_view suffix);
inline constexpr std::string_view kGroup = "isync-workers";

// ---- Envelope --------------------------------------------------------------

// Version 1 of the queued event. Workers decode the current and the previous
// envelope version so a rolling upgrade never strands queued events.
struct Envelope {
  int v = 1;
  std::string event_id;  // ULID
  std::string source;    // "intacct" (smart event or trigger) | "stripe"
  // How an "intacct" event arrived: "" = a smart event (and every other
  // source), "trigger" = a signed Platform Trigger webhook. Written only when
  // not empty, so smart events' envelopes are unchanged and a worker that
  // does not know the member ignores it (it still applies the event).
  std::string channel;
  std::string tenant;
  std::string object;        // CUSTOMER | ARINVOICE | ARPYMT
  std::string action;        // add | set | delete
  std::string key;           // RECORDNO, decimal text
  std::int64_t version = 0;  // WHENMODIFIED as UTC epoch seconds
  std::string whenmodified;  // as received
  // Snapshot fields, names upper-cased, sorted by name; empty = thin event.
  std::vector<std::pair<std::string, std::string>> snapshot;
  std::int64_t received_at_ms = 0;
  std::string content_type;
  std::string raw;  // the request body as received
};

std::string encode(const Envelope& e);           // JSON
Result<Envelope> decode(std::string_view json);  // accepts v == 1

// Dedup key of a smart event (and of a trigger without an idempotency key):
// the full Redis key isync:{tenant}:dedup:<sha256>, the digest over (tenant,
// object, action, recordno, version) plus a digest of the snapshot fields when
// there are any. The version (epoch seconds) stands for whenmodified, so one
// instant written two ways is one change. "add" counts as "set" (the mirror
// applies both alike, and a trigger's template cannot tell them apart), so
// one change that arrives as a smart event Add and as a trigger is one event.
std::string smart_event_dedup_key(const Envelope& e);

// ---- Producer --------------------------------------------------------------

struct AcceptResult {
  std::string event_id;  // the new id, or the original one for a duplicate
  bool duplicate = false;
};

class Producer {
 public:
  Producer(std::shared_ptr<redis::Connection> conn, Metrics& metrics);
  // REQUIRES: env.event_id minted by the caller (make_ulid).
  // `dedup_key`: a full key from smart_event_dedup_key, or any other stable
  // text (e.g. a Stripe event id), which is hashed into the tenant's dedup
  // namespace. Errors: code "unavailable" only (message says why: down,
  // timeout, OOM, MISCONF, READONLY…). Records isync_enqueue_seconds.
  void accept(const Envelope& env, const std::string& dedup_key, std::chrono::seconds window,
              std::function<void(Result<AcceptResult>)> done);
  // As above with several dedup keys (each full or hashed the same way), in
  // one round trip, the most specific first (a delivery's idempotency key,
  // then the change's content key): the first key found makes the event a
  // duplicate of the event_id it holds, and the keys before it are then set
  // to that id for the window (a retry carrying them is recognised); the
  // keys after it are not (they describe a body that was not queued). When
  // none is found, all are set and the envelope is queued.
  // REQUIRES: 1..8 keys.
  void accept(const Envelope& env, const std::vector<std::string>& dedup_keys,
              std::chrono::seconds window, std::function<void(Result<AcceptResult>)> done);
  // Ready = connected and Redis accepts a small write (not OOM/MISCONF).
  void probe_writable(std::function<void(bool ok, std::string why)> done);

 private:
  std::shared_ptr<redis::Connection> conn_;
  Histogram& latency_;  // isync_enqueue_seconds, looked up once
};

// What the service needs of its Redis, read once at start with a blocking
// connection: AOF on and maxmemory-policy noeviction, else Error
// {"redis_requirements", "<what is wrong>; fix: <redis.conf lines>"}.
struct RedisRequirements {
  std::string appendfsync;  // "always" expected; the caller warns otherwise
};
Result<RedisRequirements> check_redis_requirements(redis::SyncConnection& conn);

// ---- Handling --------------------------------------------------------------

enum class FailureClass {
  transient,  // retry with backoff
  permanent,  // dead letter now
  ambiguous,  // a write may have happened: read back before retrying
};

struct Failure {
  FailureClass cls = FailureClass::transient;
  std::string code;     // stable word, e.g. "intacct_error", "not_found"
  std::string message;  // what happened, which record, what to do
  std::string errorno, description, correction, controlid;  // Intacct's, if any
};

struct Delivery {
  std::string tenant;
  std::string stream;    // the stream key (KEYS[1] of the ack)
  std::string entry_id;  // stream entry id (ARGV[2] of the ack)
  Envelope envelope;
  int attempt = 1;                    // 1 on first delivery; +1 per retry
  std::int64_t first_failure_ms = 0;  // 0 while it has never failed
  std::string consumer;               // the group consumer the entry is pending with
};

struct Outcome {
  enum class Kind { done, retry, dead, park, unknown };
  Kind kind = Kind::done;
  Failure failure;  // for retry, dead, park and unknown (park: why, in message)
  // retry only: due after exactly this long instead of the backoff (e.g. a
  // read-back that must wait for a write Intacct may still be running).
  std::chrono::milliseconds retry_after{0};
  std::string result;  // the handler's word for what it did (e.g. "applied",
                       // "ignored"); logged on the event's one outcome line
};

// The outcome of a handler whose Redis step failed without a usable reply:
// unknown (code "redis_reply_lost") when the step was sent and its reply is
// lost (`may_have_run`, see redis::may_have_run), else a transient retry
// ("redis_unavailable"). `what` says which event and what failed, e.g.
// "could not apply CUSTOMER 7 of tenant acme (event …) to the mirror: <why>";
// the message then says what happens next.
Outcome redis_failure(bool may_have_run, const std::string& what);

// Lua lines a handler's commit script ends with: XACK + XDEL of the entry and,
// when the event has a document, mark it done (updated_at from Redis TIME, no
// TTL: the sweep of event_index.hpp removes it after the retention) and
// re-file it in the event index. Paste inside a function body (it defines
// local functions and returns nothing).
// Its inputs: KEYS[1] = stream key, KEYS[2] = key(tenant, "ev:" + event_id),
// ARGV[1] = group, ARGV[2] = entry id, ARGV[3] = done retention in seconds
// (unused now; kept so that the handlers' own argument positions stay).
// Handler scripts put their own keys and args after those.
extern const char* const kAckLua;
// kAckLua's document part alone, for a script that commits several entries
// and acks their ids together (XACK and XDEL with many ids) before it ends:
// no XACK + XDEL, and no local functions: the script defines kEventIndexLua
// once at its top level (not once per entry). The same inputs.
extern const char* const kAckDocLua;

// Keeps `d` from being reclaimed while its handler is still working on it (a
// long Intacct call): XCLAIM … JUSTID resets the entry's idle time. Call it
// well within visibility_timeout, e.g. with a lease heartbeat. `done` gets
// false when the entry is no longer pending (acked, or reclaimed and acked).
void keep_pending(redis::Connection& conn, const Delivery& d, std::function<void(bool)> done);

// Builds the first keys/args of a commit script for `d` (see kAckLua).
void ack_inputs(const Delivery& d, std::vector<std::string>& keys, std::vector<std::string>& args,
                std::chrono::seconds done_retention);

class Handler {
 public:
  virtual ~Handler() = default;
  // Must call `done` exactly once, from any thread. `d` stays valid until
  // `done` is called (the pool keeps the delivery with the call's `done`).
  virtual void handle(const Delivery& d, std::function<void(Outcome)> done) = 0;
};

struct WorkerOptions {
  int workers = 4;                                            // concurrent consumers
  std::chrono::milliseconds visibility_timeout{60000};        // reclaim after this idle time
  std::chrono::milliseconds retry_base{2000};                 // first retry delay (before jitter)
  std::chrono::milliseconds retry_cap{3600000};               // longest retry delay
  std::chrono::milliseconds give_up_after{24 * 3600 * 1000};  // since first failure
  // Not read by the pool any more: documents are removed by sweep_events
  // (event_index.hpp, SweepOptions). Kept for the callers that still set them.
  std::chrono::seconds done_retention{7 * 24 * 3600};   // documents of done events
  std::chrono::seconds dead_retention{30 * 24 * 3600};  // dead letters
  int read_count = 64;                                  // XREADGROUP COUNT
  std::chrono::milliseconds block{1000};                // XREADGROUP BLOCK
  int max_deliveries = 20;                              // poison threshold
  std::chrono::milliseconds reconnect_interval{100};    // redis::Options, per connection
  // How often the per-minute activity counts are written (queue/activity.hpp);
  // they are written once more when the pool stops.
  std::chrono::milliseconds activity_flush{5000};
};

// Capped exponential backoff with full jitter: a uniform draw in
// [0, min(cap, base * 2^(attempt-1))]. `random01` in [0, 1).
std::chrono::milliseconds backoff_delay(int attempt, std::chrono::milliseconds base,
                                        std::chrono::milliseconds cap, double random01);

class WorkerPool {
 public:
  WorkerPool(boost::asio::any_io_executor ex, redis::Endpoint endpoint,
             std::vector<std::string> tenants, Handler& handler, WorkerOptions options,
             Metrics& metrics, Clock& clock, Log& log);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void start();
  // Stops reading new entries; calls `stopped` once in-flight handlers have
  // reported (their entries are acked or left pending for reclaim).
  void stop(std::function<void()> stopped);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// ---- Operations --------------------------------------------------------------

struct TenantStats {
  std::int64_t depth = 0;     // entries in the stream (undelivered + pending)
  std::int64_t pending = 0;   // delivered, not yet acked
  std::int64_t retrying = 0;  // waiting in the retry schedule
  std::int64_t parked = 0;
  std::int64_t dead = 0;
  std::int64_t reads_due = 0;          // records on the mirror's read schedule (recheck ZSET)
  std::int64_t oldest_pending_ms = 0;  // ms time of the oldest pending entry; 0 = none
};

// Reads the figures for one tenant (one pipelined batch).
void read_stats(redis::Connection& conn, const std::string& tenant,
                std::function<void(Result<TenantStats>)> done);

// Sets the gauges isync_queue_depth, isync_queue_pending, isync_queue_retrying,
// isync_queue_parked, isync_queue_dead, isync_mirror_reads_due and
// isync_queue_oldest_pending_seconds
// (label tenant) for every tenant, then calls `done` (also on errors, which
// leave the previous values).
// The age is measured against the system clock.
void publish_stats(redis::Connection& conn, std::vector<std::string> tenants, Metrics& metrics,
                   std::function<void()> done);

// Files an event that never went through the stream (e.g. a record read the
// handler deferred, which then failed for good) as a dead letter with one
// attempt: its document ev:<event_id> and the dead ZSET, as a failed
// delivery would be; a replay puts it on the stream like any dead letter.
// Redis trouble: Error{"unavailable"}.
void file_dead_letter(redis::Connection& conn, const Envelope& env, const Failure& failure,
                      std::int64_t now_ms, std::function<void(Result<void>)> done);

// Moves every parked event of `tenant` back onto its stream (attempts kept).
void unpark_all(redis::Connection& conn, const std::string& tenant,
                std::function<void(Result<std::int64_t>)> done);

}  // namespace isync::queue
