// One payment event's work, shared by the files that carry it out. Internal
// to handlers/.
//
//  * payment_handler.cpp: the job's life — the lease and its heartbeat, the
//    outcomes (ack, retry, park, dead letter), PaymentHandler, EventRouter.
//  * payment_post.cpp: a payment into Intacct — the invoice (or customer)
//    read, the create, the read-back by DOCNUMBER, the posted step.
//  * payment_refund.cpp: a full refund reversed once.
//  * payment_support.cpp: outcomes, Intacct answers and errors, the posting
//    kept with the intent (as JSON).
//
// A PaymentJob is made per delivery and lives, held by its own async steps
// (shared_from_this), until it has called `done` exactly once. Its steps run
// one after another (each starts the next from its completion), on whatever
// thread Redis or Intacct completes on; only the heartbeat runs beside them,
// on the job's strand, and it touches nothing a step writes (`finished_` is
// atomic, the timer is only used on that strand).
#pragma once

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handlers/detail/payment_map.hpp"
#include "handlers/handlers.hpp"

namespace isync::handlers {

struct PaymentHandler::Core {
  std::shared_ptr<redis::Connection> conn;
  PaymentOptions options;
  std::map<std::string, PaymentPolicy> policies;
  Metrics& metrics;
  Clock& clock;
  Log& log;
  boost::asio::any_io_executor executor;
  std::shared_ptr<intacct::ClientHub> hub;

  void count(const std::string& tenant, std::string_view result) {
    metrics
        .counter("isync_payments_total", "Payment events by result",
                 {{"tenant", tenant}, {"result", std::string(result)}})
        .inc();
  }
  void count_readback(const std::string& tenant, std::string_view result) {
    metrics
        .counter("isync_payment_readbacks_total", "Read-backs of payments by result",
                 {{"tenant", tenant}, {"result", std::string(result)}})
        .inc();
  }
};

namespace detail {

// ---- outcomes ----

queue::Outcome outcome(queue::Outcome::Kind kind, queue::FailureClass cls, std::string code,
                       std::string message, std::string result);
queue::Outcome done_outcome(std::string result);
// A transient failure retried after `after`.
queue::Outcome retry_outcome(std::string code, std::string message,
                             std::chrono::milliseconds after);
// Intacct's first error (the specific one) into the failure.
void copy_intacct(queue::Failure& f, const intacct::IntacctError& e);

// ---- Intacct's answers ----

bool contains(std::string_view text, std::string_view part);
// Intacct refused a create because the record (or the function) exists: our
// own earlier write, or someone else's record with our number.
bool is_duplicate(const intacct::IntacctError& e);
bool is_digits(std::string_view s);

// One function's answer from a CallOutcome, kept alive with it.
struct Answer {
  std::shared_ptr<intacct::CallOutcome> call;
  const intacct::FunctionResult* result = nullptr;
  std::optional<intacct::IntacctError> error;
  bool circuit_open = false;
};
// No response is transient; a response without the function's result is
// ambiguous.
Answer answer_of(intacct::CallOutcome out, const std::string& control_id);
std::vector<const intacct::Row*> rows(const Answer& a, std::string_view object);
// The field's value, "" when absent.
std::string field(const intacct::Row& r, std::string_view name);

// The query that reads ARPYMTs back by DOCNUMBER (= payment id): RECORDNO,
// DOCNUMBER, CUSTOMERID, TOTALENTERED, CURRENCY, STATE; `equalto` for one id,
// `in` for several (1–100).
intacct::Query readback_query(const std::vector<std::string>& payment_ids, int pagesize);

// An ARPYMT row found by a read-back of `payment_id` as DOCNUMBER:
// another_document when its DOCNUMBER differs, ours when the customer (if
// the posting names one) and the amount (at `exponent`) are the posting's,
// theirs otherwise (someone else's payment with our number).
enum class ReadBackMatch { another_document, ours, theirs };
ReadBackMatch match_readback(const intacct::Row& r, const std::string& payment_id,
                             const Posting& posting, int exponent);

// ---- the posting, stored with the intent and sent again unchanged ----

std::string encode_posting(const Posting& p);
// nullopt for anything encode_posting did not write.
std::optional<Posting> decode_posting(const std::string& text);
// The mirror's fields of a payment we posted (a JSON object), until Intacct's
// own record (its smart event and read) replaces them.
std::string mirror_fields(const Posting& p, const std::string& recordno);
// 32 random hex digits: who holds a lease.
std::string random_owner();

// ---- one event ----

class PaymentJob : public std::enable_shared_from_this<PaymentJob> {
 public:
  PaymentJob(std::shared_ptr<PaymentHandler::Core> core, const queue::Delivery& d,
             std::function<void(queue::Outcome)> done);
  void start();

 private:
  // ---- the job's life (payment_handler.cpp) ----
  void eval(const redis::Script& s, std::vector<std::string> keys, std::vector<std::string> args,
            std::function<void(const redis::Reply&)> then);
  // A Redis step failed: `ec` (a transport failure, or none for an error
  // reply) says whether it may have run.
  void redis_failed(boost::system::error_code ec, const std::string& why);
  std::int64_t now() const { return core_->clock.now_ms(); }
  std::string unsettled_key() const { return queue::key(d_.tenant, "payments:unsettled"); }
  void take();
  void taken(const redis::Reply& r);
  // How long a payment waits for another one that holds its lease or its
  // invoice's lock: 250 ms doubling with each attempt up to 4 s, drawn from
  // the upper half so that many payments of one invoice spread out instead
  // of retrying in step.
  std::chrono::milliseconds contention_wait() const;
  void start_heartbeat();
  // Leaves the payment in `state` ("" = as it is) and frees lease and lock.
  void release_then(std::string state, bool restart, std::string error, std::function<void()> then,
                    bool failed = false);
  void finish(queue::Outcome o);
  // Acks the entry with nothing else to do.
  void ack(std::string result);
  void settle_ack(std::string result);
  // A permanent failure: state failed (a replay of this event tries again),
  // and a dead letter.
  void fail(queue::Outcome o);
  // A transient failure: the payment is left as `state` and retried.
  void later(std::string state, bool restart, queue::Outcome o);
  void park(std::string state);
  // The ledger entry is abandoned (on-call): ack, or a refund's dead letter.
  void abandoned();
  queue::Outcome intacct_outcome(const intacct::IntacctError& e, const std::string& what);

  // ---- a fresh payment: what to post (payment_post.cpp) ----
  void resolve();
  void resolved(const Answer& a);
  // No such invoice in Intacct: deleted after the mirror imported it, or
  // never there.
  void invoice_missing();
  void invoice_gone(const std::string& mirrored_recordno, bool in_mirror);

  // ---- the create ----
  void send_create();
  void created(const Answer& a);

  // ---- read-back by DOCNUMBER ----
  void read_back();
  void read_backed(const Answer& a);

  // ---- posted ----
  void posted(const std::string& recordno, std::string result);

  // ---- refunds (payment_refund.cpp) ----
  void refund();
  void send_reverse();
  void reversed_answer(const Answer& a);
  void reverse_read_back();
  void reversed();

  std::shared_ptr<PaymentHandler::Core> core_;
  queue::Delivery d_;
  std::function<void(queue::Outcome)> done_;
  std::string owner_;
  // On its own strand: the heartbeat runs beside the steps.
  boost::asio::steady_timer heartbeat_;
  std::atomic<bool> finished_{false};

  PaymentFacts p_;
  bool refund_ = false;
  PaymentPolicy policy_;
  std::shared_ptr<intacct::Client> client_;
  std::string pay_key_, lock_key_;

  // From the ledger when the lease was taken.
  std::string state_, recordno_, body_, failed_event_, posted_invoice_;
  // When the last create / reverse request was sent (0 = never).
  std::int64_t sent_at_ = 0, rsent_at_ = 0;
  Posting posting_;
};

}  // namespace detail
}  // namespace isync::handlers
