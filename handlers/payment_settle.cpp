// PaymentSettler (contract in payment_settle.hpp). This file: the walk over
// the old unsettled entries — the run's copy, pages, the peek, the lease and
// the pools (detail/payment_settle_run.hpp).
#include "handlers/payment_settle.hpp"

#include <atomic>
#include <boost/asio/post.hpp>
#include <memory>

#include "handlers/detail/payment_lua.hpp"
#include "handlers/detail/payment_settle_run.hpp"

namespace isync::handlers {

PaymentSettler::PaymentSettler(std::shared_ptr<redis::Connection> conn, PaymentOptions options,
                               Clock& clock, Log& log)
    : conn_(std::move(conn)), options_(options), clock_(clock), log_(log) {}

void PaymentSettler::settle(std::string tenant, CallFn call, Fence fence,
                            std::chrono::milliseconds readback_wait, bool dry_run,
                            std::function<void(Result<SettleCounts>)> done) {
  auto run = std::make_shared<detail::SettleRun>(conn_, options_, clock_, log_, std::move(tenant),
                                                 std::move(call), std::move(fence), readback_wait,
                                                 dry_run, std::move(done));
  run->start();
}

}  // namespace isync::handlers

namespace isync::handlers::detail {

namespace {

// The run's copy of the entries outlives a crashed run by this long.
constexpr std::int64_t kSnapshotTtlSeconds = 6 * 3600;

bool handled_state(const std::string& state) {
  return state == "unsent" || state == "posting" || state == "unknown" || state == "reversing" ||
         state == "reverse_unknown";
}

}  // namespace

SettleRun::SettleRun(std::shared_ptr<redis::Connection> conn, const PaymentOptions& options,
                     Clock& clock, Log& log, std::string tenant, CallFn call, Fence fence,
                     std::chrono::milliseconds readback_wait, bool dry_run,
                     std::function<void(Result<SettleCounts>)> done)
    : conn_(std::move(conn)),
      options_(options),
      clock_(clock),
      log_(log),
      tenant_(std::move(tenant)),
      call_(std::move(call)),
      fence_(std::move(fence)),
      readback_wait_(readback_wait),
      dry_run_(dry_run),
      done_(std::move(done)),
      owner_(random_owner()) {
  if (fence_.lock_key.empty()) fence_.lock_key = key("reconcile:lock");
  snapshot_ = key("reconcile:payments:" + owner_);
}

std::string SettleRun::key(const std::string& suffix) const { return queue::key(tenant_, suffix); }

void SettleRun::eval(const redis::Script& s, std::vector<std::string> keys,
                     std::vector<std::string> args, std::function<void(const redis::Reply&)> then) {
  conn_->eval(s, std::move(keys), std::move(args),
              [self = shared_from_this(), then = std::move(then)](boost::system::error_code ec,
                                                                  redis::Reply r) {
                if (ec || r.is_error()) {
                  return self->fail("unavailable",
                                    "Redis: " + (ec ? ec.message() : r.str) +
                                        "; the payments of tenant " + self->tenant_ +
                                        " were not all settled: run reconcile again");
                }
                then(r);
              });
}

void SettleRun::start() {
  eval(settle_snapshot_script(), {key("payments:unsettled"), snapshot_, fence_.lock_key},
       {std::to_string(now() - readback_wait_.count()), std::to_string(kSnapshotTtlSeconds),
        fence_.token},
       [self = shared_from_this()](const redis::Reply& r) {
         if (r.integer == -1) {
           return self->fail("fenced", "the reconcile lock of tenant " + self->tenant_ +
                                           " does not hold this run's token (another run holds "
                                           "it); no payment was settled");
         }
         self->next_page();
       });
}

void SettleRun::next_page() {
  const auto first = offset_;
  offset_ += static_cast<std::int64_t>(kSettleBatch);
  conn_->command({"ZRANGE", snapshot_, std::to_string(first), std::to_string(offset_ - 1)},
                 [self = shared_from_this()](boost::system::error_code ec, redis::Reply r) {
                   if (ec || r.type != redis::Reply::Type::array) {
                     return self->fail("unavailable",
                                       "Redis: " + (ec ? ec.message() : r.str) +
                                           "; reading the payments to settle of tenant " +
                                           self->tenant_ + " failed: run reconcile again");
                   }
                   self->last_page_ = r.elements.size() < kSettleBatch;
                   if (r.elements.empty()) return self->finish();
                   std::vector<std::string> keys{self->key("dead"), self->key("retry")}, ids;
                   self->page_.clear();
                   for (const auto& e : r.elements) {
                     keys.push_back(self->key("pay:" + e.str));
                     ids.push_back(e.str);
                     SettleEntry entry;
                     entry.payment_id = e.str;
                     self->page_.push_back(std::move(entry));
                   }
                   self->eval(settle_peek_script(), std::move(keys), std::move(ids),
                              [self](const redis::Reply& peek) { self->peeked(peek); });
                 });
}

void SettleRun::peeked(const redis::Reply& r) {
  const std::size_t width = kSettlePeekWidth;
  if (r.type != redis::Reply::Type::array || r.elements.size() != page_.size() * width) {
    return fail("unavailable", "Redis: the ledger of tenant " + tenant_ +
                                   " answered the peek in an unexpected shape");
  }
  for (std::size_t i = 0; i < page_.size(); ++i) {
    auto v = [&](std::size_t f) { return r.elements[i * width + f].str; };
    auto& e = page_[i];
    e.state = v(0);
    e.event = v(3);
    e.recordno = v(4);
    e.body = v(5);
    e.invoice = v(6);
    e.lock = v(9);
    e.held = !v(1).empty() && std::strtoll(v(2).c_str(), nullptr, 10) > now();
    e.dead = v(7) == "1";
    e.retry_due = v(8).empty() ? -1 : std::strtoll(v(8).c_str(), nullptr, 10);
  }
  at_ = 0;
  next_entry();
}

void SettleRun::next_entry() {
  if (ended_) return;
  if (at_ >= page_.size()) return last_page_ ? finish() : next_page();
  SettleEntry e = page_[at_++];
  // Another state (posted, failed, abandoned, or gone since the copy): not
  // ours to look at.
  if (!handled_state(e.state)) return next_entry();
  ++counts_.examined;
  if (e.dead) {
    ++counts_.dead_letters;
    counts_.errors.push_back(SettleError{
        "payment_dead_letter",
        "payment " + e.payment_id + " (state " + e.state + ") waits on event " + e.event +
            ", a dead letter: reconcile leaves it alone. Replay the event (or discard it once "
            "the payment is settled by hand in Intacct).",
        e.payment_id, "", ""});
    return next_entry();
  }
  if (dry_run_) {
    if (e.held) {
      ++counts_.busy;
      return next_entry();
    }
    return route(std::move(e));
  }
  eval(take_script(), {key("pay:" + e.payment_id), key("pay-lock:-")},
       {owner_, std::to_string(now()), std::to_string(options_.lease.count()), "", "settle", "0"},
       [self = shared_from_this(), e](const redis::Reply& r) mutable {
         self->taken(std::move(e), r);
       });
}

void SettleRun::taken(SettleEntry e, const redis::Reply& r) {
  auto at = [&r](std::size_t i) -> std::string {
    return r.elements.size() > i ? r.elements[i].str : std::string();
  };
  if (at(0) != "ok") {
    ++counts_.busy;
    return next_entry();
  }
  held_.insert(e.payment_id);
  // The lease makes these current: a worker may have moved the entry on
  // since the peek.
  e.state = at(1);
  e.recordno = at(2);
  e.body = at(5);
  if (!handled_state(e.state)) {
    return release(e.payment_id, [self = shared_from_this()] { self->next_entry(); });
  }
  route(std::move(e));
}

void SettleRun::route(SettleEntry e) {
  auto self = shared_from_this();
  if (e.state == "posting" || e.state == "unknown") {
    docs_.push_back(std::move(e));
    if (docs_.size() < kSettleBatch) return next_entry();
    return flush_docs([self] { self->next_entry(); });
  }
  if ((e.state == "reversing" || e.state == "reverse_unknown") && !e.recordno.empty()) {
    reversals_.push_back(std::move(e));
    if (reversals_.size() < kSettleBatch) return next_entry();
    return flush_reversals([self] { self->next_entry(); });
  }
  // unsent (nothing can be in Intacct), or a reversal of no known ARPYMT.
  const std::string id = e.payment_id;
  make_due(e, [self, id] { self->release(id, [self] { self->next_entry(); }); });
}

void SettleRun::finish() {
  auto self = shared_from_this();
  flush_docs([self] { self->flush_reversals([self] { self->end(self->counts_); }); });
}

void SettleRun::end(Result<SettleCounts> result) {
  if (ended_) return;
  ended_ = true;
  // Best effort: a lease not released expires after `lease`; the copy after
  // kSnapshotTtlSeconds. The run answers only once every release has been
  // answered: a release may be retried after NOSCRIPT, so a later command on
  // the connection can be answered before it.
  auto done = std::move(done_);
  auto finish = [conn = conn_, snapshot = snapshot_, done = std::move(done),
                 result = std::move(result)]() mutable {
    conn->command({"DEL", snapshot}, [done = std::move(done), result = std::move(result)](
                                         boost::system::error_code, redis::Reply) mutable {
      done(std::move(result));
    });
  };
  if (held_.empty()) return finish();
  auto left = std::make_shared<std::atomic<std::size_t>>(held_.size());
  auto last = std::make_shared<decltype(finish)>(std::move(finish));
  for (const auto& id : held_) {
    conn_->eval(release_script(), {key("pay:" + id), key("pay-lock:-"), key("payments:unsettled")},
                {owner_, std::to_string(now()), "", "0", "", id, "0", "", "0"},
                [left, last](boost::system::error_code, redis::Reply) {
                  if (left->fetch_sub(1) == 1) (*last)();
                });
  }
  held_.clear();
}

}  // namespace isync::handlers::detail
