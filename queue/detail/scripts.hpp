// The queue's Lua scripts. Each runs atomically, so an event is always in
// exactly one place: the stream (undelivered or pending), the retry, parked
// or dead ZSET, or gone (done). Keys not passed in KEYS are built from a
// prefix that carries the tenant's hash tag, so all keys share one slot.
#pragma once

#include "redis/redis.hpp"

namespace isync::queue::detail {

// KEYS: 1 dedup key, 2 stream.  ARGV: 1 event_id, 2 window s, 3 envelope.
// Returns {event_id, duplicate 0|1}.
const redis::Script& accept_script();

// KEYS: 1 stream, 2.. dedup keys (at least one).  ARGV: as accept_script.
// The first dedup key found makes a duplicate: the keys before it are then
// set to its event id (best effort: a refused SET, e.g. OOM, is ignored), the
// ones after it are left alone. None found: all are set and the envelope is
// added. Returns as accept_script.
const redis::Script& accept_any_script();

// Acks and deletes an entry and files the event under a ZSET.
// KEYS: 1 stream, 2 event doc, 3 target ZSET (retry | parked | dead).
// ARGV: 1 group, 2 entry id, 3 state (retrying | parked | dead), 4 envelope,
//       5 attempt record JSON ('' = none), 6 attempts so far (field "a" when
//       moved back), 7 first failure ms, 8 score, 9 reason, 10 now ms,
//       11 event id, 12 code and 13 errorno of the attempt (stored with it;
//       left as they were when there is no attempt).
// Sets updated_at and files the document in the event index. Old dead
// letters are not purged here: the index's sweep removes them.
// Returns 1, or 0 when the entry was no longer pending (another consumer
// settled it first) and nothing was written.
const redis::Script& move_script();
enum MoveArg {
  kMoveGroup = 0,
  kMoveEntry,
  kMoveState,
  kMoveEnvelope,
  kMoveAttempt,
  kMoveAttempts,
  kMoveFirstFailure,
  kMoveScore,
  kMoveReason,
  kMoveNow,
  kMoveEventId,
  kMoveCode,
  kMoveErrorno,
  kMoveArgCount
};

// Moves due members of a ZSET back onto the stream with e, a, f from their
// documents, each now pending (updated_at set, re-filed in the event index).
// KEYS: 1 ZSET, 2 stream. ARGV: 1 max score, 2 doc prefix, 3 limit, 4 now ms
// ('' or absent = Redis TIME). Returns the number moved.
const redis::Script& release_script();

}  // namespace isync::queue::detail
