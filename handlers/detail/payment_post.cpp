// PaymentJob, a payment into Intacct: the invoice (or customer) read, the
// create under its intent, the read-back by DOCNUMBER, and the posted step
// (see payment_job.hpp).
#include <algorithm>

#include "handlers/detail/payment_job.hpp"
#include "handlers/detail/payment_lua.hpp"
#include "handlers/detail/record_doc.hpp"

namespace isync::handlers::detail {

namespace asio = boost::asio;
using queue::Outcome;
using redis::Reply;

// ---- a fresh payment: what to post ----

void PaymentJob::resolve() {
  intacct::Query q;
  const std::string cid = "isync-resolve-" + owner_.substr(0, 12);
  if (!p_.invoice.empty()) {
    q.object = "ARINVOICE";
    q.select = {"RECORDNO", "RECORDID", "CUSTOMERID", "CUSTOMERNAME",
                "CURRENCY", "STATE",    "TOTALDUE"};
    auto by_id = intacct::where(intacct::Filter::Op::equalto, "RECORDID", {p_.invoice});
    if (is_digits(p_.invoice)) {
      q.filter = intacct::any_of(
          {by_id, intacct::where(intacct::Filter::Op::equalto, "RECORDNO", {p_.invoice})});
    } else {
      q.filter = by_id;
    }
  } else {
    q.object = "CUSTOMER";
    q.select = {"RECORDNO", "CUSTOMERID", "NAME"};
    q.filter =
        intacct::where(intacct::Filter::Op::equalto,
                       policy_.match_customers_by == "name" ? "NAME" : "CUSTOMERID", {p_.customer});
  }
  q.pagesize = 10;
  client_->call({intacct::Function{cid, std::move(q)}}, false,
                [self = shared_from_this(), cid](intacct::CallOutcome out) {
                  self->resolved(answer_of(std::move(out), cid));
                });
}

void PaymentJob::resolved(const Answer& a) {
  if (a.circuit_open) return park("");
  if (a.error) {
    Outcome o = intacct_outcome(*a.error, p_.invoice.empty() ? "reading the customer from Intacct"
                                                             : "reading the invoice from Intacct");
    if (o.kind == Outcome::Kind::dead) return fail(std::move(o));
    return later("", false, std::move(o));
  }
  std::optional<InvoiceView> invoice;
  std::string customer_id;
  if (!p_.invoice.empty()) {
    const auto found = rows(a, "ARINVOICE");
    const intacct::Row* pick = nullptr;
    for (const auto* r : found) {
      if (field(*r, "RECORDID") == p_.invoice) pick = r;
    }
    if (pick == nullptr) {
      for (const auto* r : found) {
        if (field(*r, "RECORDNO") == p_.invoice) pick = r;
      }
    }
    if (pick == nullptr) return invoice_missing();
    invoice = InvoiceView{field(*pick, "RECORDNO"),   field(*pick, "RECORDID"),
                          field(*pick, "CUSTOMERID"), field(*pick, "CUSTOMERNAME"),
                          field(*pick, "CURRENCY"),   field(*pick, "STATE"),
                          field(*pick, "TOTALDUE")};
  } else {
    const auto found = rows(a, "CUSTOMER");
    if (found.empty()) {
      return fail(outcome(Outcome::Kind::dead, queue::FailureClass::permanent, "customer_not_found",
                          "Intacct customer " + p_.customer + " (by " +
                              (policy_.match_customers_by == "name" ? "NAME" : "CUSTOMERID") +
                              ") does not exist; payment " + p_.payment_id +
                              " cannot be posted as an advance for it",
                          "failed"));
    }
    if (found.size() > 1) {
      return fail(outcome(Outcome::Kind::dead, queue::FailureClass::permanent, "customer_ambiguous",
                          "the name " + p_.customer + " matches " + std::to_string(found.size()) +
                              " Intacct customers; payment " + p_.payment_id +
                              " is not posted to any of them. Post it by hand in Intacct, "
                              "or send intacct_customer as a CUSTOMERID",
                          "failed"));
    }
    customer_id = field(*found.front(), "CUSTOMERID");
  }
  auto mapped = map_payment(p_, invoice, customer_id, policy_);
  if (auto* f = std::get_if<queue::Failure>(&mapped)) {
    Outcome o;
    o.failure = std::move(*f);
    return fail(std::move(o));
  }
  posting_ = std::move(std::get<Posting>(mapped));
  body_ = encode_posting(posting_);
  send_create();
}

// No such invoice in Intacct: deleted after the mirror imported it, or
// never there.
void PaymentJob::invoice_missing() {
  const std::string ref = p_.invoice;
  core_->conn->command({"SMEMBERS", queue::key(d_.tenant, "id:ARINVOICE:" + ref)},
                       [self = shared_from_this(), ref](boost::system::error_code ec, Reply r) {
                         if (!ec && r.type == Reply::Type::array && !r.elements.empty()) {
                           return self->invoice_gone(r.elements[0].str, true);
                         }
                         if (!is_digits(ref)) return self->invoice_gone("", false);
                         // Named by RECORDNO: the mirror keeps the record (or its tombstone)
                         // under that number.
                         self->core_->conn->command(
                             {"HEXISTS", queue::key(self->d_.tenant, "rec:ARINVOICE:" + ref), "v"},
                             [self, ref](boost::system::error_code e2, Reply r2) {
                               self->invoice_gone(ref, !e2 && r2.integer == 1);
                             });
                       });
}

void PaymentJob::invoice_gone(const std::string& mirrored_recordno, bool in_mirror) {
  const std::string& ref = p_.invoice;
  Outcome o;
  if (in_mirror) {
    o.failure.code = "invoice_deleted";
    o.failure.message = "Intacct invoice " + ref + " (RECORDNO " + mirrored_recordno +
                        " in the mirror) no longer exists in Intacct: it was deleted after it "
                        "was imported (an Order Entry edit re-creates the invoice under a new "
                        "RECORDNO). Payment " +
                        p_.payment_id + " was not posted.";
    o.failure.correction =
        "Find the invoice's current number in Intacct, apply the payment by hand, then "
        "discard this event.";
  } else {
    o.failure.code = "invoice_not_found";
    o.failure.message = "Intacct invoice " + ref +
                        " does not exist (no ARINVOICE with that RECORDID or RECORDNO); "
                        "payment " +
                        p_.payment_id + " was not posted.";
    o.failure.correction =
        "Find the invoice in Intacct (the payment's metadata intacct_invoice names " + ref +
        "), then correct this event and replay it: intacct-sync events replay " +
        d_.envelope.event_id +
        " --set INVOICE=<RECORDNO or RECORDID> (admin API: POST /v1/admin/events/replay with "
        "\"set\":{\"INVOICE\":\"<RECORDNO or RECORDID>\"}). Or apply the payment by hand in "
        "Intacct and discard this event.";
  }
  fail(std::move(o));
}

// ---- the create ----

void PaymentJob::send_create() {
  const std::string cid = payment_control_id(d_.tenant, p_.payment_id, "create");
  eval(intent_script(), {pay_key_, unsettled_key()},
       {owner_, std::to_string(now()), "post", p_.payment_id, cid, body_, d_.envelope.event_id,
        posting_.invoice_recordno, posting_.customer_id, posting_.total, posting_.currency},
       [self = shared_from_this(), cid](const Reply& r) {
         if (r.integer != 1) {
           return self->finish(retry_outcome(
               "lease_lost",
               "payment " + self->p_.payment_id + ": the lease was lost before sending",
               std::chrono::milliseconds(1000)));
         }
         self->client_->call({arpymt_create(self->posting_, cid)}, true,
                             [self, cid](intacct::CallOutcome out) {
                               self->created(answer_of(std::move(out), cid));
                             });
       });
}

void PaymentJob::created(const Answer& a) {
  if (a.circuit_open) return park("unsent");
  if (!a.error) {
    const auto found = rows(a, "ARPYMT");
    std::string recordno;
    if (!found.empty()) recordno = field(*found.front(), "RECORDNO");
    if (recordno.empty() && a.result && a.result->key) recordno = *a.result->key;
    if (recordno.empty()) {
      // It ran, but the answer lacks the number: the read-back finds it.
      return later("unknown", true,
                   retry_outcome("intacct_no_recordno",
                                 "payment " + p_.payment_id +
                                     ": Intacct created the ARPYMT without returning its "
                                     "RECORDNO; it is read back",
                                 std::chrono::milliseconds(0)));
    }
    return posted(recordno, "posted");
  }
  const auto& e = *a.error;
  if (e.level == intacct::ErrorLevel::result && is_duplicate(e)) {
    // Our earlier write (or the number taken by someone else): read back,
    // and never send again in this attempt.
    core_->count(d_.tenant, "duplicate_error");
    sent_at_ = now();
    return read_back();
  }
  if (e.cls == intacct::ErrorClass::ambiguous) {
    core_->log.warn("payment create ambiguous; it will be read back",
                    LogLine()
                        .str("tenant", d_.tenant)
                        .str("payment_id", p_.payment_id)
                        .str("error", e.summary()));
    Outcome o = intacct_outcome(e, "creating the ARPYMT");
    o.failure.cls = queue::FailureClass::ambiguous;
    o.failure.code = "ambiguous";
    o.retry_after = core_->options.readback_interval;
    return later("unknown", true, std::move(o));
  }
  Outcome o = intacct_outcome(e, "creating the ARPYMT");
  if (o.kind == Outcome::Kind::dead) return fail(std::move(o));
  // Certainly not run (throttled, a stale session, a control failure): the
  // intent stays; a first send can go again without a read-back.
  return later(state_ == "unknown" || state_ == "posting" ? "unknown" : "unsent", false,
               std::move(o));
}

// ---- read-back by DOCNUMBER ----

void PaymentJob::read_back() {
  auto p = decode_posting(body_);
  if (p) posting_ = std::move(*p);
  const std::string cid = "isync-readback-" + owner_.substr(0, 12);
  client_->call({intacct::Function{cid, readback_query({p_.payment_id}, 100)}}, false,
                [self = shared_from_this(), cid](intacct::CallOutcome out) {
                  self->read_backed(answer_of(std::move(out), cid));
                });
}

void PaymentJob::read_backed(const Answer& a) {
  if (a.circuit_open) return park("");
  if (a.error) {
    core_->count_readback(d_.tenant, "error");
    Outcome o = intacct_outcome(*a.error, "reading the ARPYMT back by DOCNUMBER");
    // A failed read-back never decides: the payment stays unknown.
    o.kind = Outcome::Kind::retry;
    o.failure.cls = queue::FailureClass::transient;
    return later("", false, std::move(o));
  }
  const int exponent = currency_exponent(p_.currency);
  std::vector<const intacct::Row*> ours, theirs;
  for (const auto* r : rows(a, "ARPYMT")) {
    switch (match_readback(*r, p_.payment_id, posting_, exponent)) {
      case ReadBackMatch::ours:
        ours.push_back(r);
        break;
      case ReadBackMatch::theirs:
        theirs.push_back(r);
        break;
      case ReadBackMatch::another_document:
        break;
    }
  }
  if (!ours.empty()) {
    core_->count_readback(d_.tenant, "found");
    if (ours.size() > 1) {
      core_->log.error("several ARPYMTs carry one payment's DOCNUMBER",
                       LogLine()
                           .str("tenant", d_.tenant)
                           .str("payment_id", p_.payment_id)
                           .num("count", static_cast<std::int64_t>(ours.size())));
    }
    return posted(field(*ours.front(), "RECORDNO"), "adopted");
  }
  if (!theirs.empty()) {
    core_->count_readback(d_.tenant, "conflict");
    Outcome o;
    o.failure.code = "docnumber_conflict";
    o.failure.message = "Intacct has ARPYMT " + field(*theirs.front(), "RECORDNO") +
                        " with DOCNUMBER " + p_.payment_id + " for customer " +
                        field(*theirs.front(), "CUSTOMERID") + " and amount " +
                        field(*theirs.front(), "TOTALENTERED") + ", which is not this payment (" +
                        posting_.customer_id + ", " + posting_.total + "); nothing was posted.";
    o.failure.correction =
        "Check that ARPYMT in Intacct; if it is this payment entered by hand, discard this "
        "event, else post the payment by hand.";
    return fail(std::move(o));
  }
  core_->count_readback(d_.tenant, "not_found");
  // Not there (yet). A 524 can mean Intacct is still working on it: only
  // after readback_wait since the last send do we send the same request
  // again (the ledger's sent_at survives crashes).
  const std::int64_t waited = now() - sent_at_;
  if (waited < core_->options.readback_wait.count()) {
    const std::int64_t left = core_->options.readback_wait.count() - waited;
    const std::int64_t step = std::min<std::int64_t>(
        left, std::max<std::int64_t>(core_->options.readback_interval.count(), waited));
    return later("unknown", false,
                 retry_outcome("awaiting_readback",
                               "payment " + p_.payment_id +
                                   " is not in Intacct yet after an ambiguous send; read back "
                                   "again before any new attempt",
                               std::chrono::milliseconds(std::max<std::int64_t>(step, 100))));
  }
  if (posting_.fields.empty()) {
    // A crash between taking the lease and recording the intent: nothing
    // was sent.
    return resolve();
  }
  core_->count(d_.tenant, "resend");
  send_create();
}

// ---- posted ----

void PaymentJob::posted(const std::string& recordno, std::string result) {
  std::vector<std::string> keys, args;
  queue::ack_inputs(d_, keys, args, core_->options.done_retention);
  const std::string inv = posting_.invoice_recordno;
  keys.push_back(pay_key_);
  keys.push_back(lock_key_);
  keys.push_back(unsettled_key());
  keys.push_back(queue::key(d_.tenant, "rec:ARPYMT:" + recordno));
  keys.push_back(queue::key(d_.tenant, "audit:ARPYMT:" + recordno));
  keys.push_back(queue::key(d_.tenant, inv.empty() ? "audit:-" : "audit:ARINVOICE:" + inv));
  keys.push_back(queue::key(d_.tenant, "id:ARPYMT:" + p_.payment_id));
  keys.push_back(queue::key(d_.tenant, inv.empty() ? "rec:-" : "rec:ARINVOICE:" + inv));
  const auto t = now();
  args.push_back(owner_);
  args.push_back(recordno);
  args.push_back(std::to_string(t));
  args.push_back(iso8601_ms(t));
  args.push_back(mirror_fields(posting_, recordno));
  args.push_back(p_.payment_id);
  args.push_back(inv);
  args.push_back(std::to_string(core_->options.audit_max_entries));
  args.push_back(result);
  args.push_back(d_.envelope.event_id);
  args.push_back(std::to_string(core_->options.audit_max_age.count()));
  core_->log.info("payment posted", LogLine()
                                        .str("tenant", d_.tenant)
                                        .str("payment_id", p_.payment_id)
                                        .str("recordno", recordno)
                                        .str("invoice", inv)
                                        .str("result", result));
  eval(posted_script(), std::move(keys), std::move(args),
       [self = shared_from_this(), result](const Reply&) { self->finish(done_outcome(result)); });
}

}  // namespace isync::handlers::detail
