// One call through the client, shared by its three parts: client_call.cpp
// (the concurrency slot, the circuit, the end of the call),
// detail/call_session.cpp (the shared session, or a login under the session
// lock) and detail/call_request.cpp (the gateway request, its reply, the
// retries of the request, accounting and the log line). Internal to intacct/;
// see client.hpp.
//
// Every member function runs on the hub's strand; Redis and transport
// completions are posted back to it. The op lives until its last
// continuation (each holds a shared_ptr to it). Each wait is bounded: the
// slot by slot_wait (background_slot_wait for a background call), the login of another process by
// kLoginWait, requests by call_timeout.
#pragma once

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "intacct/detail/client_core.hpp"
#include "intacct/transport.hpp"

namespace isync::intacct::detail {

using SteadyClock = std::chrono::steady_clock;

// A stored session is used only with this much life left: a request started
// just before expiry must not arrive after it.
inline constexpr std::int64_t kSessionMarginMs = 60'000;
// The session lock outlives one login request; the waiters give up a little
// after it would have expired.
inline constexpr std::int64_t kSessionLockMs = 30'000;
inline constexpr std::chrono::milliseconds kLoginWait{35'000};
inline constexpr std::chrono::milliseconds kLoginPoll{50};
// Session hashes outlive their expiry a little (the status page shows them).
inline constexpr std::int64_t kSessionKeepMs = 10 * 60'000;
// When Intacct sends no session stamps, assume a short life (PROTOCOL.md §2
// has seen 2h10m at the least).
inline constexpr std::int64_t kDefaultSessionMs = 30 * 60'000;
// The expiry in Redis is moved only when it gains at least this much, so a
// busy tenant does not write its session hash after every call.
inline constexpr std::int64_t kTouchStepMs = 30'000;
// A background call polls for a slot with a delay doubling from 50 ms to
// this (drawn in its upper half).
inline constexpr std::chrono::milliseconds kBackgroundPollFirst{50};
inline constexpr std::chrono::milliseconds kBackgroundPollMax{1'000};

// A reply as the call sees it: parsed off the strand, applied on it.
struct Answer {
  std::optional<Response> response;
  std::optional<IntacctError> error;
  int http_status = 0;
  bool retry_unsent = false;  // nothing reached Intacct, or a read was reset
  std::string control_id;     // the request's <controlid> (each function has its own too)
};

Answer read_answer(TransportResult result, CallContext context);

// The metrics label of a failure.
std::string outcome_label(const IntacctError& e);

class CallOp : public std::enable_shared_from_this<CallOp> {
 public:
  CallOp(std::shared_ptr<HubCore> hub, std::shared_ptr<TenantState> tenant, PendingCall call);

  void start();

 private:
  std::string key(std::string_view suffix) const;
  std::string session_key() const;
  std::string lock_key() const;

  // A Redis completion, posted back to the strand.
  template <class Method>
  redis::Handler back(Method m) {
    return [self = shared_from_this(), m](boost::system::error_code ec, redis::Reply r) mutable {
      boost::asio::post(self->hub_->strand(), [self, m, ec, r = std::move(r)]() mutable {
        ((*self).*m)(ec, std::move(r));
      });
    };
  }

  static bool array_of_strings(const redis::Reply& r, std::size_t min);
  void redis_failed(boost::system::error_code ec, const redis::Reply& r, std::string_view step);

  // slot and circuit (client_call.cpp)
  void acquire();
  void on_begin(boost::system::error_code ec, redis::Reply r);
  // No slot now: waits a little and tries again, or fails "throttled".
  void slot_busy(const std::string& running);
  void use_session(std::string id, std::string endpoint, std::int64_t expires);

  // session (detail/call_session.cpp)
  void need_session(std::string stale_id);
  void poll_session();
  void on_session(boost::system::error_code ec, redis::Reply r);
  void login();
  void on_login(Answer a, std::vector<Function> sent, std::int64_t duration_ms);
  void on_stored(boost::system::error_code ec, redis::Reply r);
  void release_lock();
  void touch_session(const Response& response);

  // the request (detail/call_request.cpp)
  using Step = void (CallOp::*)(Answer, std::vector<Function>, std::int64_t);
  void send();
  void post(Request req, const std::string& url, Step step);
  void on_reply(Answer a, std::vector<Function> sent, std::int64_t duration_ms);
  // Per function: its own result when the request ran, else the request's.
  void account(const std::vector<Function>& sent, const Answer& a, std::string_view histogram_fn,
               std::int64_t duration_ms);
  void log_request(const std::vector<Function>& sent, const Answer& a, std::int64_t duration_ms);
  // A call that ended before any gateway request (throttled, circuit open,
  // Redis, shutdown): its one line.
  void log_unsent(std::string_view label, const CallOutcome& out);

  // the end (client_call.cpp)
  // A request-wide failure; rejected credentials open the circuit first.
  void fail(CallOutcome out, bool counted = false);
  void finish(CallOutcome out, std::string_view label, bool counted = false);

  std::shared_ptr<HubCore> hub_;
  std::shared_ptr<TenantState> t_;
  PendingCall call_;
  boost::asio::steady_timer timer_;
  std::minstd_rand rng_;
  bool any_write_ = false;
  std::string first_function_;
  SteadyClock::time_point started_ = SteadyClock::now();
  std::string slot_token_;
  bool slot_maybe_held_ = false;
  SteadyClock::time_point slot_deadline_;
  std::chrono::milliseconds slot_backoff_ = kBackgroundPollFirst / 2;
  bool probing_ = false;
  std::string session_id_, endpoint_;  // session_id_ is a secret: never logged
  std::int64_t expires_ms_ = 0;
  std::string stale_id_, lock_token_;
  bool lock_held_ = false;
  SteadyClock::time_point login_deadline_;
  bool resent_ = false, relogged_ = false, finished_ = false;
  int logins_ = 0, requests_ = 0;  // what the call cost (CallOutcome)
};

}  // namespace isync::intacct::detail
