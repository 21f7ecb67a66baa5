// PaymentJob, a refund: a full refund reverses the payment's ARPYMT once; a
// partial one is a dead letter that tells on-call what to do (see
// payment_job.hpp).
#include <algorithm>

#include "handlers/detail/payment_job.hpp"
#include "handlers/detail/payment_lua.hpp"
#include "handlers/detail/record_doc.hpp"

namespace isync::handlers::detail {

namespace asio = boost::asio;
using queue::Outcome;
using redis::Reply;

// ---- refunds ----

void PaymentJob::refund() {
  if (p_.amount_refunded <= 0) return settle_ack("no_refund");
  if (state_ == "reversed") return settle_ack("duplicate");
  if (state_ == "failed") {
    Outcome o;
    o.failure.code = "refund_of_unposted_payment";
    o.failure.message = "payment " + p_.payment_id +
                        " was refunded, but it never reached Intacct (its posting failed); "
                        "there is nothing to reverse.";
    o.failure.correction =
        "Settle the payment's own dead letter first; if it was posted by hand, reverse that "
        "ARPYMT in Intacct. Then discard this event.";
    return fail(std::move(o));
  }
  if (state_ != "posted" && state_ != "reversing" && state_ != "reverse_unknown") {
    return later("", false,
                 outcome(Outcome::Kind::retry, queue::FailureClass::transient, "payment_not_posted",
                         "refund of payment " + p_.payment_id +
                             " waits until the payment itself is posted to Intacct",
                         "retry"));
  }
  if (p_.amount_refunded < p_.amount) {
    const int exponent = currency_exponent(p_.currency);
    Outcome o;
    o.failure.code = "partial_refund";
    o.failure.message = "payment " + p_.payment_id + " (Intacct ARPYMT " + recordno_ +
                        ") was partly refunded: " + format_amount(p_.amount_refunded, exponent) +
                        " of " + format_amount(p_.amount, exponent) + " " + p_.currency +
                        ". Intacct cannot reverse part of a payment.";
    o.failure.correction =
        "In Intacct, reverse ARPYMT " + recordno_ + " and record a new payment of " +
        format_amount(p_.amount - p_.amount_refunded, exponent) + " " + p_.currency +
        " for the same invoice (or keep the payment and record the refund as an AR "
        "adjustment); then discard this event. A later full refund is reversed automatically.";
    return fail(std::move(o));
  }
  if (state_ == "reversing" || state_ == "reverse_unknown") return reverse_read_back();
  send_reverse();
}

void PaymentJob::send_reverse() {
  const std::string cid = payment_control_id(d_.tenant, p_.payment_id, "reverse");
  auto date =
      local_date(d_.envelope.version > 0 ? d_.envelope.version : now() / 1000, policy_.timezone);
  if (!date) {
    Outcome o;
    o.failure.code = date.error().code;
    o.failure.message = date.error().message;
    return fail(std::move(o));
  }
  const std::string& mdy = *date;  // MM/DD/YYYY
  intacct::Legacy reverse;
  reverse.name = "reverse_arpayment";
  reverse.attributes = {{"key", recordno_}};
  reverse.children = {intacct::group("datereversed", {intacct::leaf("year", mdy.substr(6, 4)),
                                                      intacct::leaf("month", mdy.substr(0, 2)),
                                                      intacct::leaf("day", mdy.substr(3, 2))}),
                      intacct::leaf("memo", "Stripe refund of " + p_.payment_id)};
  reverse.write = true;
  eval(intent_script(), {pay_key_, unsettled_key()},
       {owner_, std::to_string(now()), "reverse", p_.payment_id, cid, "", d_.envelope.event_id, "",
        "", "", ""},
       [self = shared_from_this(), cid, reverse = std::move(reverse)](const Reply& r) mutable {
         if (r.integer != 1) {
           return self->finish(retry_outcome(
               "lease_lost",
               "payment " + self->p_.payment_id + ": the lease was lost before reversing",
               std::chrono::milliseconds(1000)));
         }
         self->client_->call({intacct::Function{cid, std::move(reverse)}}, true,
                             [self, cid](intacct::CallOutcome out) {
                               self->reversed_answer(answer_of(std::move(out), cid));
                             });
       });
}

void PaymentJob::reversed_answer(const Answer& a) {
  if (a.circuit_open) return park("");
  if (!a.error) return reversed();
  const auto& e = *a.error;
  if (e.level == intacct::ErrorLevel::result &&
      (is_duplicate(e) || std::any_of(e.errors.begin(), e.errors.end(), [](const auto& d) {
         return contains(d.description, "already reversed");
       }))) {
    rsent_at_ = now();
    return reverse_read_back();
  }
  if (e.cls == intacct::ErrorClass::ambiguous) {
    Outcome o = intacct_outcome(e, "reversing the ARPYMT");
    o.failure.cls = queue::FailureClass::ambiguous;
    o.failure.code = "ambiguous";
    o.retry_after = core_->options.readback_interval;
    return later("reverse_unknown", true, std::move(o));
  }
  Outcome o = intacct_outcome(e, "reversing ARPYMT " + recordno_);
  if (o.kind == Outcome::Kind::dead) return fail(std::move(o));
  return later("", false, std::move(o));
}

void PaymentJob::reverse_read_back() {
  client_->read("ARPYMT", {recordno_}, [self = shared_from_this()](intacct::ReadOutcome out) {
    if (out.circuit_open) return self->park("");
    if (out.error) {
      self->core_->count_readback(self->d_.tenant, "error");
      Outcome o = self->intacct_outcome(*out.error, "reading the ARPYMT back");
      o.kind = Outcome::Kind::retry;
      o.failure.cls = queue::FailureClass::transient;
      return self->later("", false, std::move(o));
    }
    auto it = out.rows.find(self->recordno_);
    if (it == out.rows.end()) {
      Outcome o;
      o.failure.code = "payment_gone";
      o.failure.message = "Intacct ARPYMT " + self->recordno_ + " of payment " +
                          self->p_.payment_id + " no longer exists; the refund was not reversed.";
      o.failure.correction = "Check the payment in Intacct, then discard this event.";
      return self->fail(std::move(o));
    }
    if (field(it->second, "STATE") == "Reversed" || field(it->second, "STATE") == "Voided") {
      self->core_->count_readback(self->d_.tenant, "found");
      return self->reversed();
    }
    self->core_->count_readback(self->d_.tenant, "not_found");
    const std::int64_t waited = self->now() - self->rsent_at_;
    if (waited < self->core_->options.readback_wait.count()) {
      return self->later("reverse_unknown", false,
                         retry_outcome("awaiting_readback",
                                       "the reversal of payment " + self->p_.payment_id +
                                           " is not in Intacct yet; read back again",
                                       self->core_->options.readback_interval));
    }
    self->send_reverse();
  });
}

void PaymentJob::reversed() {
  std::vector<std::string> keys, args;
  queue::ack_inputs(d_, keys, args, core_->options.done_retention);
  const std::string& inv = posted_invoice_;
  keys.push_back(pay_key_);
  keys.push_back(unsettled_key());
  keys.push_back(queue::key(d_.tenant, "rec:ARPYMT:" + recordno_));
  keys.push_back(queue::key(d_.tenant, "audit:ARPYMT:" + recordno_));
  keys.push_back(queue::key(d_.tenant, inv.empty() ? "audit:-" : "audit:ARINVOICE:" + inv));
  keys.push_back(queue::key(d_.tenant, inv.empty() ? "rec:-" : "rec:ARINVOICE:" + inv));
  const auto t = now();
  args.push_back(owner_);
  args.push_back(std::to_string(t));
  args.push_back(iso8601_ms(t));
  args.push_back(p_.payment_id);
  args.push_back(d_.envelope.event_id);
  args.push_back(std::to_string(core_->options.audit_max_entries));
  args.push_back(inv);
  args.push_back(std::to_string(core_->options.audit_max_age.count()));
  core_->log.info("payment reversed", LogLine()
                                          .str("tenant", d_.tenant)
                                          .str("payment_id", p_.payment_id)
                                          .str("recordno", recordno_));
  eval(reversed_script(), std::move(keys), std::move(args),
       [self = shared_from_this()](const Reply&) { self->finish(done_outcome("reversed")); });
}

}  // namespace isync::handlers::detail
