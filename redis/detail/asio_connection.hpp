// The async client's connection object, shared by its two halves:
// connection.cpp (the public calls, sending, replies and deadlines) and
// connection_link.cpp (connecting, the handshake, reconnecting, and the fd
// readiness hiredis asks for). Internal to redis/; see redis.hpp. One
// hiredis async context at a time, driven by Asio.
//
// Every member below is touched only on strand_ (hiredis hooks and callbacks
// run inside hiredis calls that we make on the strand). hiredis owns the fd;
// the stream_descriptor only watches it and is release()d, never closed.
// User handlers never run inside a hiredis callback, so a handler may issue
// commands or close() freely: the replies that one read brought are run in
// order on the strand right after redisAsyncHandleRead returns (no trip
// through the scheduler each), every other completion is posted to the strand.
//
// Whether a failed command may have run (redis.hpp, Errc) is known by
// counting bytes per link: each command records where its bytes end in the
// stream of bytes handed to hiredis, and every write event adds what hiredis
// took out of its output buffer. A command whose end was written may have
// run; one that was not cannot have (Redis runs only whole commands).
#pragma once

#include <hiredis/async.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "redis/redis.hpp"

namespace isync::redis::detail {

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

class AsioConnection;

// One command in flight. Owned by hiredis's callback list until on_reply.
struct Pending {
  AsioConnection* owner;
  Handler handler;
  std::multiset<SteadyClock::time_point>::iterator deadline;
  std::uint64_t end = 0;  // queued_ after this command's bytes (its link's count)
};

class AsioConnection final : public Connection {
 public:
  using Connection::close;
  AsioConnection(asio::any_io_executor ex, Endpoint endpoint, Options options, Log* log)
      : strand_(make_strand_executor(ex)),
        endpoint_(std::move(endpoint)),
        options_(std::move(options)),
        log_(log),
        resolver_(strand_),
        connect_timer_(strand_),
        reconnect_timer_(strand_),
        deadline_timer_(strand_) {}

  ~AsioConnection() override {
    // Only reached when no async operation holds us, so no hiredis call is
    // in progress; free a context that is still around without callbacks.
    destroying_ = true;
    if (ac_ != nullptr) redisAsyncFree(ac_);
  }

  void start() override;

  void close(std::function<void()> done) override;

  bool connected() const override { return up_.load(); }

  void command(std::vector<std::string> argv, Handler handler,
               std::chrono::milliseconds timeout) override;

  void eval(const Script& script, std::vector<std::string> keys, std::vector<std::string> args,
            Handler handler) override;

  void on_state_change(std::function<void(bool up)> listener) override;
  void when_up(std::function<void()> fn) override;

 private:
  // ---- completions and sending (connection.cpp) ----

  std::shared_ptr<AsioConnection> self() {
    return std::static_pointer_cast<AsioConnection>(shared_from_this());
  }

  void complete(Handler handler, Errc e) { complete(std::move(handler), make_error_code(e), {}); }

  void complete(Handler handler, boost::system::error_code ec, Reply r);

  // Runs the replies collected during a redisAsyncHandleRead (see above).
  void run_ready();

  // The RESP encoding of `argv` (what redisFormatCommandArgv builds, without
  // its per-argument sdscatfmt calls).
  static std::string format_command(const std::vector<std::string>& argv);

  // On the strand: sends when up, fails at once otherwise.
  void send_formatted(const std::string& cmd, Handler handler, std::chrono::milliseconds timeout);

  void send(const std::vector<std::string>& argv, Handler handler,
            std::chrono::milliseconds timeout);

  void send(const std::string& cmd, Handler handler, std::chrono::milliseconds timeout);

  static void on_reply(redisAsyncContext* ac, void* reply, void* privdata);

  // Why a command without a reply failed, as redis.hpp promises: whether it
  // may have run depends only on whether all of it was written.
  Errc failure_of(const Pending& p, const redisAsyncContext& ac) const;

  // hiredis has no command timeouts: one timer follows the earliest deadline
  // of the commands in flight, and its expiry drops the link.
  void arm_deadline();

  // ---- the link (connection_link.cpp) ----

  void do_connect();

  void connect_to(const std::string& ip);

  void handshake();

  void link_up();

  // REQUIRES: not inside a hiredis callback.
  void drop(Errc reason);

  void on_cleanup();

  void link_gone();

  // A failed attempt is logged when it differs from the previous one: the
  // attempts repeat every reconnect_interval for as long as the outage lasts.
  void attempt_failed(Level level, const char* msg, const LogLine& line, std::string what);

  void schedule_reconnect();

  void notify(bool up);
  // Runs fn on the strand, logging what it throws.
  void run_guarded(const std::function<void()>& fn);

  void want(bool read, bool on);

  void arm(bool read);

  asio::any_io_executor strand_;  // a strand (make_strand_executor)
  Endpoint endpoint_;
  Options options_;
  Log* log_;
  asio::ip::tcp::resolver resolver_;
  asio::steady_timer connect_timer_;
  asio::steady_timer reconnect_timer_;
  asio::steady_timer deadline_timer_;
  std::string last_failure_;  // of the attempts since the link was last up

  redisAsyncContext* ac_ = nullptr;
  std::unique_ptr<asio::posix::stream_descriptor> descriptor_;
  std::uint64_t link_gen_ = 0;  // bumped per link so stale completions are ignored
  std::uint64_t queued_ = 0;    // bytes handed to hiredis on this link
  std::uint64_t written_ = 0;   // of those, bytes hiredis wrote to the socket
  bool want_read_ = false, want_write_ = false, read_armed_ = false, write_armed_ = false;

  std::multiset<SteadyClock::time_point> deadlines_;
  bool deadline_armed_ = false;
  SteadyClock::time_point deadline_at_{};
  std::uint64_t deadline_gen_ = 0;

  Errc drop_reason_ = Errc::reply_lost;
  std::atomic<bool> up_{false};
  bool started_ = false;
  bool closed_ = false;
  bool destroying_ = false;
  std::vector<std::function<void(bool)>> listeners_;
  std::vector<std::function<void()>> when_up_;  // run at the next up, then forgotten

  bool reading_ = false;  // inside redisAsyncHandleRead: replies wait in ready_
  std::vector<std::pair<Handler, Reply>> ready_;
};

}  // namespace isync::redis::detail
