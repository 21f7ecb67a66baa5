// The reconcile run's way to Intacct: calls at background priority (the
// client gives them a tenant slot only while one stays free for live
// traffic), transient failures retried with capped exponential backoff and
// full jitter. Several calls may be in flight; each waits on its own timer.
// Internal to reconcile/.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "intacct/client.hpp"
#include "reconcile/reconcile.hpp"

namespace isync::reconcile::detail {

class Gate : public std::enable_shared_from_this<Gate> {
 public:
  using Strand = boost::asio::strand<boost::asio::any_io_executor>;
  Gate(Strand strand, std::shared_ptr<intacct::Client> client, int concurrency,
       const Options& options);
  // Runs `functions` in one request. `done` (on the strand) gets the final
  // outcome: success, a permanent or ambiguous failure, a transient one after
  // max_attempts, or circuit_open. A function-level transient failure is
  // retried like a request-wide one.
  void call(std::vector<intacct::Function> functions,
            std::function<void(intacct::CallOutcome)> done);
  // Ends waits at once; a call in flight still reports.
  void stop();
  std::int64_t retries() const { return retries_; }
  std::int64_t logins() const { return logins_; }

 private:
  void attempt(std::shared_ptr<std::vector<intacct::Function>> functions, int n,
               std::function<void(intacct::CallOutcome)> done);
  std::chrono::milliseconds backoff(int n);

  Strand strand_;
  std::shared_ptr<intacct::Client> client_;
  int concurrency_;
  Options options_;
  // A timer per waiting call (retry backoff, the pause at concurrency 1);
  // stop() cancels those still alive.
  std::shared_ptr<boost::asio::steady_timer> new_timer();
  std::vector<std::weak_ptr<boost::asio::steady_timer>> timers_;
  std::mt19937_64 rng_{std::random_device{}()};
  std::int64_t retries_ = 0, logins_ = 0;
  bool stopped_ = false;
};

// The first failure of an outcome (request-wide, or of any function result).
std::optional<intacct::IntacctError> first_error(const intacct::CallOutcome& outcome);

}  // namespace isync::reconcile::detail
