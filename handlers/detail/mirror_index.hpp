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

namespace isync::handlers::detail {

// Defines `local function isync_index(rec_key)`. Record keys look like
// isync:{t}:rec:<OBJECT>:<recordno>.
extern const char* const kIndexLua;

// Defines `local function isync_fenced(lock_key, token)`: false when token is
// empty (not a reconcile write) or the lock holds exactly `token`.
extern const char* const kFenceLua;

}  // namespace isync::handlers::detail
