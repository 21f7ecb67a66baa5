// intacct/transport — the network half of the intacct module: HTTP/1.1 POSTs
// over pooled keep-alive connections (TLS through OpenSSL, or plain HTTP to a
// loopback host for tests and the local sandbox).
//
// Contract:
//  * `post(url, body, timeout, done)` sends one POST with
//    `Content-Type` and `Accept` of TransportOptions::content_type
//    (application/xml, the gateway's, unless set), `Host` and `User-Agent`, and calls `done`
//    exactly once, on an executor of the transport — never inline from inside post(). No
//    Accept-Encoding is sent: gateway bodies are small, and plain bodies spare us a decompressor
//    (and its own caps) on the path that carries credentials.
//  * Any HTTP reply is a value: non-2xx statuses are NOT errors here (the XML
//    layer reads 401+XML, 429, 5xx and 524). Only a call without a complete
//    reply is a `TransportError`, whose `sent` says whether the whole request
//    was written first — the caller's input to "ambiguous" for writes.
//  * URLs: `https://host[:port]/path` or `http://...`; an IPv6 literal goes in
//    brackets. A bad URL, and `http://` unless `allow_plain_http` is set AND
//    the host is loopback (127.0.0.0/8, ::1, "localhost"), is reported as
//    {connect_failed, sent=false} before any traffic.
//  * TLS: TLS 1.2 or newer, SNI set, the peer's chain verified against
//    `ca_file` (or the system's default store) and its name checked against
//    the URL's host. A verification failure is connect_failed whose message
//    says "certificate verification failed".
//  * Deadlines: `connect_timeout` covers resolve + TCP connect + TLS handshake;
//    the per-call timeout (0 = `request_timeout`) covers write + full reply.
//    Expiry is `timeout`, with sent=true when the write had completed.
//    A reply larger than `max_reply_bytes` is `reset` with sent=true and a
//    message saying the reply was too large (the connection is dropped).
//  * Keep-alive pool per scheme://host:port: idle connections are reused
//    last-in-first-out, at most `max_idle_per_host` are kept, those idle
//    longer than `idle_timeout` are closed, and a reply carrying
//    `Connection: close` (or HTTP/1.0 without keep-alive) is not pooled.
//    There is no cap on concurrent connections: the Client limits concurrency.
//  * Stale pooled connections: the server may close an idle connection at any
//    moment. If a REUSED connection fails while writing (sent=false), the
//    request was never processed, so it is retried once on a fresh
//    connection, transparently. If the write completed and EOF/reset then
//    came with zero reply bytes, the server may or may not have seen the
//    request; this is reported as {reset, sent=true} and the caller decides
//    (reads retry, writes read back). Nothing is retried after a write
//    completed.
//  * Threads: post(), shutdown() and the counters may be called from any
//    thread. The pool is guarded by a mutex; each connection runs on its own
//    strand. Nothing blocks. `done` may run on any thread of the executor.
//  * Ownership: create() returns a shared_ptr; every pending operation keeps
//    the transport alive, so dropping the last outside reference while calls
//    are in flight is safe. shutdown() completes every in-flight call with
//    connect_failed (not yet sent) or reset (sent), closes idle connections,
//    and makes later post()s fail with connect_failed.
//  * Logs: host:port, status and duration at debug, under
//    TransportOptions::log_name; never a body (bodies carry passwords and
//    session ids), never a path (a webhook's path carries its token) and
//    never a query string.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/system/result.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "core/core.hpp"
#include "intacct/intacct.hpp"

namespace isync::intacct {

struct HttpReply {
  int status = 0;
  std::string content_type;
  std::string body;
};

struct TransportError {
  TransportFailure failure = TransportFailure::connect_failed;
  bool sent = false;    // the whole request was written before the failure
  std::string message;  // for logs: what failed, host:port — never a body or secret
};

// For test output and logs: status, content type and body size (never the
// body); failure kind, sent and message.
std::ostream& operator<<(std::ostream& os, const HttpReply& reply);
std::ostream& operator<<(std::ostream& os, const TransportError& error);

// boost::system::result needs this to throw from value() on an error.
[[noreturn]] void throw_exception_from_error(const TransportError& e,
                                             const boost::source_location& loc);

using TransportResult = boost::system::result<HttpReply, TransportError>;

struct TransportOptions {
  std::chrono::milliseconds connect_timeout{10'000};   // TCP connect + TLS handshake
  std::chrono::milliseconds request_timeout{120'000};  // write + full reply, when post() gets 0
  std::size_t max_reply_bytes = 64 * 1024 * 1024;      // headers + body
  std::size_t max_idle_per_host = 8;               // kept-alive connections per scheme://host:port
  std::chrono::milliseconds idle_timeout{50'000};  // close idle connections older than this
  std::string ca_file;                             // empty = the system's default trust store
  bool allow_plain_http = false;                   // http:// only if true AND the host is loopback
  std::string user_agent = "intacct-sync";
  std::string content_type = "application/xml";  // Content-Type and Accept of every POST
  std::string log_name = "intacct http";         // how its debug lines name it
};

namespace detail {
class TransportState;
}

class HttpTransport : public std::enable_shared_from_this<HttpTransport> {
 public:
  // `log` must outlive the transport and every call in flight.
  static std::shared_ptr<HttpTransport> create(boost::asio::any_io_executor executor,
                                               TransportOptions options, Log& log);
  ~HttpTransport();
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  // POST `body` to `url`; `done` is called exactly once (see the contract).
  void post(const std::string& url, std::string body, std::chrono::milliseconds timeout,
            std::function<void(TransportResult)> done);

  // Cancels everything in flight and closes idle connections; later posts fail.
  void shutdown();

  // For metrics and tests.
  std::size_t connections_opened() const;
  std::size_t idle_connections() const;

 private:
  struct Private {};

 public:
  HttpTransport(Private, boost::asio::any_io_executor executor, TransportOptions options, Log& log);

 private:
  std::shared_ptr<detail::TransportState> state_;
};

}  // namespace isync::intacct
