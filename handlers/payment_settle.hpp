// PaymentSettler — the payments part of the daily reconciliation (PRODUCT.md
// §4): settles ledger entries (detail/payment_lua.hpp) that stayed unsettled
// for longer than readback_wait, by reading Intacct. It never sends a write
// to Intacct itself: a payment that is not there is left to its worker, whose
// retrying event is made due now.
//
// Contract:
//  * Which entries: the members of payments:unsettled whose unsettled spell
//    began at least readback_wait ago, as they are when settle() starts
//    (copied to a list of the run's own, so entries settled or rescheduled
//    meanwhile neither shift nor repeat the walk), oldest first, 100 at a time.
//    Entries of any other state (posted, failed, an `abandoned` one from
//    on-call) are never touched and not examined.
//  * Per entry: one whose settling event (`revent` for reversing /
//    reverse_unknown, else `event`) is a dead letter is left alone and
//    reported (SettleError code "payment_dead_letter": on-call replays it).
//    Otherwise its lease is taken with the worker's take script (never the
//    invoice lock); a held lease → counted busy and skipped. Then:
//      posting / unknown: read back by DOCNUMBER (= payment id). Same customer
//        and amount → adopted: posted without acking anything, leaves the
//        unsettled list, the invoice lock is deleted if this payment holds it,
//        the mirror's rec:ARPYMT:<n> is written when absent and indexed.
//        Another customer or amount (a conflict) or not found → its event is
//        made due now if it is in `retry` (pending and parked events are left
//        alone); the worker then settles it, docnumber_conflict included.
//      reversing / reverse_unknown: read by RECORDNO. STATE Reversed or Voided
//        → reversed (the worker's reversed step, without the ack). Otherwise
//        its refund event is made due now if retrying. A reversal is never
//        adopted by DOCNUMBER (that read always finds the payment itself).
//      unsent: its event is made due now if retrying.
//    The lease is released when the entry is done with. It is taken for
//    options.lease and not renewed: should a read outlast it and a worker
//    take the entry meanwhile, the settle step sees the lease is no longer
//    its own, writes nothing and counts the entry busy.
//  * Cost: read-backs are pooled across pages — up to 100 DOCNUMBERs per
//    query (`in`), up to 100 RECORDNOs per reversal read — so a run makes
//    ⌈read-backs/100⌉ + ⌈reversal reads/100⌉ calls, one at a time.
//  * Fence: settle starts only while the lock holds `fence.token`, and every
//    write (adopt, reverse, make due) checks it again in its own script. When
//    the lock does not hold the token, nothing more is written (leases taken
//    are released) and settle ends with Error{"fenced"}.
//  * dry_run: reads Redis and Intacct, counts what it would do, and changes
//    no ledger entry, lease, event or mirror record (only the run's own list
//    of entries is written, and deleted at the end).
//  * Errors: settle's Result is an Error only when the run cannot go on —
//    "unavailable" (Redis), "fenced", "circuit_open" (the tenant's credentials
//    were rejected). An Intacct failure of a read is final (the caller
//    retried it): it ends the payments part with the error in
//    SettleCounts::errors (code "intacct_error", Intacct's errorno and
//    correction) and the counts so far. Leases held when it ends are released.
//  * Threads: settle() may be called from any thread; `done` runs once, on
//    the Redis connection's strand. One
//    settle() at a time per tenant (the reconcile lock sees to it); settles
//    of different tenants may run at once. Metrics, clock and log must
//    outlive every settle in flight.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/core.hpp"
#include "handlers/fence.hpp"
#include "handlers/handlers.hpp"
#include "intacct/client.hpp"
#include "redis/redis.hpp"

namespace isync::handlers {

// Runs one gateway request of `functions` (reads only) and calls back with
// its outcome: the caller serialises the calls, retries transient failures
// and counts them, so an outcome with an error is final.
using CallFn =
    std::function<void(std::vector<intacct::Function>, std::function<void(intacct::CallOutcome)>)>;

struct SettleError {
  std::string code;                 // payment_dead_letter | intacct_error
  std::string message;              // what happened, which payment, what to do
  std::string payment_id;           // "" for a read that failed for several
  std::string errorno, correction;  // Intacct's, for intacct_error
};

struct SettleCounts {
  int examined = 0;      // unsettled entries old enough, in a state settle handles
  int adopted = 0;       // posting / unknown found in Intacct and now posted
  int made_due = 0;      // events moved from later to now in `retry`
  int reversed = 0;      // reversing / reverse_unknown found reversed and now reversed
  int conflicts = 0;     // DOCNUMBER found with another customer or amount
  int busy = 0;          // lease held by a worker: skipped
  int dead_letters = 0;  // settling event is a dead letter: left for on-call
  int docnumber_reads = 0, reversal_reads = 0;  // Intacct calls made, by kind
  std::vector<SettleError> errors;              // payment_dead_letter entries, Intacct failures
};

class PaymentSettler {
 public:
  // `options`: the payment handler's (lease, audit_max_entries,
  // audit_max_age).
  PaymentSettler(std::shared_ptr<redis::Connection> conn, PaymentOptions options, Clock& clock,
                 Log& log);

  // Settles the tenant's ledger entries unsettled for longer than
  // readback_wait (see the contract above). Every Intacct call goes through
  // `call`.
  void settle(std::string tenant, CallFn call, Fence fence, std::chrono::milliseconds readback_wait,
              bool dry_run, std::function<void(Result<SettleCounts>)> done);

 private:
  std::shared_ptr<redis::Connection> conn_;
  PaymentOptions options_;
  Clock& clock_;
  Log& log_;
};

}  // namespace isync::handlers
