// The mirror's RECORDNO index and the reconcile fence, as Lua snippets the
// write scripts include. Internal to handlers/ (reconcile reads the index
// through handlers' public API).
//
// Index, per tenant and object (OBJECT = CUSTOMER | ARINVOICE | ARPYMT):
//   isync:{t}:idx:<OBJECT>   ZSET: member = RECORDNO text, score = RECORDNO
//   isync:{t}:idxv:<OBJECT>  HASH: RECORDNO -> "<v>" (the record's version,
//                            0 for a payment the posted script wrote and no
//                            read has brought yet); for ARINVOICE
//                            "<v>:<TOTALDUE>" (the mirrored TOTALDUE text,
//                            empty when the mirror has none)
// Only live records are indexed: a tombstone or a draft marker leaves it.
// Every script that writes rec:<OBJECT>:<n> calls isync_index(rec_key) after
// its write, so the entry is always what the record holds.
//
// Fence: a reconcile run holds isync:{t}:reconcile:lock whose value is its
// fencing token. A write made on the run's behalf passes the lock key and the
// token; isync_fenced() is true when the lock no longer holds that token (the
// run lost its lock): the script must then write nothing.
#pragma once

#include "redis/redis.hpp"

namespace isync::handlers::detail {

// Defines `local function isync_index(rec_key, written)`. Record keys look
// like isync:{t}:rec:<OBJECT>:<recordno>. written (optional): {v, TOTALDUE}
// when the caller has just written the record live in full, so the entry is
// made from them instead of a read of the record.
extern const char* const kIndexLua;

// Defines `local function isync_fenced(lock_key, token)`: false when token is
// empty (not a reconcile write) or the lock holds exactly `token`.
extern const char* const kFenceLua;

// One page of an index. KEYS: 1 idx:<OBJECT>, 2 idxv:<OBJECT>. ARGV: 1 record
// key prefix (isync:{t}:rec:<OBJECT>:), 2 after (exclusive), 3 upto
// (inclusive, or "+inf"), 4 limit. Returns {recordno, value, …} (value as in
// idxv) for up to `limit` entries in RECORDNO order. An entry whose record is
// missing or not live is removed and skipped (the page goes on past it, so a
// short page means the range is exhausted); a live record without a value is
// indexed again.
const redis::Script& index_page_script();

// One back-fill step. KEYS: 1 the state hash (cursor, scanned, ready), 2…
// record keys from one SCAN step. ARGV: 1 the cursor the SCAN started from,
// 2 the cursor it returned. Indexes each record from what it holds, then
// stores the new cursor and count, and ready = 1 when the cursor is "0" —
// unless the stored cursor is no longer ARGV[1] (another process moved on):
// then it only indexes. Returns {ready (0|1), scanned}.
const redis::Script& backfill_script();

}  // namespace isync::handlers::detail
