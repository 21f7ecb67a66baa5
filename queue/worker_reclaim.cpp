// The worker pool's timers: the retry mover, which releases due retries back
// into their streams, and reclaim, which takes over entries left pending by a
// stalled or dead consumer and files those delivered too often as poison.
// Like the rest of the pool, everything here runs on the pool's strand.
#include <boost/asio/post.hpp>

#include "queue/detail/scripts.hpp"
#include "queue/detail/worker_pool_impl.hpp"

namespace isync::queue {

namespace {

namespace asio = boost::asio;

}  // namespace

void WorkerPool::Impl::schedule_mover() {
  if (stopping_) return;
  mover_timer_.expires_after(ms(250));
  mover_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->stopping_) return;
    for (const auto& t : self->tenants_) {
      self->ops_->eval(detail::release_script(), {key(t, "retry"), key(t, "events")},
                       {std::to_string(self->clock_.now_ms()), key(t, "ev:"), "100",
                        std::to_string(self->clock_.now_ms())},
                       [](boost::system::error_code, Reply) {});
    }
    self->schedule_mover();
  });
}

void WorkerPool::Impl::schedule_reclaim() {
  if (stopping_) return;
  reclaim_timer_.expires_after(std::max(ms(250), options_.visibility_timeout / 4));
  reclaim_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->stopping_) return;
    for (const auto& [stream, tenant] : self->stream_tenant_) self->reclaim(stream, tenant);
    self->schedule_reclaim();
  });
}

void WorkerPool::Impl::reclaim(const std::string& stream, const std::string& tenant) {
  if (reclaim_in_flight_ >= options_.read_count) return;
  ops_->command({"XAUTOCLAIM", stream, std::string(kGroup), workers_[0].consumer,
                 std::to_string(options_.visibility_timeout.count()), "0-0", "COUNT", "100"},
                [self = shared_from_this(), stream, tenant](boost::system::error_code ec, Reply r) {
                  if (ec || r.type != Reply::Type::array || r.elements.size() < 2) return;
                  asio::post(self->strand_, [self, stream, tenant, r = std::move(r)] {
                    if (r.elements.size() >= 3) {
                      for (const auto& id : r.elements[2].elements) {
                        // Our acks delete with XDEL only after XACK, so this means
                        // someone trimmed the stream past pending entries.
                        self->log_.error("a pending entry was deleted before it was acked",
                                         LogLine().str("tenant", tenant).str("entry_id", id.str));
                      }
                    }
                    for (const auto& raw : r.elements[1].elements) {
                      self->reclaimed(stream, tenant, parse_entry(raw));
                    }
                  });
                });
}

void WorkerPool::Impl::reclaimed(const std::string& stream, const std::string& tenant,
                                 Entry entry) {
  if (entry.id.empty() || stopping_) return;
  metrics_
      .counter("isync_reclaimed_total", "Entries reclaimed from stalled consumers",
               {{"tenant", tenant}})
      .inc();
  ops_->command({"XPENDING", stream, std::string(kGroup), entry.id, entry.id, "1"},
                [self = shared_from_this(), stream, entry = std::move(entry)](
                    boost::system::error_code ec, Reply r) mutable {
                  asio::post(self->strand_, [self, stream, entry = std::move(entry), ec,
                                             r = std::move(r)]() mutable {
                    long long deliveries = 1;
                    if (!ec && r.type == Reply::Type::array && !r.elements.empty() &&
                        r.elements[0].elements.size() >= 4) {
                      deliveries = r.elements[0].elements[3].integer;
                    }
                    self->redeliver(stream, std::move(entry), deliveries);
                  });
                });
}

void WorkerPool::Impl::redeliver(const std::string& stream, Entry entry, long long deliveries) {
  if (deliveries <= options_.max_deliveries) {
    dispatch(&reclaim_in_flight_, workers_[0].consumer, stream, std::move(entry));
    return;
  }
  auto it = stream_tenant_.find(stream);
  if (it == stream_tenant_.end()) return;
  auto job = make_job(&reclaim_in_flight_, workers_[0].consumer, stream, it->second, entry);
  Outcome o;
  o.kind = Outcome::Kind::dead;
  o.failure = {FailureClass::permanent,
               "poison",
               "delivered " + std::to_string(deliveries) +
                   " times without an outcome (a worker kept dying on it); inspect the "
                   "envelope, fix the cause, then replay",
               {},
               {},
               {},
               {}};
  settle(job, std::move(o));
}

}  // namespace isync::queue
