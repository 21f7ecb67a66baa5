// PaymentHandler: processor payments into Intacct, exactly once (see the
// contract in handlers.hpp, the ledger in detail/payment_lua.hpp and the job's
// parts in detail/payment_job.hpp). This file: the job's life, from the lease
// to its one outcome.
#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <random>

#include "handlers/detail/payment_job.hpp"
#include "handlers/detail/payment_lua.hpp"

namespace isync::handlers::detail {

namespace asio = boost::asio;
using queue::Outcome;
using redis::Reply;

PaymentJob::PaymentJob(std::shared_ptr<PaymentHandler::Core> core, const queue::Delivery& d,
                       std::function<void(Outcome)> done)
    : core_(std::move(core)),
      d_(d),
      done_(std::move(done)),
      owner_(random_owner()),
      heartbeat_(make_strand_executor(core_->executor)) {}

void PaymentJob::start() {
  const auto& e = d_.envelope;
  const StripeKind kind = stripe_kind(e.action);
  if (kind == StripeKind::other) return ack("ignored");
  auto facts = payment_facts(e);
  if (!facts) {
    return finish(outcome(Outcome::Kind::dead, queue::FailureClass::permanent, "invalid_event",
                          facts.error().message, "invalid"));
  }
  p_ = std::move(*facts);
  refund_ = kind == StripeKind::refunded;
  if (!refund_ && p_.invoice.empty() && p_.customer.empty()) {
    core_->log.warn("payment names no Intacct invoice or customer; ignored",
                    LogLine()
                        .str("tenant", d_.tenant)
                        .str("event_id", e.event_id)
                        .str("payment_id", p_.payment_id));
    return ack("not_for_intacct");
  }
  auto pit = core_->policies.find(d_.tenant);
  client_ = core_->hub ? core_->hub->client(d_.tenant) : nullptr;
  if (pit == core_->policies.end() || !client_) {
    return finish(outcome(Outcome::Kind::park, queue::FailureClass::transient, "no_intacct",
                          "tenant " + d_.tenant + " has no Intacct access configured; payment " +
                              p_.payment_id + " waits until it has",
                          "parked"));
  }
  policy_ = pit->second;
  pay_key_ = queue::key(d_.tenant, "pay:" + p_.payment_id);
  lock_key_ = queue::key(d_.tenant,
                         refund_ || p_.invoice.empty() ? "pay-lock:-" : "pay-lock:" + p_.invoice);
  take();
}

// ---- Redis steps ----

void PaymentJob::eval(const redis::Script& s, std::vector<std::string> keys,
                      std::vector<std::string> args, std::function<void(const Reply&)> then) {
  core_->conn->eval(
      s, std::move(keys), std::move(args),
      [self = shared_from_this(), then = std::move(then)](boost::system::error_code ec, Reply r) {
        if (ec || r.is_error()) {
          return self->redis_failed(ec, ec ? ec.message() : r.str);
        }
        then(r);
      });
}

void PaymentJob::redis_failed(boost::system::error_code ec, const std::string& why) {
  // The lease expires by itself. The entry is retried, unless the step may
  // have run (its reply lost): then what Redis holds decides (unknown).
  Outcome o = queue::redis_failure(redis::may_have_run(ec),
                                   "payment " + p_.payment_id + ": Redis failed: " + why);
  o.result = o.kind == Outcome::Kind::unknown ? "unknown" : "retry";
  finish(std::move(o));
}

void PaymentJob::take() {
  const bool lock = !refund_ && !p_.invoice.empty();
  eval(take_script(), {pay_key_, lock_key_},
       {owner_, std::to_string(now()), std::to_string(core_->options.lease.count()),
        d_.envelope.event_id, refund_ ? "reverse" : "post", lock ? "1" : "0"},
       [self = shared_from_this()](const Reply& r) { self->taken(r); });
}

void PaymentJob::taken(const Reply& r) {
  auto at = [&r](std::size_t i) -> std::string {
    return r.elements.size() > i ? r.elements[i].str : std::string();
  };
  const std::string verdict = at(0);
  state_ = at(1);
  recordno_ = at(2);
  body_ = at(5);
  failed_event_ = at(8);
  posted_invoice_ = at(13);
  sent_at_ = std::strtoll(at(14).c_str(), nullptr, 10);
  rsent_at_ = std::strtoll(at(15).c_str(), nullptr, 10);
  if (verdict == "busy") {
    core_->count(d_.tenant, "busy");
    const auto until = std::strtoll(at(7).c_str(), nullptr, 10);
    const auto wait = std::clamp<std::int64_t>(until - now(), 200, contention_wait().count());
    return finish(retry_outcome(
        "payment_in_progress",
        "payment " + p_.payment_id + " is being handled by another worker; retried later",
        std::chrono::milliseconds(wait)));
  }
  if (verdict == "invoice_busy") {
    core_->count(d_.tenant, "invoice_busy");
    return finish(retry_outcome("invoice_busy",
                                "another payment to invoice " + p_.invoice +
                                    " is being posted; payments to one invoice go one at a time",
                                contention_wait()));
  }
  asio::dispatch(heartbeat_.get_executor(),
                 [self = shared_from_this()] { self->start_heartbeat(); });
  if (state_ == "abandoned") return abandoned();
  if (refund_) return refund();
  if (state_ == "posted" || state_ == "reversing" || state_ == "reverse_unknown" ||
      state_ == "reversed") {
    return settle_ack("duplicate");
  }
  if (state_ == "failed" && failed_event_ != d_.envelope.event_id) {
    // The other event type of a payment that already failed: its dead
    // letter is the one to replay.
    return settle_ack("failed_before");
  }
  if (state_ == "posting" || state_ == "unknown") return read_back();
  if (state_ == "unsent") {
    if (auto p = decode_posting(body_)) {
      posting_ = std::move(*p);
      return send_create();
    }
  }
  resolve();
}

// How long a payment waits for another one that holds its lease or its
// invoice's lock: 250 ms doubling with each attempt up to 4 s, drawn from
// the upper half so that many payments of one invoice spread out instead
// of retrying in step.
std::chrono::milliseconds PaymentJob::contention_wait() const {
  static thread_local std::mt19937 rng{std::random_device{}()};
  const std::int64_t top = 250LL << std::clamp(d_.attempt - 1, 0, 4);
  std::uniform_int_distribution<std::int64_t> pick(top / 2, top);
  return std::chrono::milliseconds(pick(rng));
}

// On the timer's strand, like every use of the timer.
void PaymentJob::start_heartbeat() {
  if (finished_) return;
  const auto every = std::max(std::chrono::milliseconds(100), core_->options.lease / 3);
  heartbeat_.expires_after(every);
  heartbeat_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->finished_) return;
    self->core_->conn->eval(
        renew_script(), {self->pay_key_, self->lock_key_},
        {self->owner_, std::to_string(self->now()),
         std::to_string(self->core_->options.lease.count())},
        [weak](boost::system::error_code e2, Reply r) {
          auto s = weak.lock();
          if (!s || e2 || r.is_error()) return;
          if (r.integer == 0) {
            s->core_->log.error(
                "payment lease lost while working on it",
                LogLine().str("tenant", s->d_.tenant).str("payment_id", s->p_.payment_id));
          }
        });
    queue::keep_pending(*self->core_->conn, self->d_, [](bool) {});
    self->start_heartbeat();
  });
}

// Leaves the payment in `state` ("" = as it is) and frees lease and lock.
void PaymentJob::release_then(std::string state, bool restart, std::string error,
                              std::function<void()> then, bool failed) {
  eval(release_script(), {pay_key_, lock_key_, unsettled_key()},
       {owner_, std::to_string(now()), std::move(state), restart ? "1" : "0", std::move(error),
        p_.payment_id, failed ? "1" : "0", d_.envelope.event_id,
        std::to_string((core_->options.readback_wait + core_->options.lease).count())},
       [then = std::move(then)](const Reply&) { then(); });
}

void PaymentJob::finish(Outcome o) {
  if (finished_.exchange(true)) return;
  // The timer is used on its strand only (the heartbeat may be running now).
  asio::dispatch(heartbeat_.get_executor(),
                 [self = shared_from_this()] { self->heartbeat_.cancel(); });
  if (!o.result.empty() && o.kind == Outcome::Kind::done) core_->count(d_.tenant, o.result);
  if (o.kind != Outcome::Kind::done) {
    core_->count(d_.tenant, o.failure.code.empty() ? o.result : o.failure.code);
  }
  auto done = std::move(done_);
  done(std::move(o));
}

// Acks the entry with nothing else to do.
void PaymentJob::ack(std::string result) {
  std::vector<std::string> keys, args;
  queue::ack_inputs(d_, keys, args, core_->options.done_retention);
  core_->conn->eval(ack_script(), std::move(keys), std::move(args),
                    [self = shared_from_this(), result](boost::system::error_code ec, Reply r) {
                      if (ec || r.is_error()) {
                        return self->redis_failed(ec, ec ? ec.message() : r.str);
                      }
                      self->finish(done_outcome(result));
                    });
}

void PaymentJob::settle_ack(std::string result) {
  release_then("", false, "", [self = shared_from_this(), result] { self->ack(result); });
}

// On-call discarded the payment as settled by hand: final. Its events are
// acked without a word to Intacct; a refund of it cannot be reversed here.
void PaymentJob::abandoned() {
  if (!refund_) return settle_ack("abandoned");
  Outcome o;
  o.failure.code = "refund_of_abandoned_payment";
  o.failure.message = "payment " + p_.payment_id +
                      " was refunded, but on-call discarded it as settled by hand in Intacct "
                      "(its ledger entry is abandoned), so this service does not know its ARPYMT "
                      "and reverses nothing.";
  o.failure.correction =
      "Find the payment's ARPYMT in Intacct (DOCNUMBER " + p_.payment_id +
      ", or the one entered by hand) and reverse it by hand there; then discard this event.";
  fail(std::move(o));
}

// A permanent failure: state failed (a replay of this event tries again),
// and a dead letter.
void PaymentJob::fail(Outcome o) {
  o.kind = Outcome::Kind::dead;
  o.failure.cls = queue::FailureClass::permanent;
  o.result = "failed";
  core_->log.warn("payment failed", LogLine()
                                        .str("tenant", d_.tenant)
                                        .str("payment_id", p_.payment_id)
                                        .str("code", o.failure.code)
                                        .str("errorno", o.failure.errorno));
  const std::string summary = o.failure.code + ": " + o.failure.message;
  release_then(
      refund_ ? "" : "failed", false, summary,
      [self = shared_from_this(), o = std::move(o)]() mutable { self->finish(std::move(o)); },
      !refund_);
}

// A transient failure: the payment is left as `state` and retried.
void PaymentJob::later(std::string state, bool restart, Outcome o) {
  const std::string summary = o.failure.code + ": " + o.failure.message;
  release_then(
      std::move(state), restart, summary,
      [self = shared_from_this(), o = std::move(o)]() mutable { self->finish(std::move(o)); });
}

void PaymentJob::park(std::string state) {
  later(std::move(state), false,
        outcome(Outcome::Kind::park, queue::FailureClass::transient, "intacct_circuit_open",
                "the Intacct credentials of tenant " + d_.tenant +
                    " were rejected (circuit open); payment " + p_.payment_id +
                    " waits until they work again",
                "parked"));
}

Outcome PaymentJob::intacct_outcome(const intacct::IntacctError& e, const std::string& what) {
  const bool permanent = e.cls == intacct::ErrorClass::permanent;
  Outcome o =
      outcome(permanent ? Outcome::Kind::dead : Outcome::Kind::retry,
              permanent ? queue::FailureClass::permanent : queue::FailureClass::transient,
              "intacct_error", "payment " + p_.payment_id + ": " + what + " failed: " + e.summary(),
              permanent ? "failed" : "retry");
  copy_intacct(o.failure, e);
  const bool batch_key = std::any_of(e.errors.begin(), e.errors.end(), [](const auto& d) {
    return contains(d.description, "payment batch key") ||
           contains(d.description2, "payment batch key");
  });
  if (permanent && batch_key) {
    // Intacct's text says what is missing, not how to fix it; its own
    // errorno, description and correction stay in the failure as given.
    o.failure.code = "payment_batch_required";
    o.failure.message =
        "payment " + p_.payment_id +
        ": Intacct says \"Please provide a payment batch key.\": its AR is set to "
        "user-specified payment summaries, so each payment needs a batch, and nothing was "
        "posted. Fix: in Intacct set the AR payment summary frequency to Daily or Monthly "
        "(Accounts Receivable > Setup > Configure), or set payment_batch (PRBATCH) for the "
        "tenant; then replay this event.";
  }
  return o;
}

}  // namespace isync::handlers::detail

namespace isync::handlers {

namespace asio = boost::asio;
using queue::Outcome;

PaymentHandler::PaymentHandler(std::shared_ptr<redis::Connection> conn, PaymentOptions options,
                               std::map<std::string, PaymentPolicy> policies, Metrics& metrics,
                               Clock& clock, Log& log, asio::any_io_executor executor,
                               std::shared_ptr<intacct::ClientHub> intacct)
    : core_(std::make_shared<Core>(Core{std::move(conn), options, std::move(policies), metrics,
                                        clock, log, std::move(executor), std::move(intacct)})) {}

PaymentHandler::~PaymentHandler() = default;

void PaymentHandler::handle(const queue::Delivery& d, std::function<void(Outcome)> done) {
  auto job = std::make_shared<detail::PaymentJob>(core_, d, std::move(done));
  asio::post(core_->executor, [job] { job->start(); });
}

void EventRouter::handle(const queue::Delivery& d, std::function<void(Outcome)> done) {
  if (d.envelope.source == "stripe") {
    if (payments_ != nullptr) return payments_->handle(d, std::move(done));
    Outcome o;
    o.kind = Outcome::Kind::park;
    o.failure.cls = queue::FailureClass::transient;
    o.failure.code = "no_intacct";
    o.failure.message =
        "payments are not handled here: tenant " + d.tenant + " has no Intacct access configured";
    return done(std::move(o));
  }
  mirror_.handle(d, std::move(done));
}

}  // namespace isync::handlers
