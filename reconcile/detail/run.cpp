#include "reconcile/detail/run.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>

#include "queue/queue.hpp"
#include "reconcile/detail/run_util.hpp"
#include "reconcile/schedule.hpp"

namespace isync::reconcile::detail {

namespace asio = boost::asio;

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
              self->deps_.log->warn("reconcile lost its lock",
                                    LogLine()
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
  first_page_ = true;
  segments_.assign(1, Segment{});
  open_segments_ = 1;
  mirror_max_ = 0;
  const auto epoch = ++epoch_;
  object_failed_ = false;
  to_read_.clear();
  mirror_version_.clear();
  gone_batch_.clear();
  drafts_.clear();
  if (parallel() < 2) return list_page(0);
  // The index's highest RECORDNO tells how far the listing will go (for the
  // split); without it the object is listed in one segment.
  deps_.conn->command(
      {"ZREVRANGE", queue::key(request_.tenant, "idx:" + object_), "0", "0"},
      [self = shared_from_this(), epoch](boost::system::error_code ec, redis::Reply r) {
        asio::post(self->strand_, [self, epoch, ec, r = std::move(r)] {
          if (self->epoch_ != epoch || self->halted()) return;
          if (!ec && r.type == redis::Reply::Type::array && !r.elements.empty() &&
              r.elements[0].type == redis::Reply::Type::string) {
            self->mirror_max_ = to_int(r.elements[0].str).value_or(0);
          }
          self->list_page(0);
        });
      });
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
  e.code =
      err && err->cls == intacct::ErrorClass::transient ? "intacct_unavailable" : "intacct_error";
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
          if (!r && r.error().code == "fenced") {
            self->lock_lost_ = true;
            self->halted();
            return;
          }
          if (!r && r.error().code == "circuit_open") {
            return self->finish("failed", "credentials rejected");
          }
          if (!r) {
            self->report_.errors.push_back({"ARPYMT", r.error().code,
                                            "settling payments: " + r.error().message, "", "", "",
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
            self->report_.errors.push_back(
                {"ARPYMT", e.code, e.message, e.errorno, "", e.correction, e.payment_id});
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
