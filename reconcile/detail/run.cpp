#include "reconcile/detail/run.hpp"

#include <boost/asio/post.hpp>
#include <algorithm>
#include <cstdlib>
#include <ctime>

#include "queue/queue.hpp"
#include "reconcile/schedule.hpp"

namespace isync::reconcile::detail {

namespace asio = boost::asio;

namespace {

constexpr int kPageSize = 2000;
constexpr std::size_t kReadBatch = 100;
constexpr int kIndexBatch = 5000;

// Intacct's query dates: MM/DD/YYYY HH:MM:SS (UTC here; the caller keeps a
// day of margin for the zone Intacct really uses).
std::string intacct_time(std::int64_t epoch_s) {
  const std::time_t t = static_cast<std::time_t>(epoch_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d/%02d/%04d %02d:%02d:%02d", tm.tm_mon + 1, tm.tm_mday,
                tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

bool same_amount(const std::string& a, const std::string& b) {
  if (a == b) return true;
  if (a.empty() || b.empty()) return false;
  char* end_a = nullptr;
  char* end_b = nullptr;
  const double x = std::strtod(a.c_str(), &end_a);
  const double y = std::strtod(b.c_str(), &end_b);
  if (*end_a != '\0' || *end_b != '\0') return false;
  return x == y;
}

bool nonzero_amount(const std::string& a) {
  if (a.empty()) return false;
  char* end = nullptr;
  const double x = std::strtod(a.c_str(), &end);
  return *end != '\0' || x != 0;
}

std::optional<std::int64_t> to_int(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

const intacct::Data* first_data(const intacct::CallOutcome& outcome) {
  if (!outcome.response || outcome.response->results.empty()) return nullptr;
  const auto& r = outcome.response->results.front();
  return r.data ? &*r.data : nullptr;
}

}  // namespace

Run::Run(Strand strand, RunDeps deps, RunRequest request, std::string run_id,
         std::string fence_value)
    : strand_(strand),
      deps_(std::move(deps)),
      request_(std::move(request)),
      fence_value_(std::move(fence_value)),
      progress_timer_(strand),
      lock_timer_(strand) {
  gate_ = std::make_shared<Gate>(strand_, deps_.client, deps_.plan.concurrency, deps_.options);
  report_.run_id = std::move(run_id);
  report_.tenant = request_.tenant;
  report_.trigger = request_.trigger;
  report_.dry_run = request_.dry_run;
  report_.started_ms = deps_.clock->now_ms();
  report_.order = request_.objects;
  for (const auto& o : report_.order) report_.objects[o];
}

handlers::Fence Run::fence() const { return {lock_key(request_.tenant), fence_value_}; }

std::string Run::gone_key() const {
  return queue::key(request_.tenant, "reconcile:gone:" + report_.run_id + ":" + object_);
}

void Run::begin(std::function<void(const Report&)> done) {
  done_ = std::move(done);
  asio::post(strand_, [self = shared_from_this()] {
    self->renew_lock();
    self->write_progress();
    self->load_since();
  });
}

void Run::stop() {
  asio::post(strand_, [self = shared_from_this()] {
    self->stopping_ = true;
    self->gate_->stop();
  });
}

bool Run::halted() {
  if (finished_) return true;
  if (stopping_) {
    finish("failed", "stopped: the process is shutting down");
    return true;
  }
  if (lock_lost_) {
    finish("failed",
           "lost the run lock (it expired while the run was paused); nothing more was written");
    return true;
  }
  return false;
}

void Run::renew_lock() {
  const auto every = std::max<std::int64_t>(10, deps_.options.lock_ttl.count() / 3);
  lock_timer_.expires_after(std::chrono::milliseconds(every));
  lock_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->finished_) return;
    static const redis::Script renew(R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
)lua");
    self->deps_.conn->eval(
        renew, {lock_key(self->request_.tenant)},
        {self->fence_value_, std::to_string(self->deps_.options.lock_ttl.count())},
        [self](boost::system::error_code rec, redis::Reply r) {
          asio::post(self->strand_, [self, rec, r = std::move(r)] {
            // A Redis hiccup is not a lost lock: the next renewal tries again
            // well before the expiry.
            if (!rec && r.type == redis::Reply::Type::integer && r.integer == 0) {
              self->lock_lost_ = true;
              self->deps_.log->warn("reconcile lost its lock", LogLine()
                                                                   .str("tenant", self->request_.tenant)
                                                                   .str("run_id", self->report_.run_id));
            }
            if (!self->finished_) self->renew_lock();
          });
        });
  });
}

void Run::write_progress(std::function<void()> then) {
  deps_.conn->command({"SET", run_key(request_.tenant, report_.run_id), report_.to_json()},
                      [self = shared_from_this(), then = std::move(then)](boost::system::error_code,
                                                                          redis::Reply) mutable {
                        if (then) asio::post(self->strand_, std::move(then));
                      });
  if (finished_) return;
  progress_timer_.expires_after(deps_.options.progress_interval);
  progress_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec && !self->finished_) self->write_progress();
  });
}

void Run::load_since() {
  if (halted()) return;
  auto candidate = scope_since(deps_.clock->now_ms() / 1000, deps_.plan.initial_window);
  if (!candidate) return finish("failed", candidate.error().message);
  // SET … NX GET: the stored value, or nil when this run fixed it.
  deps_.conn->command(
      {"SET", since_key(request_.tenant), std::to_string(*candidate), "NX", "GET"},
      [self = shared_from_this(), c = *candidate](boost::system::error_code ec, redis::Reply r) {
        asio::post(self->strand_, [self, c, ec, r = std::move(r)] {
          if (ec || r.is_error()) {
            return self->finish("failed", "Redis: " + (ec ? ec.message() : r.str));
          }
          self->since_ = c;
          if (r.type == redis::Reply::Type::string) {
            if (auto v = to_int(r.str)) self->since_ = *v;
          }
          self->report_.since = self->since_;
          self->object_index_ = 0;
          self->next_object();
        });
      });
}

void Run::next_object() {
  if (halted()) return;
  if (object_index_ >= request_.objects.size()) return payments();
  object_ = request_.objects[object_index_];
  obj().state = "listing";
  last_ = 0;
  first_page_ = true;
  object_failed_ = false;
  to_read_.clear();
  mirror_version_.clear();
  gone_batch_.clear();
  drafts_.clear();
  list_page();
}

void Run::end_object() {
  if (!object_failed_) obj().state = "done";
  deps_.conn->command({"DEL", gone_key()}, [](boost::system::error_code, redis::Reply) {});
  ++object_index_;
  next_object();
}

void Run::on_failure(const intacct::CallOutcome& outcome, const std::string& what,
                     std::function<void()> object_over) {
  if (outcome.circuit_open) return finish("failed", "credentials rejected");
  auto err = first_error(outcome);
  ReportError e;
  e.object = object_;
  e.code = err && err->cls == intacct::ErrorClass::transient ? "intacct_unavailable"
                                                              : "intacct_error";
  e.message = what + " failed: " + (err ? err->summary() : std::string("no reply"));
  if (err && !err->errors.empty()) {
    e.errorno = err->errors.front().errorno;
    e.description = err->errors.front().description;
    if (!err->errors.front().description2.empty())
      e.description += (e.description.empty() ? "" : " ") + err->errors.front().description2;
    e.correction = err->errors.front().correction;
  }
  if (err && err->bad_credentials) return finish("failed", "credentials rejected");
  report_.errors.push_back(std::move(e));
  obj().state = "failed";
  object_failed_ = true;
  object_over();
}

// ---- listing ------------------------------------------------------------------

void Run::list_page() {
  if (halted()) return;
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
  gate_->call({intacct::Function{"", q}},
              [self = shared_from_this()](intacct::CallOutcome o) { self->on_page(o); });
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
  const bool last_page = rows->empty() || (data->numremaining && *data->numremaining == 0) ||
                         (!data->numremaining && rows->size() < static_cast<std::size_t>(kPageSize));
  const std::int64_t after = last_;
  std::optional<std::int64_t> upto;
  if (!last_page) upto = rows->back().recordno;
  if (!rows->empty()) last_ = rows->back().recordno;
  compare(rows, 0, after, upto, [self = shared_from_this(), last_page] {
    self->flush_gone([self, last_page] {
      self->apply_drafts([self, last_page] {
        self->drain_reads(last_page, [self, last_page] {
          if (self->halted()) return;
          if (!last_page) return self->list_page();
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
      [self = shared_from_this(), rows, from, upto, then = std::move(then)](
          Result<std::vector<handlers::IndexEntry>> r) mutable {
        asio::post(self->strand_, [self, rows, from, upto, then = std::move(then),
                                   r = std::move(r)]() mutable {
          if (self->halted()) return;
          if (!r) {
            self->report_.errors.push_back(
                {self->object_, r.error().code, "reading the mirror's index: " + r.error().message,
                 "", "", "", ""});
            self->obj().state = "failed";
            self->object_failed_ = true;
            return self->end_object();
          }
          const bool last_batch = r->size() < static_cast<std::size_t>(kIndexBatch);
          std::size_t i = from;
          self->compare_entries(*rows, i, *r, upto, last_batch);
          if (last_batch) return then();
          self->compare(rows, i, std::stoll(r->back().recordno), upto, std::move(then));
        });
      });
}

void Run::compare_entries(const std::vector<Listed>& rows, std::size_t& i,
                          const std::vector<handlers::IndexEntry>& entries,
                          std::optional<std::int64_t>, bool last_batch) {
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

// ---- fixing -------------------------------------------------------------------

void Run::flush_gone(std::function<void()> then) {
  if (gone_batch_.empty()) return then();
  std::vector<std::string> cmd{"SADD", gone_key()};
  for (auto& k : gone_batch_) cmd.push_back(std::move(k));
  gone_batch_.clear();
  deps_.conn->command(std::move(cmd), [](boost::system::error_code, redis::Reply) {});
  deps_.conn->command({"EXPIRE", gone_key(), "86400"},
                      [self = shared_from_this(), then = std::move(then)](
                          boost::system::error_code ec, redis::Reply r) mutable {
                        asio::post(self->strand_, [self, ec, r = std::move(r),
                                                   then = std::move(then)] {
                          if (self->halted()) return;
                          if (ec || r.is_error()) {
                            self->report_.errors.push_back(
                                {self->object_, "unavailable",
                                 "keeping gone candidates: " + (ec ? ec.message() : r.str), "", "",
                                 "", ""});
                            self->obj().state = "failed";
                            self->object_failed_ = true;
                            return self->end_object();
                          }
                          then();
                        });
                      });
}

void Run::apply_drafts(std::function<void()> then) {
  if (drafts_.empty() || request_.dry_run) {
    drafts_.clear();
    return then();
  }
  auto pending = std::make_shared<std::size_t>(drafts_.size());
  auto shared_then = std::make_shared<std::function<void()>>(std::move(then));
  for (const auto& d : drafts_) {
    deps_.mirror->apply_draft(
        request_.tenant, d.key, d.version, d.whenmodified, "reconcile", fence(),
        [self = shared_from_this(), pending, shared_then, d](Result<std::string> r) {
          asio::post(self->strand_, [self, pending, shared_then, d, r = std::move(r)] {
            if (r) self->count_decision(d.key, "draft", *r, 0, d.version);
            if (--*pending == 0) (*shared_then)();
          });
        });
  }
  drafts_.clear();
}

void Run::drain_reads(bool all, std::function<void()> then) {
  if (halted()) return;
  if (request_.dry_run) {
    to_read_.clear();
    return then();
  }
  if (to_read_.empty() || (!all && to_read_.size() < kReadBatch)) return then();
  std::vector<std::pair<std::string, std::string>> batch;
  while (!to_read_.empty() && batch.size() < kReadBatch) {
    batch.push_back(std::move(to_read_.front()));
    to_read_.pop_front();
  }
  read_batch(std::move(batch), [self = shared_from_this(), all, then = std::move(then)]() mutable {
    self->drain_reads(all, std::move(then));
  });
}

void Run::read_batch(std::vector<std::pair<std::string, std::string>> batch,
                     std::function<void()> then) {
  if (halted()) return;
  intacct::Read read;
  read.object = object_;
  for (const auto& [key, _] : batch) read.keys.push_back(key);
  ++obj().read_calls;
  const std::int64_t sent_at = deps_.clock->now_ms();
  gate_->call({intacct::Function{"", read}}, [self = shared_from_this(), sent_at,
                                               batch = std::move(batch), then = std::move(then)](
                                                  intacct::CallOutcome outcome) mutable {
    if (self->halted()) return;
    const intacct::Data* data = first_data(outcome);
    if (first_error(outcome) || !data) {
      return self->on_failure(outcome, "reading " + self->object_, [self] { self->end_object(); });
    }
    auto rows = std::make_shared<std::map<std::string, intacct::Row>>();
    for (const intacct::Row* row : data->rows_of(self->object_)) {
      if (const std::string* no = row->get("RECORDNO")) (*rows)[*no] = *row;
    }
    self->obj().reads_done += static_cast<std::int64_t>(batch.size());
    self->apply_rows(std::move(rows), std::move(batch), sent_at, std::move(then));
  });
}

void Run::apply_rows(std::shared_ptr<std::map<std::string, intacct::Row>> rows,
                     std::vector<std::pair<std::string, std::string>> batch, std::int64_t read_at,
                     std::function<void()> then) {
  if (batch.empty()) return then();
  auto pending = std::make_shared<std::size_t>(batch.size());
  auto shared_then = std::make_shared<std::function<void()>>(std::move(then));
  for (auto& [key, kind] : batch) {
    auto on_done = [self = shared_from_this(), pending, shared_then, key, kind,
                    rows](Result<std::string> r) {
      asio::post(self->strand_, [self, pending, shared_then, key, kind, rows, r = std::move(r)] {
        if (!r) {
          self->report_.errors.push_back({self->object_, r.error().code,
                                          "writing the mirror: " + r.error().message, "", "", "",
                                          key});
        } else {
          std::int64_t to = 0;
          if (auto it = rows->find(key); it != rows->end()) {
            if (const std::string* wm = it->second.get("WHENMODIFIED")) {
              if (auto v = parse_whenmodified(*wm)) to = *v;
            }
          }
          const auto from = self->mirror_version_.count(key) ? self->mirror_version_[key] : 0;
          self->count_decision(key, kind, *r, from, to);
        }
        if (--*pending == 0) (*shared_then)();
      });
    };
    auto it = rows->find(key);
    if (it != rows->end()) {
      deps_.mirror->apply_read(request_.tenant, object_, key, it->second, read_at, "reconcile",
                               fence(), std::move(on_done));
    } else {
      deps_.mirror->apply_gone(request_.tenant, object_, key, read_at, "reconcile", fence(),
                               std::move(on_done));
    }
  }
}

void Run::count_decision(const std::string& key, const std::string& kind,
                         const std::string& decision, std::int64_t from_version,
                         std::int64_t to_version) {
  ObjectReport& o = obj();
  std::string fix;
  if (decision == "fenced") {
    lock_lost_ = true;
    return;
  }
  if (decision == "applied") {
    fix = kind == "missing" ? "created" : "updated";
    ++(kind == "missing" ? o.created : o.updated);
  } else if (decision == "tombstoned") {
    fix = "tombstoned";
    ++o.tombstoned;
  } else if (decision == "removed") {
    fix = "draft_removed";
    ++o.drafts_removed;
  } else {
    return;
  }
  deps_.log->info("reconcile fix", LogLine()
                                       .str("tenant", request_.tenant)
                                       .str("run_id", report_.run_id)
                                       .str("object", object_)
                                       .str("key", key)
                                       .str("kind", kind)
                                       .str("fix", fix)
                                       .num("mirror_version", from_version)
                                       .num("intacct_version", to_version));
}

void Run::confirm_gone() {
  if (halted()) return;
  ObjectReport& o = obj();
  // Mass-delete guard: more gone than max(100, 5 % of listed) is likelier a
  // listing that cannot see records than real deletes.
  const bool too_many = o.gone_candidates > 100 && o.gone_candidates * 100 > 5 * o.listed;
  if (too_many && !request_.allow_mass_delete) {
    o.mass_delete_suspected = true;
    report_.errors.push_back(
        {object_, "mass_delete_suspected",
         std::to_string(o.gone_candidates) + " mirrored " + object_ +
             " records are missing from Intacct's listing of " + std::to_string(o.listed) +
             " (more than max(100, 5 % of listed)); nothing was tombstoned. Likely causes: the "
             "web-services user lacks permission to see these records, they are private to an "
             "entity it cannot see, or the tenant's entity_id names the wrong entity. If the "
             "deletes are real, run again with --allow-mass-delete.",
         "", "", "", ""});
    object_failed_ = true;
    o.state = "failed";
    return end_object();
  }
  if (request_.dry_run || o.gone_candidates == 0) return end_object();
  deps_.conn->command(
      {"SPOP", gone_key(), std::to_string(kReadBatch)},
      [self = shared_from_this()](boost::system::error_code ec, redis::Reply r) {
        asio::post(self->strand_, [self, ec, r = std::move(r)] {
          if (self->halted()) return;
          if (ec || r.is_error()) {
            self->report_.errors.push_back({self->object_, "unavailable",
                                            "reading gone candidates: " +
                                                (ec ? ec.message() : r.str),
                                            "", "", "", ""});
            self->object_failed_ = true;
            self->obj().state = "failed";
            return self->end_object();
          }
          std::vector<std::pair<std::string, std::string>> batch;
          for (const auto& e : r.elements) {
            if (e.type == redis::Reply::Type::string) batch.emplace_back(e.str, "gone");
          }
          if (batch.empty()) return self->end_object();
          self->read_batch(std::move(batch), [self] { self->confirm_gone(); });
        });
      });
}

// ---- payments and the end ---------------------------------------------------------

void Run::payments() {
  if (halted()) return;
  const bool wanted = std::find(request_.objects.begin(), request_.objects.end(), "ARPYMT") !=
                      request_.objects.end();
  if (!wanted || !deps_.payments) return finish("");
  report_.payments.ran = true;
  auto gate = gate_;
  handlers::CallFn call = [gate](std::vector<intacct::Function> functions,
                                 std::function<void(intacct::CallOutcome)> done) {
    gate->call(std::move(functions), std::move(done));
  };
  deps_.payments->settle(
      request_.tenant, std::move(call), fence(), deps_.options.readback_wait, request_.dry_run,
      [self = shared_from_this()](Result<handlers::SettleCounts> r) {
        asio::post(self->strand_, [self, r = std::move(r)] {
          if (self->finished_) return;
          if (!r) {
            self->report_.errors.push_back(
                {"ARPYMT", r.error().code, "settling payments: " + r.error().message, "", "", "",
                 ""});
            return self->finish("");
          }
          auto& p = self->report_.payments;
          p.examined = r->examined;
          p.adopted = r->adopted;
          p.made_due = r->made_due;
          p.reversed = r->reversed;
          p.conflicts = r->conflicts;
          p.busy = r->busy;
          p.dead_letters = r->dead_letters;
          p.docnumber_calls = r->docnumber_reads;
          p.reversal_calls = r->reversal_reads;
          for (const auto& e : r->errors) {
            self->report_.errors.push_back({"ARPYMT", e.code, e.message, e.errorno, "",
                                            e.correction, e.payment_id});
          }
          self->finish("");
        });
      });
}

void Run::finish(std::string state, std::string failure) {
  if (finished_) return;
  finished_ = true;
  progress_timer_.cancel();
  lock_timer_.cancel();
  gate_->stop();
  report_.retries = gate_->retries();
  report_.logins = gate_->logins();
  report_.finished_ms = deps_.clock->now_ms();
  if (state.empty()) {
    bool any_failed = false;
    for (const auto& [_, o] : report_.objects) any_failed = any_failed || o.state == "failed";
    bool payment_errors = false;
    for (const auto& e : report_.errors) payment_errors = payment_errors || e.object == "ARPYMT";
    state = any_failed || payment_errors ? "partial" : "succeeded";
  }
  report_.state = state;
  report_.failure = std::move(failure);
  for (auto& [_, o] : report_.objects) {
    if (o.state != "done" && o.state != "failed") o.state = state == "failed" ? "failed" : o.state;
  }
  finish_in_redis(report_, fence_value_, deps_, [self = shared_from_this()] {
    asio::post(self->strand_, [self] {
      if (self->done_) self->done_(self->report_);
    });
  });
}

}  // namespace isync::reconcile::detail
