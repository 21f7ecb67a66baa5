// The run's listing of Intacct and its comparison with the index.
#include <algorithm>
#include <boost/asio/post.hpp>
#include <utility>

#include "queue/queue.hpp"
#include "reconcile/detail/run.hpp"
#include "reconcile/detail/run_util.hpp"

namespace isync::reconcile::detail {

namespace asio = boost::asio;

// ---- listing ------------------------------------------------------------------

std::size_t Run::parallel() const {
  return static_cast<std::size_t>(std::max(1, deps_.plan.concurrency - 1));
}

void Run::list_page() {
  if (halted()) return;
  send_page([self = shared_from_this()](intacct::CallOutcome o) { self->on_page(o); });
}

void Run::prefetch_page() {
  auto p = std::make_shared<Prefetch>();
  prefetch_ = p;
  send_page([p](intacct::CallOutcome o) {
    p->outcome = std::move(o);
    if (p->waiter) std::exchange(p->waiter, {})();
  });
}

void Run::next_page() {
  if (halted()) return;
  auto p = std::exchange(prefetch_, {});
  if (!p) return list_page();
  if (p->outcome) return on_page(*p->outcome);
  p->waiter = [self = shared_from_this(), p] {
    if (!self->halted()) self->on_page(*p->outcome);
  };
}

void Run::send_page(std::function<void(intacct::CallOutcome)> done) {
  intacct::Query q;
  q.object = object_;
  q.select = {"RECORDNO", "WHENMODIFIED"};
  if (object_ == "ARINVOICE") {
    q.select.push_back("STATE");
    q.select.push_back("TOTALDUE");
  }
  q.show_private = true;
  q.order_by = {{"RECORDNO", true}};
  q.pagesize = kPageSize;
  using Op = intacct::Filter::Op;
  auto key = intacct::where(Op::greaterthan, "RECORDNO", {std::to_string(last_)});
  auto recent = intacct::where(Op::greaterthanorequalto, "WHENMODIFIED", {intacct_time(since_)});
  if (object_ == "ARINVOICE") {
    q.filter = intacct::all_of(
        {key, intacct::any_of({recent, intacct::where(Op::notequalto, "TOTALDUE", {"0"})})});
  } else if (object_ == "ARPYMT") {
    q.filter = intacct::all_of({key, recent});
  } else {
    q.filter = key;
  }
  ++obj().list_calls;
  gate_->call({intacct::Function{"", q}}, std::move(done));
}

void Run::on_page(const intacct::CallOutcome& outcome) {
  if (halted()) return;
  const intacct::Data* data = first_data(outcome);
  if (first_error(outcome) || !data) {
    return on_failure(outcome, "listing " + object_, [this] { end_object(); });
  }
  auto rows = std::make_shared<std::vector<Listed>>();
  for (const intacct::Row* row : data->rows_of(object_)) {
    Listed l;
    const std::string* no = row->get("RECORDNO");
    if (!no) continue;
    auto n = to_int(*no);
    if (!n) continue;
    l.recordno = *n;
    l.key = *no;
    if (const std::string* wm = row->get("WHENMODIFIED")) {
      l.whenmodified = *wm;
      if (auto v = parse_whenmodified(*wm)) l.version = *v;
    }
    if (const std::string* s = row->get("STATE")) {
      l.state = *s;
      l.draft = object_ == "ARINVOICE" && (*s == "Draft" || *s == "draft" || *s == "DRAFT");
    }
    if (const std::string* t = row->get("TOTALDUE")) l.totaldue = *t;
    rows->push_back(std::move(l));
  }
  std::sort(rows->begin(), rows->end(),
            [](const Listed& a, const Listed& b) { return a.recordno < b.recordno; });
  ObjectReport& o = obj();
  if (first_page_ && data->totalcount) o.totalcount = *data->totalcount;
  first_page_ = false;
  o.listed += static_cast<std::int64_t>(rows->size());
  // The last page: nothing remains (or the page came back short).
  const bool last_page =
      rows->empty() || (data->numremaining && *data->numremaining == 0) ||
      (!data->numremaining && rows->size() < static_cast<std::size_t>(kPageSize));
  const std::int64_t after = last_;
  std::optional<std::int64_t> upto;
  if (!last_page) upto = rows->back().recordno;
  if (!rows->empty()) last_ = rows->back().recordno;
  if (!last_page && parallel() > 1) prefetch_page();
  compare(rows, 0, after, upto, [self = shared_from_this(), last_page] {
    self->flush_gone([self, last_page] {
      self->apply_drafts([self, last_page] {
        // Full batches only: what is left shares the gone candidates' reads.
        self->drain_reads(false, [self, last_page] {
          if (self->halted()) return;
          if (!last_page) return self->next_page();
          self->obj().state = "confirming";
          self->confirm_gone();
        });
      });
    });
  });
}

bool Run::in_scope(const handlers::IndexEntry& e) const {
  if (object_ == "CUSTOMER") return true;
  if (e.version == 0 || e.version >= since_) return true;
  return object_ == "ARINVOICE" && nonzero_amount(e.totaldue);
}

void Run::compare(std::shared_ptr<std::vector<Listed>> rows, std::size_t from, std::int64_t after,
                  std::optional<std::int64_t> upto, std::function<void()> then) {
  deps_.mirror->index_page(
      request_.tenant, object_, after, upto, kIndexBatch,
      [self = shared_from_this(), rows, from, upto,
       then = std::move(then)](Result<std::vector<handlers::IndexEntry>> r) mutable {
        asio::post(self->strand_,
                   [self, rows, from, upto, then = std::move(then), r = std::move(r)]() mutable {
                     if (self->halted()) return;
                     if (!r) {
                       self->report_.errors.push_back(
                           {self->object_, r.error().code,
                            "reading the mirror's index: " + r.error().message, "", "", "", ""});
                       self->obj().state = "failed";
                       self->object_failed_ = true;
                       return self->end_object();
                     }
                     const bool last_batch = r->size() < static_cast<std::size_t>(kIndexBatch);
                     std::size_t i = from;
                     self->compare_entries(*rows, i, *r, last_batch);
                     if (last_batch) return then();
                     self->compare(rows, i, std::stoll(r->back().recordno), upto, std::move(then));
                   });
      });
}

void Run::compare_entries(const std::vector<Listed>& rows, std::size_t& i,
                          const std::vector<handlers::IndexEntry>& entries, bool last_batch) {
  ObjectReport& o = obj();
  auto not_indexed = [&](const Listed& row) {
    if (row.draft) return;  // a listed draft is never missing
    ++o.missing;
    o.sample("missing", row.key);
    to_read_.emplace_back(row.key, "missing");
  };
  for (const auto& e : entries) {
    const auto no = to_int(e.recordno);
    if (!no) continue;
    while (i < rows.size() && rows[i].recordno < *no) not_indexed(rows[i++]);
    if (i < rows.size() && rows[i].recordno == *no) {
      const Listed& row = rows[i++];
      if (row.draft) {
        ++o.drafts;
        o.sample("draft", row.key);
        drafts_.push_back(row);
      } else if (e.version < row.version ||
                 (object_ == "ARINVOICE" && !same_amount(e.totaldue, row.totaldue))) {
        ++o.stale;
        o.sample("stale", row.key);
        mirror_version_[row.key] = e.version;
        to_read_.emplace_back(row.key, "stale");
      }
      continue;
    }
    if (!in_scope(e)) continue;
    ++o.gone_candidates;
    o.sample("gone", e.recordno);
    gone_batch_.push_back(e.recordno);
  }
  if (last_batch) {
    while (i < rows.size()) not_indexed(rows[i++]);
  }
}

}  // namespace isync::reconcile::detail
