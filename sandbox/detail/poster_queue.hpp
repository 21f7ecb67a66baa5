// The smart-event poster: turns company changes into form-encoded HTTP posts,
// as Intacct's smart-event "HTTP post" action sends them (PROTOCOL.md §6).
//
// Changes are spread over `connections` lanes by (object, recordno): each
// lane has one keep-alive connection, its own strand and a FIFO, so posts
// about one record leave in order while different records go out in
// parallel. One attempt per change, like Intacct; the only resend is on a
// fresh connection when a reused keep-alive connection turned out to be
// closed by the peer before it took the request (nothing was delivered).
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
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

class Poster : public std::enable_shared_from_this<Poster> {
 public:
  Poster(boost::asio::any_io_executor ex, EventOptions options, Log& log);
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
    std::string body;
  };
  struct Lane;

  void pump(const std::shared_ptr<Lane>& lane);
  void send(const std::shared_ptr<Lane>& lane, bool fresh_connection);
  void on_sent(const std::shared_ptr<Lane>& lane, bool ok, int status, std::string_view error);

  boost::asio::any_io_executor ex_;
  EventOptions options_;
  Log& log_;
  EventUrl url_;
  bool enabled_ = false;
  std::vector<std::shared_ptr<Lane>> lanes_;

  std::atomic<bool> accepting_{true};
  std::atomic<std::int64_t> queued_{0};
  std::atomic<std::int64_t> posted_{0};
  std::atomic<std::int64_t> failed_{0};
  std::atomic<std::int64_t> dropped_{0};
};

}  // namespace isync::sandbox::detail
