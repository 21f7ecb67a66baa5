// The payment ledger's Lua scripts. Internal to handlers/.
//
// Payment hash pay:<payment id> (every value a string):
//   state        "" (nothing yet) | unsent | posting | unknown | posted | failed
//                | reversing | reverse_unknown | reversed | abandoned (final:
//                on-call discarded it as settled by hand; no event of it
//                reaches Intacct again)
//   owner, until the lease: who works on the payment, and until when (ms)
//   since        ms: when the current unsettled spell began (posting/unknown)
//   sends        create requests sent so far; sent_at when the last was sent
//   controlid    the create's function controlid; body the ARPYMT as JSON
//   rcontrolid, rsends, rsince, rsent_at   the same for the reversal
//   recordno     Intacct's ARPYMT RECORDNO once posted
//   invoice, customer, amount, currency   what was posted (for on-call)
//   lock         the key of the invoice lock the payment takes (when it takes
//                one), so reconcile can free it
//   event        the event that recorded the intent; failed_event the one that
//                failed; error the last failure's summary
// The ZSET payments:unsettled holds every payment whose state is unsent,
// posting, unknown, reversing or reverse_unknown (score: since, ms).
// A lock pay-lock:<invoice reference> (value: the payment id) keeps payments
// to one invoice one at a time; it stays with a payment whose create may have
// run (posting, unknown) until it is settled or the hold runs out.
#pragma once

#include <string>

#include "redis/redis.hpp"

namespace isync::handlers::detail {

// KEYS: 1 pay, 2 lock (an unused key of the tenant when none).
// ARGV: 1 owner, 2 now ms, 3 lease ms, 4 event id, 5 op (post | reverse),
//       6 "1" to take the lock.
// Returns {verdict, state, recordno, since, sends, body, controlid, until,
//          failed_event, rsince, rsends, amount, customer, invoice, sent_at,
//          rsent_at}:
// verdict ok | busy (another owner holds the lease; `until` says how long)
// | invoice_busy (another payment to the invoice is being posted).
const redis::Script& take_script();
// The take script's Lua as a function `local function isync_take(KEYS, ARGV)`
// returning the same answer, for a script of another module that takes the
// lease as one step of its own (on-call's discard of a payment event).
const std::string& take_lua_function();

// Renews the lease and the lock while the owner still holds them.
// KEYS: 1 pay, 2 lock. ARGV: 1 owner, 2 now ms, 3 lease ms. Returns 1 or 0.
const redis::Script& renew_script();

// Records the intent (before each create or reverse request).
// KEYS: 1 pay, 2 unsettled. ARGV: 1 owner, 2 now ms, 3 op (post | reverse),
// 4 payment id, 5 controlid, 6 body, 7 event id, 8 invoice, 9 customer,
// 10 amount, 11 currency. Returns 1, or 0 when the lease was lost.
const redis::Script& intent_script();

// Leaves the payment for a later attempt and releases lease and lock.
// KEYS: 1 pay, 2 lock, 3 unsettled. ARGV: 1 owner, 2 now ms, 3 new state
// ("" = unchanged), 4 "1" = restart the unsettled spell at now, 5 error
// summary, 6 payment id, 7 "1" = the permanent failure of event ARGV[8],
// 9 ms to keep holding the invoice lock while the payment is posting or
// unknown (absent or 0: release it).
const redis::Script& release_script();

// Posted and reversed each come in two modes sharing one body (see
// mirror_index.hpp for the index and the fence):
//  * the worker's (posted_script, reversed_script): the step acks the stream
//    entry (KEYS 1-2, ARGV 1-3: queue::ack_inputs); audit source "stripe";
//  * reconcile's (posted_settle_script, reversed_settle_script): nothing is
//    acked (KEYS 1-2 and ARGV 1-3 are unused: pass any key of the tenant and
//    empty args); audit source "reconcile"; the fence's lock key and token
//    come last (k*FenceKey, k*FenceToken). Writes nothing and returns -1 when
//    fenced (the lock no longer holds the token), 0 when the lease is no
//    longer ARGV[4]'s or the payment left the states it settles (posted:
//    posting, unknown; reversed: reversing, reverse_unknown).
// Both index rec:ARPYMT:<n> (isync_index) after writing: a payment the posted
// step wrote is indexed with version 0 until a read brings Intacct's own.

// Posted (or adopted) + ack, in one step. KEYS: 1-2 ack inputs, 3 pay,
// 4 lock, 5 unsettled, 6 rec:ARPYMT:<n>, 7 audit:ARPYMT:<n>, 8 audit of the
// invoice (or an unused key), 9 id:ARPYMT:<payment id>, 10 rec of the invoice.
// ARGV: 1-3 ack inputs, then the kPosted* positions. Returns 1.
const redis::Script& posted_script();
enum PostedArg : int {
  kPostedOwner = 4,
  kPostedRecordno = 5,
  kPostedNowMs = 6,
  kPostedNowIso = 7,
  kPostedFields = 8,  // JSON object: the mirror record's fields when it has none yet
  kPostedPaymentId = 9,
  kPostedInvoice = 10,  // invoice RECORDNO, "" for an advance
  kPostedAuditMax = 11,
  kPostedResult = 12,  // posted | adopted
  kPostedEventId = 13,
  kPostedAuditTtl = 14,    // seconds: an invoice audit list without its record expires
  kPostedFenceKey = 11,    // KEYS index (settle mode): the reconcile lock
  kPostedFenceToken = 15,  // ARGV index (settle mode): the run's fencing token
};
const redis::Script& posted_settle_script();

// Reversed + ack. KEYS: 1-2 ack inputs, 3 pay, 4 unsettled, 5 rec:ARPYMT:<n>,
// 6 audit:ARPYMT:<n>, 7 audit of the invoice (or an unused key), 8 its rec.
// ARGV: 1-3 ack inputs, 4 owner, 5 now ms, 6 now iso, 7 payment id,
// 8 event id, 9 audit max, 10 invoice RECORDNO, 11 audit ttl seconds. Returns 1.
// Settle mode: KEYS[9] the reconcile lock, ARGV[12] the fencing token.
const redis::Script& reversed_script();
const redis::Script& reversed_settle_script();
enum ReversedFence : int { kReversedFenceKey = 9, kReversedFenceToken = 12 };

// Ack only (an event that needs nothing more). KEYS/ARGV: the ack inputs.
const redis::Script& ack_script();

// ---- reconcile (payment_settle_lua.cpp) ----

// Copies the members of payments:unsettled with score <= cutoff into a list
// of the run's own (a ZSET, so it pages by rank however the ledger changes
// meanwhile), which expires after `ttl` seconds. KEYS: 1 unsettled, 2 the
// copy, 3 reconcile lock. ARGV: 1 cutoff ms, 2 ttl s, 3 fencing token.
// Returns the number copied, or -1 when fenced (nothing copied).
const redis::Script& settle_snapshot_script();

// Read-only: for each payment id in ARGV (KEYS: 1 dead ZSET, 2 retry ZSET,
// then pay:<id> of each, in order), kSettlePeekWidth values: state, owner,
// until, the event that settles it (revent for reversing / reverse_unknown,
// else event), recordno, body, invoice, "1" when that event is a dead letter
// else "0", its retry score ("" when not retrying), lock.
const redis::Script& settle_peek_script();
inline constexpr int kSettlePeekWidth = 10;

// Makes a retrying event due now. KEYS: 1 retry ZSET, 2 reconcile lock.
// ARGV: 1 event id, 2 now ms, 3 fencing token ("" = not fenced). Returns -1
// when fenced (nothing written), 1 when the event was due later and is now
// due, 2 when it was already due, 0 when it is not retrying (pending,
// parked, dead or done: left alone).
const redis::Script& make_due_script();

}  // namespace isync::handlers::detail
