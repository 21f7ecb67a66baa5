// The on-call engine's Lua scripts (oncall.hpp). Internal to oncall/.
//
// Every script gets the tenant's key prefix isync:{t}: as ARGV[1] and builds
// its keys from it (like queue/'s scripts); KEYS[1] is always a key of the
// tenant, so the script runs in the tenant's slot.
//
// Keys of on-call, under the tenant's hash tag:
//   job:<id>          hash: the job (fields as in oncall::Job, plus position
//                     and skipped_samples, a JSON array of {id,state,code})
//   job:<id>:ids      list: the ids the job matched when it was created
//   jobs              ZSET of the tenant's job ids by created_at (ms)
//   jobs:running      ZSET of its running jobs by created_at (ms)
//   oncall:bucket     hash {tokens, ts}: the replay rate's token bucket
#pragma once

#include "redis/redis.hpp"

namespace isync::oncall::detail {

// Acts on a batch of ids. KEYS: 1 any key of the tenant. ARGV: 1 prefix,
// 2 action (replay | discard), 3 now ms, 4 actor, 5 reason, 6 "1" = settled
// by hand, 7 lease ms, 8 lease owner, then the ids (<= 100).
// Returns, per id in order, {code, state}: code "" when acted, else
// not_found (state ""), already_pending, invalid_state, payment_unsettled,
// payment_in_progress, payment_abandoned.
const redis::Script& act_script();

// Rewrites one dead payment event's snapshot, then replays it.
// KEYS: 1 the event's document. ARGV: 1 prefix, 2 event id, 3 now ms,
// 4 actor, 5 reason, 6 the envelope as read (compare-and-set), 7 the new
// envelope, 8 fields JSON, 9 was JSON.
// Returns {code, state}: "" (set and replayed), not_found, invalid_state,
// changed (the envelope changed since it was read), payment_may_be_posted,
// or any code of the replay.
const redis::Script& set_script();

// Creates a job whose ids were pushed to job:<id>:ids. KEYS: 1 job hash.
// ARGV: 1 prefix, 2 job id, 3 now ms, then field/value pairs. Returns 1.
const redis::Script& create_job_script();

// One step of a job. KEYS: 1 job hash. ARGV: 1 prefix, 2 job id, 3 rate
// (events per second), 4 burst, 5 batch max, 6 lease ms, 7 lease owner,
// 8 now ms.
// Returns {verdict, n}: verdict gone (no such job), finished (not running),
// wait (no token yet), stepped (n ids acted on or skipped; the job may have
// finished with it: then verdict done).
const redis::Script& step_script();

// Cancels a running job. KEYS: 1 job hash. ARGV: 1 prefix, 2 job id,
// 3 now ms. Returns 1 when it was running, 0 otherwise, -1 when absent.
const redis::Script& cancel_script();

// Deletes finished jobs that finished before the cutoff. KEYS: 1 jobs ZSET.
// ARGV: 1 prefix, 2 cutoff ms, 3 limit. Returns the number deleted.
const redis::Script& expire_jobs_script();

}  // namespace isync::oncall::detail
