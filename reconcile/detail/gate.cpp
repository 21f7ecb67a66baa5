#include "reconcile/detail/gate.hpp"

#include <boost/asio/post.hpp>

namespace isync::reconcile::detail {

namespace asio = boost::asio;

std::optional<intacct::IntacctError> first_error(const intacct::CallOutcome& outcome) {
  if (outcome.error) return outcome.error;
  if (!outcome.response) {
    intacct::IntacctError e;
    e.cls = intacct::ErrorClass::transient;
    e.errors.push_back({"", "no reply from Intacct", "", ""});
    return e;
  }
  for (const auto& r : outcome.response->results) {
    if (auto e = intacct::result_error(*outcome.response, r)) return e;
  }
  return std::nullopt;
}

Gate::Gate(Strand strand, std::shared_ptr<intacct::Client> client, int concurrency,
           const Options& options)
    : strand_(std::move(strand)),
      client_(std::move(client)),
      concurrency_(concurrency),
      options_(options) {}

std::shared_ptr<asio::steady_timer> Gate::new_timer() {
  std::erase_if(timers_, [](const auto& t) { return t.expired(); });
  auto timer = std::make_shared<asio::steady_timer>(strand_);
  timers_.push_back(timer);
  return timer;
}

void Gate::stop() {
  asio::post(strand_, [self = shared_from_this()] {
    self->stopped_ = true;
    for (const auto& t : self->timers_) {
      if (auto timer = t.lock()) timer->cancel();
    }
  });
}

std::chrono::milliseconds Gate::backoff(int n) {
  // Full jitter over min(cap, base·2^(n-1)).
  const auto base = std::max<std::int64_t>(1, options_.retry_base.count());
  const auto cap = std::max<std::int64_t>(base, options_.retry_cap.count());
  std::int64_t ceiling = base;
  for (int i = 1; i < n && ceiling < cap; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, cap);
  std::uniform_int_distribution<std::int64_t> pick(ceiling / 2, ceiling);
  return std::chrono::milliseconds(pick(rng_));
}

void Gate::call(std::vector<intacct::Function> functions,
                std::function<void(intacct::CallOutcome)> done) {
  auto shared = std::make_shared<std::vector<intacct::Function>>(std::move(functions));
  attempt(std::move(shared), 1, std::move(done));
}

void Gate::attempt(std::shared_ptr<std::vector<intacct::Function>> functions, int n,
                   std::function<void(intacct::CallOutcome)> done) {
  auto self = shared_from_this();
  intacct::CallOptions call_options;
  call_options.background = true;
  client_->call(
      *functions, false,
      [self, functions, n, done = std::move(done)](intacct::CallOutcome outcome) mutable {
        asio::post(self->strand_, [self, functions, n, done = std::move(done),
                                   outcome = std::move(outcome)]() mutable {
          self->logins_ += outcome.logins;
          auto err = first_error(outcome);
          const bool transient =
              err && err->cls == intacct::ErrorClass::transient && !outcome.circuit_open;
          if (transient && n < self->options_.max_attempts && !self->stopped_) {
            ++self->retries_;
            auto timer = self->new_timer();
            timer->expires_after(self->backoff(n));
            timer->async_wait([self, timer, functions, n,
                               done = std::move(done)](boost::system::error_code) mutable {
              if (self->stopped_) {
                intacct::CallOutcome out;
                intacct::IntacctError e;
                e.cls = intacct::ErrorClass::transient;
                e.errors.push_back({"", "the run was stopped", "", ""});
                out.error = e;
                return done(std::move(out));
              }
              self->attempt(std::move(functions), n + 1, std::move(done));
            });
            return;
          }
          // Live traffic's turn: at concurrency 1 the slot is ours alone.
          if (self->concurrency_ <= 1 && self->options_.pause_at_concurrency_1.count() > 0 &&
              !self->stopped_) {
            auto timer = self->new_timer();
            timer->expires_after(self->options_.pause_at_concurrency_1);
            timer->async_wait([timer, done = std::move(done), outcome = std::move(outcome)](
                                  boost::system::error_code) mutable { done(std::move(outcome)); });
            return;
          }
          done(std::move(outcome));
        });
      },
      call_options);
}

}  // namespace isync::reconcile::detail
