// Alerter: the check timer and the public face; the pass is in check.cpp,
// the outbox in delivery.cpp.
#include "alerts/detail/impl.hpp"

namespace isync::alerts {

Alerter::Alerter(boost::asio::any_io_executor ex, std::shared_ptr<redis::Connection> conn,
                 std::vector<TenantPolicy> tenants, Options options, Metrics& metrics, Clock& clock,
                 Log& log)
    : impl_(std::make_shared<Impl>(std::move(ex), std::move(conn), std::move(tenants),
                                   std::move(options), metrics, clock, log)) {}

Alerter::~Alerter() { stop(); }

void Alerter::start() {
  impl_->on_strand([self = impl_] {
    if (!self->stopping) self->schedule_check();
  });
}

void Alerter::stop(std::function<void()> done) {
  impl_->on_strand([self = impl_, done = std::move(done)] {
    if (!self->stopping) {
      self->stopping = true;
      self->check_timer.cancel();
      self->retry_timer.cancel();
      self->transport->shutdown();
      self->outbox.clear();
      self->outbox_size = 0;
      for (auto& waiter : self->after_check) self->on_strand(std::move(waiter));
      self->after_check.clear();
    }
    if (done) self->on_strand(std::move(done));
  });
}

void Alerter::check_now(std::function<void()> done) {
  impl_->on_strand([self = impl_, done = std::move(done)]() mutable {
    if (self->stopping) return self->on_strand(std::move(done));
    self->after_check.push_back(std::move(done));
    if (self->checking) {
      self->check_again = true;
    } else {
      self->check_timer.cancel();
      self->begin_check();
    }
  });
}

void Alerter::post(Alert alert) {
  impl_->on_strand([self = impl_, a = std::move(alert)]() mutable { self->enqueue(std::move(a)); });
}

std::size_t Alerter::queued() const { return impl_->outbox_size.load(); }

void Alerter::Impl::schedule_check() {
  check_timer.expires_after(options.check_interval);
  check_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->stopping || self->checking) return;
    self->begin_check();
  });
}

void Alerter::Impl::begin_check() {
  checking = true;
  check_again = false;
  auto waiters = std::move(after_check);
  after_check.clear();
  run_checks([self = shared_from_this(), waiters = std::move(waiters)]() mutable {
    self->on_strand([self, waiters = std::move(waiters)]() mutable {
      // The alerts raised by the pass are queued before its waiters hear.
      for (auto& w : waiters) self->on_strand(std::move(w));
      self->end_check();
    });
  });
}

void Alerter::Impl::end_check() {
  checking = false;
  if (stopping) return;
  if (check_again || !after_check.empty()) return begin_check();
  schedule_check();
}

}  // namespace isync::alerts
