// The webhook poster: turns company changes into HTTP posts — form-encoded
// smart events, as Intacct's smart-event "HTTP post" action sends them
// (PROTOCOL.md §6), or signed Platform Trigger webhooks (trigger_post.cpp).
//
// Changes are spread over `connections` lanes by (object, recordno): each
// lane has one keep-alive connection, its own strand and a FIFO, so posts
// about one record leave in order while different records go out in
// parallel. Smart events: one attempt per change, like Intacct; the only
// resend is on a fresh connection when a reused keep-alive connection turned
// out to be closed by the peer before it took the request (nothing was
// delivered). Triggers: after 408, 429, 500, 502, 503, 504 or no answer, the
// same request (same body, token and idempotency key) is queued again after
// each of PostFormat::retry_delays in turn; a retried post may leave after
// later posts of its record, as Intacct's retries do.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/core.hpp"
#include "sandbox/sandbox.hpp"
#include "sandbox/server.hpp"

namespace isync::sandbox::detail {

// An events URL, split. `shown` is scheme, host, port and path — what logs
// may print (the query string carries the token).
struct EventUrl {
  std::string host;
  std::string port;
  std::string target;  // path and query, as sent in the request line
  std::string shown;
};

// http://HOST[:PORT][/PATH][?QUERY]; https, user info and fragments are errors.
Result<EventUrl> parse_event_url(std::string_view url);

// application/x-www-form-urlencoded: unreserved characters kept, space as
// '+', everything else %XX.
std::string form_encode(std::string_view text);

// `object=…&action=…&recordno=…&whenmodified=…`, then with `snapshot` every
// record field as FIELD=value (the four template names are not repeated).
std::string event_body(const Change& change, bool snapshot);

// One request's content.
struct PostContent {
  std::string body;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;  // besides Host, User-Agent, …
};

// How a Poster turns a change into a request, and whether it retries.
struct PostFormat {
  std::string noun = "smart event";  // in log lines
  // Empty: one attempt. Otherwise the waits before the 2nd, 3rd… attempt.
  std::vector<std::chrono::milliseconds> retry_delays;
  bool only_200 = false;  // success is 200 only (Intacct's triggers), else any 2xx
  std::function<PostContent(const Change&)> render;
};

// The smart-event format of `options` (form body, thin or with a snapshot).
PostFormat smart_event_format(const EventOptions& options);

// The run-time switch of the company: which webhooks changes post, and
// whether trigger tokens go bare. Thread-safe.
struct PushSwitch {
  std::atomic<PushMode> mode{PushMode::smart_events};
  std::atomic<bool> bare{false};
};

// A trigger webhook for `change` (see TriggerOptions): the JSON template,
// X-IA-Sage-Signature, X-ClientContext and the idempotency key. `now_ms`
// is iat (exp = iat + 1 h).
PostContent trigger_post(const Change& change, const TriggerOptions& options, bool bare,
                         std::int64_t now_ms);
// The JWT: base64url(header).base64url(claims).base64url(HMAC-SHA256).
std::string sign_trigger_token(std::string_view secret, std::string_view claims_json);
// The trigger format: trigger_post at the system clock, retried on Intacct's
// schedule (10 s, 30 s, 90 s times options.retry_scale); `push` says bare or not.
PostFormat trigger_format(const TriggerOptions& options, std::shared_ptr<PushSwitch> push);

class Poster : public std::enable_shared_from_this<Poster> {
 public:
  // `options`: the URL, token, queue and connection settings (for triggers
  // the URL is TriggerOptions::url); `format`: what each change becomes.
  Poster(boost::asio::any_io_executor ex, EventOptions options, PostFormat format, Log& log);
  ~Poster();
  Poster(const Poster&) = delete;
  Poster& operator=(const Poster&) = delete;

  // Parses the URL; an empty URL is allowed (every change is dropped).
  Result<void> prepare();

  // Thread-safe. Queues a post of `change`, or counts it as dropped when the
  // queue is full, there is no URL, or the poster is closed.
  void enqueue(const Change& change);
  // Thread-safe. Counts a change dropped by the drop_events fault.
  void count_fault_drop(const Change& change);

  PosterStats stats() const;
  // Nothing queued or in flight.
  bool idle() const { return queued_.load() == 0; }

  // No more changes are accepted (they count as dropped).
  void stop_accepting() { accepting_.store(false); }
  // Closes every lane's connection; queued posts then fail.
  void close();

 private:
  struct Post {
    std::string object;
    std::string action;
    std::int64_t recordno = 0;
    PostContent content;
    std::size_t attempt = 1;
  };
  struct Lane;

  void pump(const std::shared_ptr<Lane>& lane);
  void send(const std::shared_ptr<Lane>& lane, bool fresh_connection);
  void on_sent(const std::shared_ptr<Lane>& lane, bool ok, int status, std::string_view error);
  // Queues `post` on `lane` and starts its pump when idle.
  void push(const std::shared_ptr<Lane>& lane, Post post);

  boost::asio::any_io_executor ex_;
  EventOptions options_;
  PostFormat format_;
  Log& log_;
  EventUrl url_;
  bool enabled_ = false;
  std::vector<std::shared_ptr<Lane>> lanes_;

  std::atomic<bool> accepting_{true};
  std::atomic<std::int64_t> queued_{0};
  std::atomic<std::int64_t> posted_{0};
  std::atomic<std::int64_t> failed_{0};
  std::atomic<std::int64_t> dropped_{0};
  std::atomic<std::int64_t> retried_{0};
};

}  // namespace isync::sandbox::detail
