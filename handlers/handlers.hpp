// handlers — the receivables mirror: applies Intacct smart events to records
// kept in Redis, and reads them back for the admin API (PRODUCT.md §2, §3, §6).
//
// Contract:
//  * MirrorHandler applies CUSTOMER / ARINVOICE / ARPYMT smart events by the
//    ordering rules of PRODUCT.md §2 in ONE Lua script that also acks the
//    stream entry (queue::kAckLua), so a crash either leaves the entry pending
//    with no effect, or the effect and the ack together. Decisions:
//      applied    — newer add/set: snapshot merged field by field
//      tombstoned — delete with version >= stored: `deleted`, fields kept,
//                   expires after tombstone_retention
//      removed    — ARINVOICE in state Draft: the mirrored record is dropped
//      ignored    — older, or same version and same content, or a thin event
//                   the mirror already holds (version >= incoming)
//      reread     — same version, different content: parked (Intacct decides)
//      thin       — no snapshot (or ARINVOICE without STATE) and newer than
//                   the mirror: parked until the Intacct client exists
//    Parked events are not acked by the mirror script; the queue parks them.
//    A Redis failure is a transient retry ("redis_unavailable"), unless the
//    script was sent and its reply lost: it may have committed, and the
//    outcome is unknown ("redis_reply_lost", see queue::redis_failure).
//  * Versions only move forward. A removed draft leaves a hidden marker
//    (the record hash with draft=1 and its version, no fields), so an older
//    non-draft event arriving late cannot resurrect the invoice; readers treat
//    the marker as not found. The marker expires after tombstone_retention.
//  * Every applied/tombstoned/removed change prepends an audit entry
//    {"event_id","at","source","action","version","changed":[…]} to
//    audit:<OBJECT>:<recordno> ("channel" after "source" when the event, or
//    for a scheduled read the events that put the record on the recheck
//    schedule, came by a channel such as "trigger"; newest first; at most
//    audit_max_entries, none older than audit_max_age), and keeps the lookup set
//    id:<OBJECT>:<value> (CUSTOMERID / RECORDID / DOCNUMBER) in step.
//  * MirrorReader answers in one round trip (a read-only script). Errors:
//    Error{"not_found"} naming the record and tenant, Error{"unavailable"}
//    when Redis cannot be reached, Error{"invalid_field"} for an unknown
//    collection.
//  * Both classes are thread-safe; callbacks run on the connection's strand
//    and never throw.
//
// Metrics: isync_mirror_changes_total{tenant,object,decision} (counter),
//          isync_mirror_apply_seconds{object} (histogram).
// Logs: one JSON line per event outcome ("mirror event": event_id, tenant,
//       object, key, outcome, attempt, duration_ms).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/core.hpp"
#include "handlers/detail/apply_call.hpp"
#include "handlers/detail/payment_map.hpp"
#include "intacct/client.hpp"
#include "queue/queue.hpp"
#include "redis/redis.hpp"

namespace isync::handlers {

struct MirrorOptions {
  // Snapshot, draft and delete events applied in one script call, at most
  // (detail/apply_batch.hpp): under load the events waiting for the
  // connection go together, each with its own decision, ack and audit.
  // 1 = one script call per event. Default 64: a call stops taking events
  // after apply_budget (1 ms) of Redis and leaves the rest
  // for the next, so it holds Redis under 2 ms whatever the size; 64 is
  // what fits in that on a busy 2-core machine (bench/apply).
  int apply_batch = 64;
  // How long one call may run before it answers its remaining events
  // "later" (they go first in the next call). Default 1 ms.
  std::chrono::microseconds apply_budget{1000};
  // Newest audit entries kept per record (count). Default 100.
  int audit_max_entries = 100;
  // Audit entries older than this are dropped when a record changes. Default 90 days.
  std::chrono::seconds audit_max_age{90LL * 24 * 3600};
  // How long a tombstone (and a removed draft's marker) is kept. Default 30 days.
  std::chrono::seconds tombstone_retention{30LL * 24 * 3600};
  // How long a done event's document is kept (passed to queue::ack_inputs). Default 7 days.
  std::chrono::seconds done_retention{7LL * 24 * 3600};
  // Thin events of one tenant and object due within this window are read
  // from Intacct in one call (up to 100 records). Default 10 ms.
  std::chrono::milliseconds read_batch_window{10};
  // WHENMODIFIED has whole seconds: a record read during its own second may
  // change again without a new WHENMODIFIED (and that change's thin event is
  // a duplicate of the first). A read counts as final for its version when
  // made this long after the second ended; an earlier read is repeated then
  // (the recheck). Covers clock skew between this host and Intacct.
  // Default 2 s.
  std::chrono::milliseconds settle_margin{2000};
  // true: thin and conflicting events of a tenant with Intacct access are
  // acked at once and their record goes on the recheck schedule, due when
  // its second has settled — one read per record, in large batches, never
  // repeated; latency about settle_margin + 1 s. false: read at once and
  // again after the second settles. Default true.
  bool read_after_settle = true;
};

// Collection name of the admin API → Intacct object; empty when unknown.
// "customers" → CUSTOMER, "invoices" → ARINVOICE, "payments" → ARPYMT.
std::string object_of_collection(const std::string& collection);

// Field that the id lookup uses for `object` (CUSTOMERID / RECORDID /
// DOCNUMBER); empty when unknown.
std::string id_field_of_object(const std::string& object);

namespace detail {
class ApplyBatcher;
class ReadBatcher;
struct ReadAnswer;
}  // namespace detail

class MirrorHandler : public queue::Handler {
 public:
  // Without Intacct access: thin and conflicting events are parked.
  MirrorHandler(std::shared_ptr<redis::Connection> conn, MirrorOptions options, Metrics& metrics,
                Clock& clock, Log& log);
  // With Intacct access for the tenants `intacct` has a client for (nullptr
  // = none): thin and conflicting events are settled by reading the record.
  MirrorHandler(std::shared_ptr<redis::Connection> conn, MirrorOptions options, Metrics& metrics,
                Clock& clock, Log& log, boost::asio::any_io_executor executor,
                std::shared_ptr<intacct::ClientHub> intacct);
  ~MirrorHandler() override;
  void handle(const queue::Delivery& d, std::function<void(queue::Outcome)> done) override;

  // Rechecks (with Intacct access only): every `interval` the records due in
  // each tenant's recheck ZSET — read within their own WHENMODIFIED second —
  // are read again and applied. Several processes share the ZSET: a taken
  // record is leased for a minute, so a process that dies mid-recheck leaves
  // it to be taken again. Call stop_rechecks() before the handler goes.
  void start_rechecks(boost::asio::any_io_executor executor, std::vector<std::string> tenants,
                      std::chrono::milliseconds interval = std::chrono::milliseconds(250));
  void stop_rechecks();

 private:
  using Finish = std::function<void(std::string decision, queue::Outcome)>;
  // One run of the apply script (shared with MirrorSync).
  using Apply = detail::ApplyStep;
  static Apply read_apply(const queue::Envelope& e, const intacct::Row& row,
                          std::int64_t read_at_ms, std::string source = "intacct_read");
  // `then` gets the script's decision, or "error:<why>".
  void apply(const queue::Delivery& d, const Apply& a, std::function<void(std::string)> then);
  void settle(const queue::Delivery& d, std::string decision, Finish finish);
  void count_intacct_read(const queue::Envelope& e, std::string_view result);
  void resolve(std::shared_ptr<const queue::Delivery> d, Apply first, std::string decision,
               Finish finish);

  std::shared_ptr<redis::Connection> conn_;
  MirrorOptions options_;
  Metrics& metrics_;
  Clock& clock_;
  Log& log_;
  void recheck_due(const std::string& tenant);
  void recheck_one(const std::string& tenant, const std::string& member, std::int64_t lease);
  void recheck_answer(std::shared_ptr<queue::Delivery> d, std::int64_t lease,
                      detail::ReadAnswer answer,
                      std::function<void(std::string_view, std::int64_t)> finish);
  void recheck_dead(std::shared_ptr<queue::Delivery> d, const intacct::IntacctError& error,
                    std::function<void(std::string_view, std::int64_t)> finish);

  std::shared_ptr<intacct::ClientHub> intacct_;
  std::shared_ptr<detail::ReadBatcher> batcher_;
  std::shared_ptr<detail::ApplyBatcher> applier_;  // null when apply_batch is 1
  struct RecheckLoop;
  std::shared_ptr<RecheckLoop> rechecks_;
};

// ---- Payments ----------------------------------------------------------------
//
// PaymentHandler posts processor payments (queued Stripe events, source
// "stripe") into Intacct as ARPYMT records, exactly once per payment
// (PRODUCT.md §3, DESIGN-NOTES.md §6):
//  * Both event types of one payment (payment_intent.succeeded,
//    charge.succeeded) and every redelivery, reclaim, retry and replay meet
//    at the payment's record pay:<payment id> (see detail/payment_lua.hpp)
//    and its lease. The lease outlives a call's deadline and is renewed by a
//    heartbeat every lease/3, which also keeps the stream entry from being
//    reclaimed (queue::keep_pending); a second worker finding the lease held
//    retries later. Payments to one invoice are posted one at a time (a lock
//    per invoice reference, renewed with the lease, and kept by a payment
//    whose create may have run until it is settled or readback_wait + lease
//    pass, so the next payment sees a balance that includes it).
//  * Fresh payment: the invoice (metadata intacct_invoice: RECORDID, else
//    RECORDNO) or the customer (intacct_customer, by CUSTOMERID or NAME) is
//    read from Intacct — the balance, customer and currency must be current,
//    and the mirror may not hold the invoice yet — and mapped
//    (detail/payment_map.hpp). The intent (state posting, the ARPYMT body,
//    the deterministic function controlid) is recorded before the create is
//    sent with uniqueid=true; a retry sends exactly that body again.
//  * Success: state posted with Intacct's RECORDNO, the mirror's ARPYMT
//    record (when Intacct's own smart event has not brought it yet), audit
//    entries on payment and invoice linking each other, and the ack — one
//    script.
//  * Ambiguous failure (timeout, reset, 5xx, 524 after the request was sent),
//    a crash after the intent, or a duplicate error: state unknown; every
//    later attempt first reads back by DOCNUMBER (= the payment id). Found
//    and ours (customer and amount) → adopted as posted. Not found → read
//    back again after readback_interval (doubling), and only once
//    readback_wait has passed since the failure is the same body sent again
//    with the same controlid.
//  * Permanent failures (mapping refusals, Intacct's business errors) →
//    state failed and a dead letter with Intacct's errorno, description and
//    correction; a replay of that event tries again. Rejected credentials
//    open the tenant's circuit: the event is parked.
//  * charge.refunded: a full refund of a posted payment is reversed once
//    (reverse_arpayment, its own controlid, read back by RECORDNO after an
//    ambiguous failure: STATE Reversed); a partial refund is a dead letter
//    whose correction tells on-call what to do in Intacct; a refund of a
//    payment not posted yet is retried until it is.
//  * Abandoned (on-call discarded the payment as settled by hand, see
//    oncall/oncall.hpp) is final: any event of it is acked as "abandoned"
//    without a call to Intacct, and a refund of it is a dead letter
//    refund_of_abandoned_payment telling on-call to reverse it by hand.
//    Reconcile never settles it.
//  * invoice_not_found's correction points to the on-call fix: replay the
//    event with --set INVOICE=<number> (HTTP "set"), allowed while nothing was sent.
//  * Other event types are acked as ignored; so are payments naming no
//    Intacct invoice or customer (not the AR platform's).
// Metrics: isync_payments_total{tenant,result},
//          isync_payment_readbacks_total{tenant,result}.

using PaymentPolicy = detail::PaymentPolicy;

struct PaymentOptions {
  std::chrono::milliseconds lease{90'000};
  std::chrono::milliseconds readback_interval{15'000};
  std::chrono::milliseconds readback_wait{120'000};
  int audit_max_entries = 100;
  std::chrono::seconds audit_max_age{90LL * 24 * 3600};
  std::chrono::seconds done_retention{7LL * 24 * 3600};
};

class PaymentHandler : public queue::Handler {
 public:
  // `policies`: per tenant id. `intacct` may be null (payments then park).
  PaymentHandler(std::shared_ptr<redis::Connection> conn, PaymentOptions options,
                 std::map<std::string, PaymentPolicy> policies, Metrics& metrics, Clock& clock,
                 Log& log, boost::asio::any_io_executor executor,
                 std::shared_ptr<intacct::ClientHub> intacct);
  ~PaymentHandler() override;
  void handle(const queue::Delivery& d, std::function<void(queue::Outcome)> done) override;

  struct Core;

 private:
  std::shared_ptr<Core> core_;
};

// One payment as status shows it (from pay:<payment id>).
struct PaymentState {
  std::string payment_id, state, recordno, invoice, customer, amount, currency, error;
  std::int64_t since_ms = 0;  // start of the unsettled spell
  std::int64_t sends = 0;     // create requests sent
};

// The payments of `tenant` not settled yet (states unsent, posting, unknown,
// reversing, reverse_unknown), oldest first, at most `limit`.
void unsettled_payments(redis::Connection& conn, const std::string& tenant, int limit,
                        std::function<void(Result<std::vector<PaymentState>>)> done);

// ---- Status (PRODUCT.md §6) -------------------------------------------------
//
// One document for `intacct-sync status` and GET /v1/admin/status, read from
// Redis only (no Intacct call): per tenant the queue figures, the Intacct
// circuit and the API calls counted this UTC month, and the payments not
// settled yet. Nothing in it is a secret (the circuit's reason is Intacct's
// error summary; payments show ids, amounts and the last error summary).

// Unsettled payments listed per tenant; unsettled_count says how many exist.
inline constexpr int kStatusPaymentLimit = 100;

struct TenantStatus {
  std::string tenant;
  queue::TenantStats queue;
  std::int64_t oldest_pending_age_s = 0;  // 0 when nothing is pending
  bool circuit_open = false;              // isync:{t}:intacct:circuit holds an open circuit
  std::string circuit_reason;             // why it opened; "" when closed
  std::int64_t calls_this_month = 0;      // isync:{t}:intacct:calls:YYYY-MM (UTC month of now)
  // The tenant's configured monthly_call_budget (0 = none); not read from
  // Redis: the caller sets it from the configuration.
  std::int64_t monthly_call_budget = 0;
  std::vector<PaymentState> unsettled;  // oldest first, at most kStatusPaymentLimit
  std::int64_t unsettled_count = 0;     // all unsettled payments of the tenant
};

struct Status {
  std::int64_t at_ms = 0;  // the `now_ms` it was read for
  std::vector<TenantStatus> tenants;
};

// Reads the status of `tenants` (in that order) through `conn`, pipelined.
// Ages are measured against `now_ms`. Any Redis failure:
// Error{"unavailable", "Redis: <why>"}. `done` runs once, on the connection's
// strand.
void read_status(redis::Connection& conn, std::vector<std::string> tenants, std::int64_t now_ms,
                 std::function<void(Result<Status>)> done);

// {"tenants":[{"tenant","queue":{"depth","pending","retrying","parked","dead",
// "oldest_pending_age_s"},"intacct":{"circuit":"open"|"closed"[,"circuit_reason"],
// "calls_this_month","monthly_call_budget"},"payments":{"unsettled":[{"payment_id","state","since"
// (ISO 8601 UTC),"age_s","sends","invoice","customer","amount","currency",
// "recordno","last_error"}],"unsettled_count"}}]}
std::string status_json(const Status& status);

// The same as text for a terminal: one block per tenant, the unsettled
// payments as a table with their age and state.
std::string status_text(const Status& status);

// Routes each event by its source: "stripe" to `payments` (when set), every
// other source to `mirror`.
class EventRouter : public queue::Handler {
 public:
  EventRouter(queue::Handler& mirror, queue::Handler* payments)
      : mirror_(mirror), payments_(payments) {}
  void handle(const queue::Delivery& d, std::function<void(queue::Outcome)> done) override;

 private:
  queue::Handler& mirror_;
  queue::Handler* payments_;
};

class MirrorReader {
 public:
  explicit MirrorReader(std::shared_ptr<redis::Connection> conn);
  // collection: "customers" | "invoices" | "payments". Calls back with the JSON text of one
  // record as PRODUCT.md §6 shows, or Error{"not_found"} / Error{"unavailable"}.
  void get(const std::string& tenant, const std::string& collection, const std::string& recordno,
           std::function<void(Result<std::string>)> done);
  // ?by=id&id=X → JSON text {"records":[…]} (empty array when none); Error{"unavailable"}.
  void find_by_id(const std::string& tenant, const std::string& collection, const std::string& id,
                  std::function<void(Result<std::string>)> done);

 private:
  std::shared_ptr<redis::Connection> conn_;
};

}  // namespace isync::handlers
