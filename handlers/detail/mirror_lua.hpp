// The mirror's Lua scripts. Internal to handlers/.
//
// Record hash rec:<OBJECT>:<recordno> (every value a string):
//   v      version (WHENMODIFIED, UTC epoch seconds)
//   wm     WHENMODIFIED as received
//   del    "1" for a tombstone
//   draft  "1" for the hidden marker of a removed (or never mirrored) draft
//          invoice: it keeps the version so that an older event cannot bring
//          the invoice back; readers treat it as not found
//   ev     id of the last event that changed the record
//   f      fields as one JSON object (Intacct names -> values)
//   rt     ms time the fields were read from Intacct (absent when they came
//          from a smart event's snapshot); see "settled" in the script
//   fv     per-field version as one JSON object: the version of the event
//          that last set each field. "Equal version, different content" is a
//          field set at that same version with another value; a field only
//          known from an older version is merged, so partial snapshots of one
//          second merge in any order. "" = every field at v (the fields were
//          stored whole from one snapshot or read: the common case, kept short).
#pragma once

#include "redis/redis.hpp"

namespace isync::handlers::detail {

// Apply + ack. KEYS: 1 stream, 2 event doc (queue::ack_inputs), 3 record,
// 4 audit, 5 the tenant's recheck ZSET (members "<OBJECT>:<recordno>", score
// = due ms), 6 the reconcile lock key (detail/mirror_index.hpp; any key of
// the tenant when not fenced: it is only read when ARGV[21] is set), 7 the
// tenant's recheck channels hash (member -> comma-separated channels of the
// events that put it on the recheck ZSET; no field when none had a channel).
// ARGV: 1-3 ack inputs, then the kArg* positions below.
// Returns {decision, changed field count}; decision is one of applied,
// tombstoned, removed, ignored, deferred (all acked), reread, thin (not
// acked), fenced (the fence no longer holds: nothing written, not acked).
// deferred: the read is due on the recheck schedule (kArgDeferNow); the
// event's channel, if any, joins the member's channels.
// A read made for the recheck schedule (kArgRecheckLease) writes its audit
// entry with the member's channels instead of kArgChannel, and removes them
// when the member still holds that lease.
// Kinds read/readdraft carry a record read from Intacct (authoritative: it
// replaces the fields and settles a same-second conflict); gone says a read
// found no such record (a tombstone).
// Whatever the decision (fenced aside), the record's RECORDNO index entry is
// set from what the record holds before the script returns (isync_index).
// The apply's decision text (Lua, mirror_lua.cpp), in two parts the apply
// and the batched apply scripts wrap (mirror_scripts.cpp): the functions and
// the state they read, made once per script call (apply_defs), and one
// event's body, run as a function of (KEYS, ARGV) (apply_body).
const char* apply_defs();
const char* apply_body();

const redis::Script& apply_script();

enum ApplyArg : int {
  kArgAction = 4,        // add | set | delete
  kArgVersion = 5,       // integer text
  kArgWhenmodified = 6,  // as received
  kArgEventId = 7,
  kArgSource = 8,
  kArgNowIso = 9,           // audit "at"
  kArgAuditCutoffIso = 10,  // entries with an older "at" are dropped
  kArgAuditMax = 11,
  kArgTombstoneTtl = 12,  // seconds
  kArgIdField = 13,       // CUSTOMERID | RECORDID | DOCNUMBER
  kArgIdPrefix = 14,      // queue::key(tenant, "id:<OBJECT>:")
  kArgRecordno = 15,
  kArgKind = 16,      // snapshot | thin | draft | delete | read | readdraft | gone
  kArgSnapshot = 17,  // JSON object of the snapshot fields ("{}" when thin)
  kArgReadAt = 18,    // read/readdraft/gone: ms time of the read from Intacct; else ""
  kArgSettleMs = 19,  // a read is settled this long after its WHENMODIFIED second ended
  kArgDeferNow = 20,  // thin/conflict: now (ms) to defer the read until settled; "" = read at once
  kArgFenceToken = 21,  // a reconcile run's fencing token; "" = not fenced (events)
  kArgChannel = 22,     // the envelope's channel ("trigger"); "" = none (no "channel" in the audit)
  kArgRecheckLease = 23,  // a recheck's read: the lease score it was taken under; else ""
  // kArgSnapshot's names in its order as a JSON array ("" = not given).
  // Given, the snapshot must be record_doc.hpp's SnapshotText json (names
  // in order, each once): the script stores it as it is when the fields it
  // leaves are exactly the snapshot's (a new record, a read, every stored
  // field named), all at this version (fv "").
  kArgSnapshotNames = 24,
  // With kArgSnapshotNames: the snapshot's value of kArgIdField and of
  // TOTALDUE ("" = none), and its field count; a new record is then stored
  // without decoding the snapshot at all.
  kArgSnapshotId = 25,
  kArgSnapshotTotaldue = 26,
  kArgSnapshotCount = 27,
};

// apply_script for several events of one tenant in one call. ARGV: 1 keys
// per event (7), 2 arguments per event (27), 3 time budget in µs ("" or 0 =
// none), 4 events, 5 and 6 which key and argument positions all events share
// (a character per position, '1' = shared), then the shared arguments once,
// then each event's other arguments in position order. KEYS: the shared
// keys once, then each event's other keys in position order. Returns one reply per event, in order:
// what apply_script returns,
// {'error', message} when that event's apply raised an error (the other
// events are not affected), or {'later'} for every event after the budget
// ran out (looked at before every 4th event; the first always runs): those
// were not run at all.
const redis::Script& apply_batch_script();

// Read one record. KEYS: 1 record, 2 audit. ARGV: 1 audit entries limit.
// Returns {} when absent (or a draft marker), else {v, wm, del, f, {audit…}}.
const redis::Script& read_script();

// Read the records of an id set. KEYS: 1 id set. ARGV: 1 record key prefix,
// 2 audit key prefix, 3 record limit, 4 audit entries limit. Returns a list of
// {recordno, v, wm, del, f, {audit…}} in RECORDNO order.
const redis::Script& find_script();

}  // namespace isync::handlers::detail
