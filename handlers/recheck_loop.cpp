// MirrorHandler's rechecks: the tenant's read schedule (its recheck ZSET) is
// worked every interval, its due records leased, read together and applied.
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "handlers/detail/read_batcher.hpp"
#include "handlers/detail/read_failure.hpp"
#include "handlers/detail/record_doc.hpp"
#include "handlers/handlers.hpp"

namespace isync::handlers {

using detail::intacct_failure;

namespace {

constexpr std::int64_t kRecheckLeaseMs = 60'000;
constexpr int kRecheckBatch = 200;

// KEYS: 1 recheck ZSET. ARGV: 1 now ms, 2 lease ms, 3 limit. Leases the due
// members (score = now + lease) and returns {lease score, {members…}}.
const redis::Script& take_due_script() {
  static const redis::Script script(R"lua(
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local lease = tonumber(ARGV[1]) + tonumber(ARGV[2])
for _, m in ipairs(due) do redis.call('ZADD', KEYS[1], lease, m) end
return {tostring(lease), due}
)lua");
  return script;
}

// KEYS: 1 recheck ZSET, 2 recheck channels hash (detail/mirror_lua.hpp).
// ARGV: 1 member, 2 lease score, 3 new due ms or "". Removes the member and
// its channels (or, with a due, schedules it again) unless it was scheduled
// anew meanwhile.
const redis::Script& recheck_done_script() {
  static const redis::Script script(R"lua(
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  if ARGV[3] == '' then
    redis.call('ZREM', KEYS[1], ARGV[1])
    redis.call('HDEL', KEYS[2], ARGV[1])
  else
    redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  end
end
return 1
)lua");
  return script;
}

// After a transient failure a recheck is due again in 2–4 s; while the
// circuit is open, in a minute (each attempt then fails without a call).
constexpr std::int64_t kRecheckRetryMs = 2'000;
constexpr std::int64_t kRecheckCircuitMs = 60'000;

}  // namespace

// Its state is touched only on its strand (the timer's executor).
struct MirrorHandler::RecheckLoop {
  explicit RecheckLoop(boost::asio::any_io_executor ex) : strand(ex), timer(ex) {}
  boost::asio::any_io_executor strand;
  boost::asio::steady_timer timer;
  std::vector<std::string> tenants;
  std::chrono::milliseconds interval{250};
  bool stopped = false;
  // The loop's step; the timer holds it only weakly, so it goes with the loop.
  std::shared_ptr<std::function<void()>> tick_holder;
};

void MirrorHandler::start_rechecks(boost::asio::any_io_executor executor,
                                   std::vector<std::string> tenants,
                                   std::chrono::milliseconds interval) {
  if (!batcher_ || tenants.empty()) return;
  rechecks_ = std::make_shared<RecheckLoop>(make_strand_executor(executor));
  rechecks_->tenants = std::move(tenants);
  rechecks_->interval = interval;
  auto loop = rechecks_;
  auto tick = std::make_shared<std::function<void()>>();
  // Captures the loop weakly too: the loop owns the step (tick_holder).
  *tick = [this, weak_loop = std::weak_ptr<RecheckLoop>(loop),
           weak = std::weak_ptr<std::function<void()>>(tick)] {
    auto self_loop = weak_loop.lock();
    if (!self_loop || self_loop->stopped) return;
    for (const auto& t : self_loop->tenants) recheck_due(t);
    self_loop->timer.expires_after(self_loop->interval);
    self_loop->timer.async_wait([self_loop, weak](boost::system::error_code ec) {
      if (ec) return;
      if (auto next = weak.lock()) (*next)();
    });
  };
  loop->tick_holder = tick;
  boost::asio::post(loop->strand, [tick] { (*tick)(); });
}

void MirrorHandler::stop_rechecks() {
  if (!rechecks_) return;
  boost::asio::post(rechecks_->strand, [loop = rechecks_] {
    loop->stopped = true;
    loop->timer.cancel();
    loop->tick_holder.reset();
  });
}

void MirrorHandler::recheck_due(const std::string& tenant) {
  if (!intacct_ || !intacct_->client(tenant)) return;
  conn_->eval(take_due_script(), {queue::key(tenant, "recheck")},
              {std::to_string(clock_.now_ms()), std::to_string(kRecheckLeaseMs),
               std::to_string(kRecheckBatch)},
              [this, tenant](boost::system::error_code ec, redis::Reply reply) {
                if (ec || reply.type != redis::Reply::Type::array || reply.elements.size() != 2 ||
                    reply.elements[1].type != redis::Reply::Type::array)
                  return;  // the next tick tries again
                std::int64_t lease = 0;
                try {
                  lease = std::stoll(reply.elements[0].str);
                } catch (...) {
                  return;
                }
                for (const auto& m : reply.elements[1].elements)
                  if (m.type == redis::Reply::Type::string) recheck_one(tenant, m.str, lease);
              });
}

void MirrorHandler::recheck_one(const std::string& tenant, const std::string& member,
                                std::int64_t lease) {
  const auto colon = member.find(':');
  auto client = intacct_ ? intacct_->client(tenant) : nullptr;
  if (colon == std::string::npos || !client) return;
  // A delivery of its own, with no stream entry behind it: the apply
  // script's ack finds nothing to ack.
  auto d = std::make_shared<queue::Delivery>();
  d->tenant = tenant;
  d->stream = queue::key(tenant, "events");
  d->entry_id = "0-1";
  d->envelope.event_id = make_ulid(clock_.now_ms());
  d->envelope.source = "intacct";
  d->envelope.tenant = tenant;
  d->envelope.object = member.substr(0, colon);
  d->envelope.action = "set";
  d->envelope.key = member.substr(colon + 1);
  if (id_field_of_object(d->envelope.object).empty() || !detail::valid_recordno(d->envelope.key))
    return;
  // `retry_in_ms` > 0: due again that much later; otherwise done.
  auto finish = [this, d, member, lease](std::string_view result, std::int64_t retry_in_ms) {
    metrics_
        .counter("isync_mirror_rechecks_total",
                 "Records read once the second of their WHENMODIFIED had settled (deferred reads "
                 "and rechecks), by result (held = no read needed, applied, unchanged, gone, "
                 "retry, dead).",
                 {{"tenant", d->tenant}, {"result", std::string(result)}})
        .inc();
    conn_->eval(recheck_done_script(),
                {queue::key(d->tenant, "recheck"), queue::key(d->tenant, "recheck:channel")},
                {member, std::to_string(lease),
                 retry_in_ms > 0 ? std::to_string(clock_.now_ms() + retry_in_ms) : std::string()},
                [](boost::system::error_code, redis::Reply) {});
  };
  detail::ReadRequest request{tenant, d->envelope.object, d->envelope.key, 0,
                              detail::ReadRequest::Mode::recheck};
  batcher_->read(std::move(client), std::move(request),
                 [this, d, lease, finish = std::move(finish)](detail::ReadAnswer answer) mutable {
                   recheck_answer(d, lease, std::move(answer), std::move(finish));
                 });
}

void MirrorHandler::recheck_answer(std::shared_ptr<queue::Delivery> d, std::int64_t lease,
                                   detail::ReadAnswer answer,
                                   std::function<void(std::string_view, std::int64_t)> finish) {
  switch (answer.kind) {
    case detail::ReadAnswer::Kind::held:
      finish("held", 0);
      return;
    case detail::ReadAnswer::Kind::circuit_open:
      finish("retry", kRecheckCircuitMs);
      return;
    case detail::ReadAnswer::Kind::failed:
      if (!answer.error || answer.error->cls != intacct::ErrorClass::permanent) {
        finish("retry", kRecheckRetryMs + static_cast<std::int64_t>(std::random_device{}() % 2000));
        return;
      }
      recheck_dead(std::move(d), *answer.error, std::move(finish));
      return;
    case detail::ReadAnswer::Kind::gone: {
      Apply gone{"gone", "{}", 0, "", "intacct_recheck", answer.sent_at_ms};
      gone.recheck_lease = lease;
      apply(*d, gone, [finish = std::move(finish)](const std::string& dec) mutable {
        if (std::string_view(dec).starts_with("error:")) return finish("retry", kRecheckRetryMs);
        finish("gone", 0);
      });
      return;
    }
    case detail::ReadAnswer::Kind::found:
    case detail::ReadAnswer::Kind::shared: {
      Apply read = read_apply(d->envelope, answer.row, answer.sent_at_ms, "intacct_recheck");
      read.recheck_lease = lease;
      apply(*d, read, [finish = std::move(finish)](const std::string& dec) mutable {
        const std::string_view dv = dec;
        if (dv.starts_with("error:")) return finish("retry", kRecheckRetryMs);
        const bool changed = dv == "applied" || dv == "removed" || dv == "tombstoned";
        finish(changed ? "applied" : "unchanged", 0);
      });
      return;
    }
  }
}

// A deferred read that failed for good becomes a dead letter of its own, with
// Intacct's errorno, description and correction, and leaves the schedule. Its
// envelope is a thin event stamped now, so a replay reads the record again.
void MirrorHandler::recheck_dead(std::shared_ptr<queue::Delivery> d,
                                 const intacct::IntacctError& error,
                                 std::function<void(std::string_view, std::int64_t)> finish) {
  const std::int64_t now = clock_.now_ms();
  d->envelope.version = now / 1000;
  d->envelope.whenmodified = format_whenmodified(d->envelope.version);
  d->envelope.received_at_ms = now;
  d->envelope.raw = "read of " + d->envelope.object + " " + d->envelope.key +
                    " once its WHENMODIFIED second had settled";
  const queue::Outcome o = intacct_failure(d->envelope, error);
  log_.error("intacct read failed for good; filed as a dead letter",
             LogLine()
                 .str("event_id", d->envelope.event_id)
                 .str("tenant", d->tenant)
                 .str("object", d->envelope.object)
                 .str("key", d->envelope.key)
                 .str("errorno", o.failure.errorno)
                 .str("description", o.failure.description)
                 .str("correction", o.failure.correction));
  queue::file_dead_letter(*conn_, d->envelope, o.failure, now,
                          [finish = std::move(finish)](Result<void> filed) mutable {
                            if (filed) return finish("dead", 0);
                            finish("retry", kRecheckRetryMs);
                          });
}

}  // namespace isync::handlers
