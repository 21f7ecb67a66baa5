// SettleRun, what is done with each entry: the batched reads (DOCNUMBERs with
// `in`, reversals by RECORDNO), adopt, reverse, make due and release (see
// payment_settle_run.hpp).
#include "handlers/detail/payment_lua.hpp"
#include "handlers/detail/payment_settle_run.hpp"
#include "handlers/detail/record_doc.hpp"

namespace isync::handlers::detail {

namespace {

// Rows a DOCNUMBER read takes in one page: 100 payments, each found at most
// a few times (a duplicate, someone else's number).
constexpr int kDocPageSize = 2000;

// Each batch's continuation runs `step(i)` for i = 0..n-1, one after another,
// then `then`.
void each(std::shared_ptr<std::vector<SettleEntry>> batch,
          std::function<void(const SettleEntry&, SettleRun::Next)> step, SettleRun::Next then,
          std::size_t i = 0) {
  if (i >= batch->size()) return then();
  const SettleEntry& e = (*batch)[i];
  step(e, [batch, step, then, i] { each(batch, step, then, i + 1); });
}

}  // namespace

// ---- posting / unknown: read back by DOCNUMBER ----

void SettleRun::flush_docs(Next then) {
  if (docs_.empty() || ended_) return then();
  std::vector<SettleEntry> batch;
  batch.swap(docs_);
  std::vector<std::string> ids;
  for (const auto& e : batch) ids.push_back(e.payment_id);
  ++counts_.docnumber_reads;
  const std::string cid = "isync-settle-docs-" + owner_.substr(0, 12);
  call_({intacct::Function{cid, readback_query(ids, kDocPageSize)}},
        [self = shared_from_this(), cid, batch = std::move(batch),
         then = std::move(then)](intacct::CallOutcome out) mutable {
          self->docs_answered(std::move(batch), answer_of(std::move(out), cid), std::move(then));
        });
}

void SettleRun::docs_answered(std::vector<SettleEntry> batch, const Answer& a, Next then) {
  if (read_failed(a, "reading ARPYMTs back by DOCNUMBER", batch.size())) return;
  if (a.result && a.result->data && a.result->data->numremaining.value_or(0) > 0) {
    // More rows than a page: those not seen are left to their workers.
    log_.warn("payment read-back by DOCNUMBER has more rows than one page",
              LogLine().str("tenant", tenant_).num("numremaining", *a.result->data->numremaining));
  }
  auto found = rows(a, "ARPYMT");
  auto self = shared_from_this();
  auto shared = std::make_shared<std::vector<SettleEntry>>(std::move(batch));
  // The rows stay alive with `a`, which the steps keep.
  auto answer = std::make_shared<Answer>(a);
  each(
      shared,
      [self, answer, found](const SettleEntry& e, Next next) {
        auto posting = decode_posting(e.body);
        const intacct::Row* ours = nullptr;
        const intacct::Row* theirs = nullptr;
        if (posting) {
          const int exponent = currency_exponent(posting->currency);
          for (const auto* r : found) {
            switch (match_readback(*r, e.payment_id, *posting, exponent)) {
              case ReadBackMatch::ours:
                if (ours == nullptr) ours = r;
                break;
              case ReadBackMatch::theirs:
                theirs = r;
                break;
              case ReadBackMatch::another_document:
                break;
            }
          }
        }
        const std::string id = e.payment_id;
        auto released = [self, id, next] { self->release(id, next); };
        if (ours != nullptr) return self->adopt(e, *posting, field(*ours, "RECORDNO"), released);
        if (theirs != nullptr) {
          ++self->counts_.conflicts;
          self->log_.warn("payment's DOCNUMBER is another ARPYMT's in Intacct",
                          LogLine()
                              .str("tenant", self->tenant_)
                              .str("payment_id", id)
                              .str("recordno", field(*theirs, "RECORDNO")));
        }
        self->make_due(e, released);
      },
      std::move(then));
}

// ---- reversing / reverse_unknown: read by RECORDNO ----

void SettleRun::flush_reversals(Next then) {
  if (reversals_.empty() || ended_) return then();
  std::vector<SettleEntry> batch;
  batch.swap(reversals_);
  intacct::Read read;
  read.object = "ARPYMT";
  read.fields = {"RECORDNO", "STATE"};
  for (const auto& e : batch) read.keys.push_back(e.recordno);
  ++counts_.reversal_reads;
  const std::string cid = "isync-settle-reversals-" + owner_.substr(0, 12);
  call_({intacct::Function{cid, std::move(read)}},
        [self = shared_from_this(), cid, batch = std::move(batch),
         then = std::move(then)](intacct::CallOutcome out) mutable {
          self->reversals_answered(std::move(batch), answer_of(std::move(out), cid),
                                   std::move(then));
        });
}

void SettleRun::reversals_answered(std::vector<SettleEntry> batch, const Answer& a, Next then) {
  if (read_failed(a, "reading ARPYMTs by RECORDNO", batch.size())) return;
  auto reversed = std::make_shared<std::set<std::string>>();
  for (const auto* r : rows(a, "ARPYMT")) {
    const std::string state = field(*r, "STATE");
    if (state == "Reversed" || state == "Voided") reversed->insert(field(*r, "RECORDNO"));
  }
  auto self = shared_from_this();
  each(
      std::make_shared<std::vector<SettleEntry>>(std::move(batch)),
      [self, reversed](const SettleEntry& e, Next next) {
        const std::string id = e.payment_id;
        auto released = [self, id, next] { self->release(id, next); };
        if (reversed->count(e.recordno) != 0) return self->reverse(e, released);
        self->make_due(e, released);
      },
      std::move(then));
}

bool SettleRun::read_failed(const Answer& a, const std::string& what, std::size_t payments) {
  if (a.circuit_open) {
    fail("circuit_open", "the Intacct credentials of tenant " + tenant_ +
                             " were rejected (circuit open) while " + what +
                             "; the payments were not settled");
    return true;
  }
  if (!a.error) return false;
  SettleError err;
  err.code = "intacct_error";
  err.message = what + " for " + std::to_string(payments) + " payments of tenant " + tenant_ +
                " failed: " + a.error->summary() +
                "; those payments and the rest were not settled by this run";
  if (!a.error->errors.empty()) {
    err.errorno = a.error->errors.front().errorno;
    err.correction = a.error->errors.front().correction;
  }
  counts_.errors.push_back(std::move(err));
  end(counts_);
  return true;
}

// ---- the writes ----

bool SettleRun::settled(const SettleEntry& e, const redis::Reply& r, const char* what) {
  if (r.integer == -1) {
    fail("fenced", "the reconcile lock of tenant " + tenant_ +
                       " no longer holds this run's token (another run took over); payment " +
                       e.payment_id + " was not " + what + " and the run stopped");
    return false;
  }
  if (r.integer != 1) {
    // A worker took the lease (ours had run out) or settled the payment.
    ++counts_.busy;
    held_.erase(e.payment_id);
    return false;
  }
  log_.info("payment settled by reconcile", LogLine()
                                                .str("tenant", tenant_)
                                                .str("payment_id", e.payment_id)
                                                .str("recordno", e.recordno)
                                                .str("result", what));
  held_.erase(e.payment_id);
  return true;
}

void SettleRun::adopt(const SettleEntry& e, const Posting& posting, const std::string& recordno,
                      Next then) {
  if (dry_run_) {
    ++counts_.adopted;
    return then();
  }
  const std::string& inv = posting.invoice_recordno;
  const auto t = now();
  std::vector<std::string> keys{key("-"),
                                key("-"),
                                key("pay:" + e.payment_id),
                                e.lock.empty() ? key("pay-lock:-") : e.lock,
                                key("payments:unsettled"),
                                key("rec:ARPYMT:" + recordno),
                                key("audit:ARPYMT:" + recordno),
                                key(inv.empty() ? "audit:-" : "audit:ARINVOICE:" + inv),
                                key("id:ARPYMT:" + e.payment_id),
                                key(inv.empty() ? "rec:-" : "rec:ARINVOICE:" + inv),
                                fence_.lock_key};
  std::vector<std::string> args{"",
                                "",
                                "",
                                owner_,
                                recordno,
                                std::to_string(t),
                                iso8601_ms(t),
                                mirror_fields(posting, recordno),
                                e.payment_id,
                                inv,
                                std::to_string(options_.audit_max_entries),
                                "adopted",
                                e.event,
                                std::to_string(options_.audit_max_age.count()),
                                fence_.token};
  SettleEntry adopted = e;
  adopted.recordno = recordno;
  eval(posted_settle_script(), std::move(keys), std::move(args),
       [self = shared_from_this(), adopted, then](const redis::Reply& r) {
         if (self->settled(adopted, r, "adopted")) ++self->counts_.adopted;
         if (!self->ended_) then();
       });
}

void SettleRun::reverse(const SettleEntry& e, Next then) {
  if (dry_run_) {
    ++counts_.reversed;
    return then();
  }
  const std::string& inv = e.invoice;
  const auto t = now();
  std::vector<std::string> keys{key("-"),
                                key("-"),
                                key("pay:" + e.payment_id),
                                key("payments:unsettled"),
                                key("rec:ARPYMT:" + e.recordno),
                                key("audit:ARPYMT:" + e.recordno),
                                key(inv.empty() ? "audit:-" : "audit:ARINVOICE:" + inv),
                                key(inv.empty() ? "rec:-" : "rec:ARINVOICE:" + inv),
                                fence_.lock_key};
  std::vector<std::string> args{"",
                                "",
                                "",
                                owner_,
                                std::to_string(t),
                                iso8601_ms(t),
                                e.payment_id,
                                e.event,
                                std::to_string(options_.audit_max_entries),
                                inv,
                                std::to_string(options_.audit_max_age.count()),
                                fence_.token};
  eval(reversed_settle_script(), std::move(keys), std::move(args),
       [self = shared_from_this(), e, then](const redis::Reply& r) {
         if (self->settled(e, r, "reversed")) ++self->counts_.reversed;
         if (!self->ended_) then();
       });
}

void SettleRun::make_due(const SettleEntry& e, Next then) {
  if (e.event.empty()) return then();
  if (dry_run_) {
    if (e.retry_due > now()) ++counts_.made_due;
    return then();
  }
  eval(make_due_script(), {key("retry"), fence_.lock_key},
       {e.event, std::to_string(now()), fence_.token},
       [self = shared_from_this(), e, then](const redis::Reply& r) {
         if (r.integer == -1) {
           return self->fail("fenced", "the reconcile lock of tenant " + self->tenant_ +
                                           " no longer holds this run's token; event " + e.event +
                                           " of payment " + e.payment_id +
                                           " was not made due and the run stopped");
         }
         if (r.integer == 1) {
           ++self->counts_.made_due;
           self->log_.info("payment event made due by reconcile",
                           LogLine()
                               .str("tenant", self->tenant_)
                               .str("payment_id", e.payment_id)
                               .str("state", e.state)
                               .str("event_id", e.event));
         }
         then();
       });
}

void SettleRun::release(const std::string& payment_id, Next then) {
  if (held_.count(payment_id) == 0) return then();
  held_.erase(payment_id);
  eval(release_script(), {key("pay:" + payment_id), key("pay-lock:-"), key("payments:unsettled")},
       {owner_, std::to_string(now()), "", "0", "", payment_id, "0", "", "0"},
       [then](const redis::Reply&) { then(); });
}

}  // namespace isync::handlers::detail
