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

void Run::list_page(std::size_t segment) {
  if (halted()) return;
  send_page(segment, [self = shared_from_this(), segment, epoch = epoch_](intacct::CallOutcome o) {
    if (self->epoch_ == epoch) self->on_page(segment, o);
  });
}

void Run::prefetch_page(std::size_t segment) {
  auto p = std::make_shared<Prefetch>();
  segments_[segment].prefetch = p;
  send_page(segment, [p](intacct::CallOutcome o) {
    p->outcome = std::move(o);
    if (p->waiter) std::exchange(p->waiter, {})();
  });
}

void Run::next_page(std::size_t segment) {
  if (halted()) return;
  auto p = std::exchange(segments_[segment].prefetch, {});
  if (!p) return list_page(segment);
  if (p->outcome) return on_page(segment, *p->outcome);
  p->waiter = [self = shared_from_this(), p, segment, epoch = epoch_] {
    if (self->epoch_ == epoch && !self->halted()) self->on_page(segment, *p->outcome);
  };
}

void Run::split(std::int64_t from) {
  // At least two pages' worth of RECORDNOs per segment, or no split.
  const std::int64_t span = mirror_max_ - from;
  const auto k = std::min<std::int64_t>(static_cast<std::int64_t>(parallel()),
                                        span / (2 * static_cast<std::int64_t>(kPageSize)));
  if (k < 2) return;
  const std::int64_t step = span / k;
  segments_[0].hi = from + step;
  for (std::int64_t j = 1; j < k; ++j) {
    Segment s;
    s.last = from + step * j;
    if (j < k - 1) s.hi = from + step * (j + 1);
    segments_.push_back(std::move(s));
    ++open_segments_;
  }
  obj().segments = static_cast<std::int64_t>(segments_.size());
  for (std::size_t j = 1; j < segments_.size(); ++j) list_page(j);
}

void Run::send_page(std::size_t segment, std::function<void(intacct::CallOutcome)> done) {
  const Segment& seg = segments_[segment];
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
  std::vector<intacct::Filter> all{
      intacct::where(Op::greaterthan, "RECORDNO", {std::to_string(seg.last)})};
  if (seg.hi) {
    all.push_back(intacct::where(Op::lessthanorequalto, "RECORDNO", {std::to_string(*seg.hi)}));
  }
  auto recent = intacct::where(Op::greaterthanorequalto, "WHENMODIFIED", {intacct_time(since_)});
  if (object_ == "ARINVOICE") {
    all.push_back(intacct::any_of({recent, intacct::where(Op::notequalto, "TOTALDUE", {"0"})}));
  } else if (object_ == "ARPYMT") {
    all.push_back(recent);
  }
  q.filter = all.size() == 1 ? all.front() : intacct::all_of(std::move(all));
  ++obj().list_calls;
  gate_->call({intacct::Function{"", q}}, std::move(done));
}

void Run::on_page(std::size_t segment, const intacct::CallOutcome& outcome) {
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
  // The object's first page (segment 0, from 0, no ceiling yet) counts them all.
  const bool first = first_page_;
  if (first_page_ && data->totalcount) o.totalcount = *data->totalcount;
  first_page_ = false;
  o.listed += static_cast<std::int64_t>(rows->size());
  // The segment's last page: nothing remains (or the page came back short).
  const bool last_page =
      rows->empty() || (data->numremaining && *data->numremaining == 0) ||
      (!data->numremaining && rows->size() < static_cast<std::size_t>(kPageSize));
  const std::int64_t after = segments_[segment].last;
  std::optional<std::int64_t> upto = segments_[segment].hi;
  if (!last_page) upto = rows->back().recordno;
  if (!rows->empty()) segments_[segment].last = rows->back().recordno;
  if (first && !last_page && parallel() > 1) split(rows->back().recordno);
  if (!last_page && parallel() > 1) prefetch_page(segment);
  const auto epoch = epoch_;
  auto current = [self = shared_from_this(), epoch] {
    return self->epoch_ == epoch && !self->halted();
  };
  compare(rows, 0, after, upto, [self = shared_from_this(), segment, last_page, current] {
    if (!current()) return;
    self->flush_gone([self, segment, last_page, current] {
      if (!current()) return;
      self->apply_drafts([self, segment, last_page, current] {
        if (!current()) return;
        // Full batches only: what is left shares the gone candidates' reads.
        self->drain_reads(false, [self, segment, last_page, current] {
          if (!current()) return;
          if (!last_page) return self->next_page(segment);
          if (--self->open_segments_ > 0) return;
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
      [self = shared_from_this(), rows, from, upto, epoch = epoch_,
       then = std::move(then)](Result<std::vector<handlers::IndexEntry>> r) mutable {
        asio::post(self->strand_, [self, rows, from, upto, epoch, then = std::move(then),
                                   r = std::move(r)]() mutable {
          if (self->epoch_ != epoch || self->halted()) return;
          if (!r) {
            self->report_.errors.push_back({self->object_, r.error().code,
                                            "reading the mirror's index: " + r.error().message, "",
                                            "", "", ""});
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
