// A delivery's outcome once its handler reported it: how it is logged and
// counted, and what a retry, a dead letter or a parking leaves in Redis (the
// event's document with its attempt history, and the move out of the stream
// into a ZSET, atomically with the ack). The worker pool decides when; this
// decides what is written.
#pragma once

#include <cstdint>
#include <string>

#include "core/core.hpp"
#include "queue/queue.hpp"
#include "redis/redis.hpp"

namespace isync::queue::detail {

// The outcome's word in the "event handled" log line and in
// isync_events_handled_total{outcome}.
const char* outcome_name(Outcome::Kind k);

// The event's one "event handled" log line (PRODUCT.md §6), and
// isync_events_handled_total{tenant,outcome} and isync_handler_seconds.
// `seconds`: from delivery to outcome.
void report_outcome(Metrics& metrics, Log& log, const Delivery& d, const Outcome& o,
                    double seconds);

// One attempt of an event's history (the document's "attempts" array), JSON.
std::string attempt_json(const Failure& f, std::int64_t at_ms, int attempt);

// Acks `d`'s entry and files the event under the retry, dead or parked ZSET
// with its document, in one script (move_script). A retry is due after
// o.retry_after when set, else after backoff_delay drawn with `random01`.
// Parking uses no attempt. `done` gets the script's answer: 1 filed, 0 the
// entry was no longer pending (settled elsewhere) and nothing was written.
// REQUIRES: o.kind is retry, dead or park.
void file_outcome(redis::Connection& conn, const Delivery& d, const std::string& raw_envelope,
                  const Outcome& o, std::int64_t now, const WorkerOptions& options, double random01,
                  redis::Handler done);

}  // namespace isync::queue::detail
