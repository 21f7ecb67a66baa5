// WorkerPool: `workers` consumers, each with its own Redis connection for the
// blocking XREADGROUP, plus one shared connection for scripts (moves, the
// retry mover, reclaim). All pool state lives on strand_; Redis and handler
// completions are posted to it.
#include <unistd.h>

#include <boost/asio/post.hpp>

#include "queue/detail/worker_pool_impl.hpp"

namespace isync::queue {

namespace {

namespace asio = boost::asio;

std::string consumer_base() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host[0] != '\0' ? host : "host") + "-" + std::to_string(::getpid());
}

// Accept-to-apply ages: milliseconds while the queue keeps up, up to hours
// for events that waited in the retry schedule or parked.
std::vector<double> age_buckets() {
  return {0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25,
          0.5,   1,     2.5,   5,    10,    30,   60,   300,  900, 3600};
}

}  // namespace

WorkerPool::Impl::Entry WorkerPool::Impl::parse_entry(const Reply& r) {
  Entry e;
  if (r.type != Reply::Type::array || r.elements.size() < 2) return e;
  e.id = r.elements[0].str;
  const auto& kv = r.elements[1].elements;
  for (size_t i = 0; i + 1 < kv.size(); i += 2) e.fields[kv[i].str] = kv[i + 1].str;
  return e;
}

WorkerPool::Impl::Impl(asio::any_io_executor ex, redis::Endpoint endpoint,
                       std::vector<std::string> tenants, Handler& handler, WorkerOptions options,
                       Metrics& metrics, Clock& clock, Log& log)
    : strand_(asio::make_strand(ex)),
      endpoint_(std::move(endpoint)),
      handler_(handler),
      options_(options),
      metrics_(metrics),
      clock_(clock),
      log_(log),
      mover_timer_(strand_),
      reclaim_timer_(strand_),
      group_timer_(strand_),
      activity_timer_(strand_),
      rng_(std::random_device{}()),
      age_at_apply_(metrics.histogram(
          "isync_event_age_at_apply_seconds",
          "Time from an event's accept (its received_at) to its outcome done (applied and acked), "
          "seconds; includes queueing, retries and parking.",
          {}, age_buckets())) {
  for (auto& t : tenants) {
    stream_tenant_[key(t, "events")] = t;
    tenants_.push_back(std::move(t));
  }
  options_.workers = std::max(1, options_.workers);
  options_.read_count = std::clamp(options_.read_count, 1, 1000);
  base_ = consumer_base();
}

std::shared_ptr<redis::Connection> WorkerPool::Impl::make_conn(const std::string& name, ms block) {
  redis::Options o;
  o.client_name = name;
  o.command_timeout = std::max(o.command_timeout, block + ms(5000));
  o.reconnect_interval = options_.reconnect_interval;
  auto c = redis::Connection::create(strand_.get_inner_executor(), endpoint_, o, &log_);
  c->start();
  return c;
}

void WorkerPool::Impl::start() {
  asio::dispatch(strand_, [self = shared_from_this()] {
    if (self->started_) return;
    self->started_ = true;
    self->ops_ = self->make_conn(self->base_ + "-ops", ms(0));
    for (int i = 0; i < self->options_.workers; ++i) {
      Worker w;
      w.consumer = self->base_ + "-" + std::to_string(i);
      w.conn = self->make_conn(w.consumer, self->options_.block);
      self->workers_.push_back(std::move(w));
    }
    self->ensure_groups();
  });
}

// XGROUP CREATE for every stream; retried until all exist, then reading starts.
void WorkerPool::Impl::ensure_groups() {
  if (stopping_) return;
  auto remaining = std::make_shared<size_t>(tenants_.size());
  auto failed = std::make_shared<bool>(false);
  if (tenants_.empty()) return;
  for (const auto& [stream, tenant] : stream_tenant_) {
    ops_->command(
        {"XGROUP", "CREATE", stream, std::string(kGroup), "0", "MKSTREAM"},
        [self = shared_from_this(), remaining, failed](boost::system::error_code ec, Reply r) {
          asio::post(self->strand_, [self, remaining, failed, ec, r = std::move(r)] {
            if (ec || (r.is_error() && r.str.rfind("BUSYGROUP", 0) != 0)) {
              *failed = true;
            }
            if (--*remaining > 0) return;
            if (*failed) {
              // Right after start the connection is usually still being made
              // (the command was not sent): try again soon, then back off,
              // so the workers start reading within milliseconds of Redis
              // answering, not half a second later.
              self->group_retry_ = std::min(self->group_retry_ * 2, ms(500));
              self->group_timer_.expires_after(self->group_retry_);
              self->group_timer_.async_wait([self](boost::system::error_code tec) {
                if (!tec) self->ensure_groups();
              });
              return;
            }
            self->groups_ready();
          });
        });
  }
}

void WorkerPool::Impl::groups_ready() {
  if (stopping_ || running_) return;
  running_ = true;
  for (size_t i = 0; i < workers_.size(); ++i) read(i);
  schedule_mover();
  schedule_reclaim();
  schedule_activity_flush();
}

// ---- activity counts ----

void WorkerPool::Impl::schedule_activity_flush() {
  if (stopping_) return;
  activity_timer_.expires_after(std::max(options_.activity_flush, ms(100)));
  activity_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->stopping_) return;
    self->activity_.flush(*self->ops_, self->clock_.now_ms(), [self] {
      asio::post(self->strand_, [self] { self->schedule_activity_flush(); });
    });
  });
}

// ---- reading ----

void WorkerPool::Impl::read(size_t i) {
  Worker& w = workers_[i];
  if (stopping_ || w.reading) return;
  int room = options_.read_count - w.in_flight;
  // Resumed when a handler reports. Under load a worker reads again once
  // half its slots are free, not at every free one: fewer, larger reads, and
  // each read is a write (the pending entries list) Redis syncs to its AOF.
  if (room <= 0 || (w.in_flight > 0 && room < (options_.read_count + 1) / 2)) return;
  w.reading = true;
  std::vector<std::string> argv = {"XREADGROUP",
                                   "GROUP",
                                   std::string(kGroup),
                                   w.consumer,
                                   "COUNT",
                                   std::to_string(room),
                                   "BLOCK",
                                   std::to_string(options_.block.count()),
                                   "STREAMS"};
  for (const auto& t : tenants_) argv.push_back(key(t, "events"));
  for (size_t k = 0; k < tenants_.size(); ++k) argv.emplace_back(">");
  w.conn->command(
      std::move(argv), [self = shared_from_this(), i](boost::system::error_code ec, Reply r) {
        asio::post(self->strand_, [self, i, ec, r = std::move(r)] { self->on_read(i, ec, r); });
      });
}

void WorkerPool::Impl::on_read(size_t i, boost::system::error_code ec, const Reply& r) {
  Worker& w = workers_[i];
  w.reading = false;
  if (ec || r.is_error()) {
    if (!ec && r.str.rfind("NOGROUP", 0) == 0) {
      // The stream or group vanished (Redis lost its data): recreate.
      running_ = false;
      ensure_groups();
    }
    if (stopping_) return maybe_stopped();
    // Back off briefly instead of spinning while Redis is away.
    auto t = std::make_shared<asio::steady_timer>(strand_, ms(250));
    t->async_wait([self = shared_from_this(), i, t](boost::system::error_code) { self->read(i); });
    return;
  }
  if (r.type == Reply::Type::array) {
    for (const auto& stream : r.elements) {
      if (stream.type != Reply::Type::array || stream.elements.size() != 2) continue;
      const std::string& name = stream.elements[0].str;
      for (const auto& raw : stream.elements[1].elements) {
        dispatch(&w.in_flight, w.consumer, name, parse_entry(raw));
      }
    }
  }
  if (stopping_) return maybe_stopped();
  read(i);
}

// ---- handling ----

// A job for one stream entry, counted in flight. An entry that cannot be
// decoded is named by a synthetic id, so its dead letter can be found.
std::shared_ptr<WorkerPool::Impl::Job> WorkerPool::Impl::make_job(int* in_flight,
                                                                  const std::string& consumer,
                                                                  const std::string& stream,
                                                                  const std::string& tenant,
                                                                  Entry& entry) {
  auto job = std::make_shared<Job>();
  job->delivery.tenant = tenant;
  job->delivery.consumer = consumer;
  job->delivery.stream = stream;
  job->delivery.entry_id = entry.id;
  job->raw_envelope = entry.fields["e"];
  job->delivery.attempt = static_cast<int>(std::strtol(entry.fields["a"].c_str(), nullptr, 10)) + 1;
  job->delivery.first_failure_ms = std::strtoll(entry.fields["f"].c_str(), nullptr, 10);
  job->in_flight = in_flight;
  job->started = SteadyClock::now();
  ++*in_flight;
  ++total_in_flight_;
  auto env = decode(job->raw_envelope);
  if (env) {
    job->delivery.envelope = std::move(*env);
  } else {
    job->decode_error = env.error().message;
    job->delivery.envelope.event_id = "undecodable-" + entry.id;
    job->delivery.envelope.tenant = tenant;
  }
  return job;
}

void WorkerPool::Impl::dispatch(int* in_flight, const std::string& consumer,
                                const std::string& stream, Entry entry) {
  auto it = stream_tenant_.find(stream);
  if (it == stream_tenant_.end() || entry.id.empty()) return;
  auto job = make_job(in_flight, consumer, stream, it->second, entry);
  if (!job->decode_error.empty()) {
    // Never dropped: kept as a dead letter so on-call can see the bytes.
    Outcome o;
    o.kind = Outcome::Kind::dead;
    o.failure = {FailureClass::permanent, "undecodable", job->decode_error, {}, {}, {}, {}};
    return settle(job, std::move(o));
  }
  auto once = std::make_shared<std::atomic<bool>>(false);
  auto done = [self = shared_from_this(), job, once](Outcome o) {
    if (once->exchange(true)) return;
    asio::post(self->strand_,
               [self, job, o = std::move(o)]() mutable { self->settle(job, std::move(o)); });
  };
  try {
    handler_.handle(job->delivery, done);
  } catch (const std::exception& e) {
    Outcome o;
    o.kind = Outcome::Kind::retry;
    o.failure = {FailureClass::transient, "handler_exception", e.what(), {}, {}, {}, {}};
    done(std::move(o));
  }
}

void WorkerPool::Impl::settle(const std::shared_ptr<Job>& job, Outcome o) {
  const Delivery& d = job->delivery;
  std::int64_t now = clock_.now_ms();
  if (o.kind == Outcome::Kind::retry) {
    std::int64_t first = d.first_failure_ms > 0 ? d.first_failure_ms : now;
    if (now - first >= options_.give_up_after.count()) o.kind = Outcome::Kind::dead;
  }
  detail::report_outcome(metrics_, log_, d, o,
                         std::chrono::duration<double>(SteadyClock::now() - job->started).count());
  activity_.add(d.tenant, activity_kind(o.kind), now);
  if (o.kind == Outcome::Kind::done && d.envelope.received_at_ms > 0) {
    age_at_apply_.observe(
        static_cast<double>(std::max<std::int64_t>(0, now - d.envelope.received_at_ms)) / 1000.0);
  }
  // unknown: whatever Redis holds decides (acked, or pending and reclaimed).
  if (o.kind == Outcome::Kind::done || o.kind == Outcome::Kind::unknown) return finished(job);
  move(job, o, now);
}

void WorkerPool::Impl::move(const std::shared_ptr<Job>& job, const Outcome& o, std::int64_t now) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  detail::file_outcome(*ops_, job->delivery, job->raw_envelope, o, now, options_, u(rng_),
                       [self = shared_from_this(), job](boost::system::error_code ec, Reply r) {
                         asio::post(self->strand_, [self, job, ec, r = std::move(r)] {
                           if (ec || r.is_error()) {
                             // Not filed: the entry stays pending and is reclaimed later.
                             // Unless the move's own reply was lost after it ran.
                             self->log_.warn(
                                 redis::may_have_run(ec)
                                     ? "filing a failed event lost its reply; if it was not filed, "
                                       "it will be reclaimed"
                                     : "could not file a failed event; it will be reclaimed",
                                 LogLine()
                                     .str("event_id", job->delivery.envelope.event_id)
                                     .str("error", ec ? ec.message() : r.str));
                           }
                           self->finished(job);
                         });
                       });
}

void WorkerPool::Impl::finished(const std::shared_ptr<Job>& job) {
  --*job->in_flight;
  --total_in_flight_;
  if (stopping_) return maybe_stopped();
  for (size_t i = 0; i < workers_.size(); ++i) {
    if (&workers_[i].in_flight == job->in_flight) read(i);
  }
}

// ---- stopping ----

void WorkerPool::Impl::stop(std::function<void()> stopped) {
  asio::dispatch(strand_, [self = shared_from_this(), stopped = std::move(stopped)]() mutable {
    self->stopped_cb_ = std::move(stopped);
    self->stopping_ = true;
    self->mover_timer_.cancel();
    self->reclaim_timer_.cancel();
    self->group_timer_.cancel();
    self->activity_timer_.cancel();
    self->maybe_stopped();
  });
}

void WorkerPool::Impl::maybe_stopped() {
  if (!stopping_ || finished_) return;
  if (total_in_flight_ > 0) return;
  for (const auto& w : workers_) {
    if (w.reading) return;  // a read returns within `block`
  }
  if (!final_flush_ && ops_ && activity_.pending() > 0) {
    // The counts since the last flush, written before the connection closes.
    final_flush_ = true;
    return activity_.flush(*ops_, clock_.now_ms(), [self = shared_from_this()] {
      asio::post(self->strand_, [self] {
        self->final_flush_done_ = true;
        self->maybe_stopped();
      });
    });
  }
  if (final_flush_ && !final_flush_done_) return;
  finished_ = true;
  for (auto& w : workers_) w.conn->close();
  if (ops_) ops_->close();
  if (stopped_cb_) {
    auto cb = std::move(stopped_cb_);
    cb();
  }
}

void WorkerPool::Impl::shutdown_now() {
  asio::dispatch(strand_, [self = shared_from_this()] {
    self->stopping_ = true;
    self->mover_timer_.cancel();
    self->reclaim_timer_.cancel();
    self->group_timer_.cancel();
    self->activity_timer_.cancel();
    for (auto& w : self->workers_) w.conn->close();
    if (self->ops_) self->ops_->close();
  });
}

// ---- WorkerPool ----

WorkerPool::WorkerPool(boost::asio::any_io_executor ex, redis::Endpoint endpoint,
                       std::vector<std::string> tenants, Handler& handler, WorkerOptions options,
                       Metrics& metrics, Clock& clock, Log& log)
    : impl_(std::make_shared<Impl>(std::move(ex), std::move(endpoint), std::move(tenants), handler,
                                   options, metrics, clock, log)) {}

WorkerPool::~WorkerPool() { impl_->shutdown_now(); }

void WorkerPool::start() { impl_->start(); }

void WorkerPool::stop(std::function<void()> stopped) { impl_->stop(std::move(stopped)); }

}  // namespace isync::queue