// Outcomes (detail/outcomes.hpp), and file_dead_letter (queue.hpp), which
// writes the same document for an event that never went through the stream.
#include "queue/detail/outcomes.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cassert>
#include <utility>
#include <vector>

#include "queue/activity.hpp"
#include "queue/detail/scripts.hpp"
#include "queue/event_index.hpp"

namespace isync::queue {

namespace {

const char* class_name(FailureClass c) {
  switch (c) {
    case FailureClass::transient:
      return "transient";
    case FailureClass::permanent:
      return "permanent";
    case FailureClass::ambiguous:
      return "ambiguous";
  }
  return "transient";
}

}  // namespace

namespace detail {

const char* outcome_name(Outcome::Kind k) {
  switch (k) {
    case Outcome::Kind::done:
      return "done";
    case Outcome::Kind::retry:
      return "retry";
    case Outcome::Kind::dead:
      return "dead";
    case Outcome::Kind::park:
      return "park";
    case Outcome::Kind::unknown:
      return "unknown";
  }
  return "done";
}

void report_outcome(Metrics& metrics, Log& log, const Delivery& d, const Outcome& o,
                    double seconds) {
  metrics
      .histogram("isync_handler_seconds", "Handler time per delivery, in seconds",
                 {{"tenant", d.tenant}})
      .observe(seconds);
  metrics
      .counter("isync_events_handled_total", "Deliveries by outcome",
               {{"tenant", d.tenant}, {"outcome", outcome_name(o.kind)}})
      .inc();
  LogLine line;
  line.str("event_id", d.envelope.event_id)
      .str("tenant", d.tenant)
      .str("object", d.envelope.object)
      .str("key", d.envelope.key)
      .str("outcome", outcome_name(o.kind))
      .num("attempt", d.attempt)
      .num("duration_us", static_cast<std::int64_t>(seconds * 1e6));
  if (!o.result.empty()) line.str("result", o.result);
  if (o.kind != Outcome::Kind::done) {
    line.str("code", o.failure.code);
    if (!o.failure.errorno.empty()) line.str("errorno", o.failure.errorno);
    if (!o.failure.controlid.empty()) line.str("control_id", o.failure.controlid);
  }
  const bool warn = o.kind == Outcome::Kind::retry || o.kind == Outcome::Kind::dead ||
                    o.kind == Outcome::Kind::unknown;
  log.write(warn ? Level::warn : Level::info, "event handled", line);
}

std::string attempt_json(const Failure& f, std::int64_t at_ms, int attempt) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  auto str = [&w](const char* k, const std::string& v) {
    w.Key(k);
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  };
  w.StartObject();
  str("kind", "failure");
  w.Key("at");
  w.Int64(at_ms);
  w.Key("attempt");
  w.Int(attempt);
  str("class", class_name(f.cls));
  str("code", f.code);
  str("message", f.message);
  str("errorno", f.errorno);
  str("description", f.description);
  str("correction", f.correction);
  str("controlid", f.controlid);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

void file_outcome(redis::Connection& conn, const Delivery& d, const std::string& raw_envelope,
                  const Outcome& o, std::int64_t now, const WorkerOptions& options, double random01,
                  redis::Handler done) {
  assert(o.kind == Outcome::Kind::retry || o.kind == Outcome::Kind::dead ||
         o.kind == Outcome::Kind::park);
  std::vector<std::string> args(kMoveArgCount);
  std::string zset;
  std::int64_t first = d.first_failure_ms;
  int attempts = d.attempt;
  std::string attempt_record = attempt_json(o.failure, now, d.attempt);
  std::int64_t score = now;
  if (o.kind == Outcome::Kind::retry) {
    if (first == 0) first = now;
    score =
        now +
        (o.retry_after.count() > 0
             ? o.retry_after.count()
             : backoff_delay(d.attempt, options.retry_base, options.retry_cap, random01).count());
    args[kMoveState] = "retrying";
    zset = "retry";
  } else if (o.kind == Outcome::Kind::dead) {
    if (first == 0) first = now;
    args[kMoveState] = "dead";
    zset = "dead";
  } else {
    // Parking is not the event's fault: no attempt is used or recorded.
    attempts = d.attempt - 1;
    attempt_record.clear();
    args[kMoveState] = "parked";
    zset = "parked";
  }
  args[kMoveGroup] = std::string(kGroup);
  args[kMoveEntry] = d.entry_id;
  args[kMoveEnvelope] = raw_envelope;
  args[kMoveAttempt] = std::move(attempt_record);
  args[kMoveAttempts] = std::to_string(attempts);
  args[kMoveFirstFailure] = std::to_string(first);
  args[kMoveScore] = std::to_string(score);
  args[kMoveReason] =
      o.failure.code.empty() ? o.failure.message : o.failure.code + ": " + o.failure.message;
  args[kMoveNow] = std::to_string(now);
  args[kMoveEventId] = d.envelope.event_id;
  args[kMoveCode] = o.failure.code;
  args[kMoveErrorno] = o.failure.errorno;
  conn.eval(move_script(),
            {d.stream, key(d.tenant, "ev:" + d.envelope.event_id), key(d.tenant, zset)},
            std::move(args), std::move(done));
}

}  // namespace detail

Outcome redis_failure(bool may_have_run, const std::string& what) {
  Outcome o;
  if (may_have_run) {
    o.kind = Outcome::Kind::unknown;
    o.failure.cls = FailureClass::ambiguous;
    o.failure.code = "redis_reply_lost";
    o.failure.message = what +
                        "; Redis may have committed it before the reply was lost: if it did, the "
                        "event is done, otherwise it is reclaimed after the visibility timeout";
    return o;
  }
  o.kind = Outcome::Kind::retry;
  o.failure.cls = FailureClass::transient;
  o.failure.code = "redis_unavailable";
  o.failure.message = what + "; it will be retried";
  return o;
}

void file_dead_letter(redis::Connection& conn, const Envelope& env, const Failure& failure,
                      std::int64_t now_ms, std::function<void(Result<void>)> done) {
  static const redis::Script script(std::string(kEventIndexLua) + R"lua(
redis.call('HSET', KEYS[1], 'event_id', ARGV[1], 'envelope', ARGV[2], 'state', 'dead',
           'attempts', '[' .. ARGV[3] .. ']', 'attempt', '1', 'first_failure', ARGV[4],
           'reason', ARGV[5], 'updated_at', ARGV[4], 'code', ARGV[6], 'errorno', ARGV[7])
redis.call('PERSIST', KEYS[1])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
isync_evindex(KEYS[1])
redis.call('HINCRBY', KEYS[3], ARGV[8], 1)
redis.call('EXPIRE', KEYS[3], ARGV[9])
return 1
)lua");
  const std::string reason =
      failure.code.empty() ? failure.message : failure.code + ": " + failure.message;
  // Counted as a dead letter of its minute (activity.hpp), with the document.
  conn.eval(script,
            {key(env.tenant, "ev:" + env.event_id), key(env.tenant, "dead"),
             activity_key(env.tenant, now_ms)},
            {env.event_id, encode(env), detail::attempt_json(failure, now_ms, 1),
             std::to_string(now_ms), reason, failure.code, failure.errorno,
             activity_field(now_ms, ActivityKind::dead), std::to_string(kActivityTtl.count())},
            [done = std::move(done)](boost::system::error_code ec, redis::Reply r) {
              if (ec) return done(make_error("unavailable", "dead letter: " + ec.message()));
              if (r.is_error()) return done(make_error("unavailable", "dead letter: " + r.str));
              done(Result<void>{});
            });
}

}  // namespace isync::queue
