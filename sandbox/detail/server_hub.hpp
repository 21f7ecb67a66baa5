// The state the sandbox's listeners and connections share: options, the
// company, the poster, the live sessions (for draining) and the run_due
// timer. Sessions hold it by shared_ptr, so it outlives every handler.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "sandbox/detail/control_routes.hpp"
#include "sandbox/detail/poster_queue.hpp"
#include "sandbox/detail/server_http.hpp"
#include "sandbox/server.hpp"

namespace isync::sandbox::detail {

enum class ListenerKind { gateway, control };

class Session;

class Hub : public std::enable_shared_from_this<Hub> {
 public:
  Hub(boost::asio::any_io_executor ex, Company& company, ServerOptions options, Log& log);

  const ServerOptions& options() const { return options_; }
  boost::asio::any_io_executor executor() const { return ex_; }
  Log& log() { return log_; }
  Poster& poster() { return *poster_; }
  std::shared_ptr<Poster> poster_ptr() { return poster_; }
  Poster& trigger_poster() { return *trigger_poster_; }
  std::shared_ptr<Poster> trigger_poster_ptr() { return trigger_poster_; }
  PushSwitch& push() { return *push_; }
  std::shared_ptr<PushSwitch> push_ptr() { return push_; }
  Company& company() { return company_; }
  bool stopping() const { return stopping_.load(); }

  // The answer to one request read on `kind`'s listener.
  Answer handle(ListenerKind kind, const HttpRequest& request);

  void add_session(Session* s, std::weak_ptr<Session> w);
  void remove_session(Session* s);

  void start_run_due();
  // Stops taking requests, waits (bounded) for sessions and then the poster,
  // then posts `done`.
  void stop(std::function<void()> done);
  // The Server is going away: no more calls into the company from timers.
  void detach();

 private:
  Answer gateway(const HttpRequest& request);
  void schedule_run_due();
  void poll_stop(std::chrono::steady_clock::time_point deadline, bool sessions_done);
  void finish_stop();

  boost::asio::any_io_executor ex_;
  Company& company_;
  ServerOptions options_;
  Log& log_;
  std::shared_ptr<PushSwitch> push_;
  std::shared_ptr<Poster> poster_;          // smart events
  std::shared_ptr<Poster> trigger_poster_;  // Platform Trigger webhooks
  ControlContext control_;
  boost::asio::any_io_executor strand_;  // the run_due and stop timers
  boost::asio::steady_timer run_due_timer_;
  boost::asio::steady_timer stop_timer_;

  std::atomic<bool> stopping_{false};
  std::mutex company_mu_;  // held around timer calls into the company; guards detached_
  bool detached_ = false;

  std::mutex mu_;  // guards sessions_ and done_
  std::map<Session*, std::weak_ptr<Session>> sessions_;
  std::function<void()> done_;
};

}  // namespace isync::sandbox::detail
