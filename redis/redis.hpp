// redis — a non-blocking Redis client for Asio, over hiredis's async API.
//
// Contract:
//  * `Connection` owns one hiredis async context driven by Asio (no thread of
//    its own, never blocks the io thread). Commands issued while connected are
//    pipelined: many callers share round trips, replies come back in order.
//  * Every method is thread-safe; handlers run on the connection's strand.
//  * Each command has a deadline (Options::command_timeout, or a per-call
//    override for blocking commands such as XREADGROUP BLOCK). hiredis has no
//    timeouts of its own: on expiry the connection is dropped, the pending
//    commands fail (see Errc), and the connection reconnects.
//  * Transport failures arrive as a non-zero error_code (category redis::category()).
//    A Redis error reply (OOM, MISCONF, NOSCRIPT, WRONGTYPE, LOADING…) is NOT a
//    transport failure: it arrives with ec == {} and Reply::type == Type::error.
//  * A transport failure says whether Redis may have run the command: it is
//    not_connected or closed when Redis cannot have run it (it never left the
//    process, or left it incomplete: Redis runs a command only once it has
//    all of it), and reply_lost, timeout or protocol once all of it was written:
//    Redis may have run it, and only the reply is lost. may_have_run() tells
//    the two apart.
//  * While disconnected, commands fail at once with Errc::not_connected; the
//    connection tries again every Options::reconnect_interval (fixed, never
//    doubled) until close(). A new link is up (connected() true, listeners
//    told) only once AUTH / SELECT / CLIENT SETNAME, as configured, and a PING
//    have succeeded; a refusal (e.g. LOADING while Redis reads its AOF) drops
//    the link and the next attempt follows after the same interval.
//  * Hostnames are resolved with Asio before hiredis connects by address
//    (hiredis 0.14 would call a blocking getaddrinfo).
//  * `SyncConnection` is a blocking client for threads that are not io
//    threads: the CLI, start-up checks, tests.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.hpp"

namespace isync::redis {

struct Endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  int db = 0;
  std::string user;      // Redis 6 ACL user; empty = AUTH with the password only
  std::string password;  // secret: never logged
};

// redis://[[user]:password@]host[:port][/db]; host may be [IPv6]. User and
// password are percent-decoded. Errors (code "invalid_config") name the part
// at fault but never echo the password.
Result<Endpoint> parse_url(std::string_view url);

// A reply, deep-copied out of hiredis so it can outlive the callback.
struct Reply {
  enum class Type { nil, string, status, error, integer, array };
  Type type = Type::nil;
  std::string str;  // string, status and error text
  long long integer = 0;
  std::vector<Reply> elements;

  bool is_error() const { return type == Type::error; }
  bool is_nil() const { return type == Type::nil; }
};

// Why a command failed without a reply. Whether Redis may have run it is
// part of each value, so a caller that must not repeat a write (or must not
// report it as failed) can tell: see may_have_run().
enum class Errc {
  not_connected = 1,  // not run: there was no live link when it was issued, or
                      // the link went (lost, timed out) before all of it was
                      // written. Safe to send again.
  reply_lost,         // may have run: all of it was written, then the link
                      // went before its reply (EOF, reset, or close() while it
                      // was in flight)
  timeout,            // may have run: all of it was written and no reply came
                      // before its deadline (or that of a command ahead of it:
                      // replies come in order); the link was dropped
  protocol,           // may have run: all of it was written, then hiredis
                      // could not parse a reply and dropped the link
  closed,             // not run: close() was called before it was written
};
const boost::system::error_category& category();
boost::system::error_code make_error_code(Errc e);

// True when a command that failed with `ec` was written whole before its link
// went (reply_lost, timeout, protocol): Redis may have run it, and only its reply is
// lost. False for not_connected and closed (Redis did not run it), for no
// error, and for error codes of other categories.
bool may_have_run(boost::system::error_code ec);

struct Options {
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds command_timeout{5000};
  // Wait between connection attempts while Redis is unreachable or refuses
  // the handshake. Fixed, not doubled: an attempt at a Redis that is down
  // costs a refused connect, and a growing delay only made the service
  // answer 503 for seconds after Redis was back.
  std::chrono::milliseconds reconnect_interval{100};
  std::string client_name;  // CLIENT SETNAME, for ops
};

using Handler = std::function<void(boost::system::error_code, Reply)>;

// A Lua script and its SHA1. Connection::eval sends EVALSHA and, on NOSCRIPT,
// SCRIPT LOAD + EVALSHA once more.
struct Script {
  explicit Script(std::string body);
  std::string body;
  std::string sha;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  static std::shared_ptr<Connection> create(boost::asio::any_io_executor ex, Endpoint endpoint,
                                            Options options, Log* log = nullptr);
  virtual ~Connection() = default;

  // Starts connecting; reconnects after every loss until close().
  virtual void start() = 0;
  // Fails pending commands and stops reconnecting: Errc::closed for those
  // not yet written, Errc::reply_lost for those in flight (Redis may run them).
  void close() { close(nullptr); }
  // The same; `done` runs on the connection's strand once the pending
  // commands' handlers have been called (they may have posted more work).
  virtual void close(std::function<void()> done) = 0;
  virtual bool connected() const = 0;

  // `timeout` zero = Options::command_timeout.
  virtual void command(std::vector<std::string> argv, Handler handler,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds{0}) = 0;
  virtual void eval(const Script& script, std::vector<std::string> keys,
                    std::vector<std::string> args, Handler handler) = 0;

  // Called on the strand each time the link goes up (true) or down (false).
  virtual void on_state_change(std::function<void(bool up)> listener) = 0;
  // Runs `fn` once on the strand: at once when the link is up, else when it
  // next comes up; never after close() (a pending one is dropped then). For
  // work a process starts with, so its first commands do not fail with
  // not_connected while the first link is still being made.
  virtual void when_up(std::function<void()> fn) = 0;
};

// Blocking client. REQUIRES: never used on an io thread.
class SyncConnection {
 public:
  static Result<SyncConnection> connect(const Endpoint& endpoint,
                                        std::chrono::milliseconds timeout);
  SyncConnection(SyncConnection&&) noexcept;
  SyncConnection& operator=(SyncConnection&&) noexcept;
  ~SyncConnection();

  // A Redis error reply is returned as a Reply of Type::error; transport
  // failures as an Error with code "redis_io".
  Result<Reply> command(const std::vector<std::string>& argv);

 private:
  struct Impl;
  explicit SyncConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace isync::redis

namespace boost::system {
template <>
struct is_error_code_enum<isync::redis::Errc> : std::true_type {};
}  // namespace boost::system
