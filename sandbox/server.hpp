// sandbox/server.hpp — the sandbox's second public header, the server half:
// the network around the in-memory `Company` of sandbox.hpp (the module's
// front door). PRODUCT.md §5 "The sandbox", DESIGN-NOTES.md §8.
//
// Contract:
//  * Server runs two listeners on the caller's io_context:
//    - the gateway: `POST /ia/xml/xmlgw.phtml` is answered with
//      Company::handle_gateway; the reply's `delay` (injected latency) is
//      waited out on a timer, never by sleeping an io thread. Other paths are
//      404, other methods on the gateway path 405. One log line per request
//      (functions, status, duration); never passwords, session ids or tokens.
//    - the control API, JSON over HTTP (loopback by default): records,
//      faults, session expiry, stats, /healthz. Errors are
//      {"error":{"code","message"}}; the routes and statuses are listed in
//      control.cpp. With `control_token` set every route but /healthz needs
//      `Authorization: Bearer <token>`.
//  * Every change of the company (Company::on_change) becomes one smart-event
//    HTTP post to `events.url` (PROTOCOL.md §6: form-encoded README template,
//    `User-Agent: Intacct Standard HTTP Agent`), unless Company::take_event_drop
//    says to drop it. Posts are fire-and-forget like Intacct's: one attempt
//    each, failures counted and logged with their status; posts about one
//    record leave in the order of the changes. The queue is bounded
//    (`events.queue_limit`); a change met by a full queue is counted as
//    dropped. The URL's query string (it carries the token) is never logged.
//  * With `push` (or PUT /v1/push) at triggers or both, every change also
//    becomes a Platform Trigger webhook to `triggers.url` (TriggerOptions),
//    retried on Intacct's schedule; the drop_events fault applies to smart
//    events only.
//  * A timer calls Company::run_due every `run_due_interval`.
//  * Caps and deadlines: header_limit and body_limit on every request,
//    read_timeout before every read (idle keep-alive too), write_timeout on
//    every write; connect and response deadlines on every post.
//  * Threads: each connection and each poster lane has its own strand; any
//    number of threads may run the io_context. Public methods may be called
//    from any thread.
//  * Errors are values: start() returns an Error for a bad listen address, an
//    unusable events URL, or a port in use.
//  * Lifetime: construct, start(), later stop(done). The Company and Log must
//    outlive the Server; the Server must outlive the io_context's run() or the
//    call of `done`. Call stop() and wait for `done` before destroying the
//    Company: a request still being handled calls into it. The company's
//    change listener stays registered after the Server is gone, doing nothing.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/core.hpp"
#include "sandbox/sandbox.hpp"

namespace isync::sandbox {

// Where and how smart events are posted.
struct EventOptions {
  // http://HOST[:PORT]/PATH[?QUERY]; empty = no posts (changes are counted as
  // dropped). Plain HTTP only; HOST is an IP literal or a name resolved once
  // per connection.
  std::string url;
  // Sent as `Authorization: Bearer <token>` when not empty.
  Secret bearer_token;
  // false: the thin README template (object, action, recordno, whenmodified);
  // true: also every field of the record as FIELD=value.
  bool snapshot = false;
  std::size_t queue_limit = 100000;                  // changes waiting to be posted
  std::size_t connections = 4;                       // lanes, one keep-alive connection each
  std::chrono::milliseconds connect_timeout{3000};   // TCP connect deadline
  std::chrono::milliseconds response_timeout{5000};  // write + read of one post
};

// Which webhooks a change posts (the company's switch; also at run time
// through the control API, PUT /v1/push).
enum class PushMode { smart_events, triggers, both };
// "smart-events" | "triggers" | "both".
std::string_view push_mode_name(PushMode mode);
std::optional<PushMode> parse_push_mode(std::string_view text);

// Platform Trigger webhooks ("HTTP post" with "Use webhook delivery"), as
// Intacct sends them: the rendered document template as JSON, a JWT (HS256
// under the OAuth client secret; claims iss "Sage Intacct", iat and exp in
// milliseconds, tenant_id = client_id, app_id, payload_signature = hex
// SHA-256 of the body, payload_signature_alg "SHA-256"), carried in
// X-IA-Sage-Signature inside a base64 envelope {"clientId","dbId","userId",
// "companyId","sessionKey","jwtData"} or bare, X-ClientContext (base64
// JSON: COMPANY, ENTITY, USER, OBJECTNAME, ID, VID, EVENT, TIMESTAMP) and
// an idempotency key that stays the same on every retry. Intacct's retries:
// only after 408, 429, 500, 502, 503, 504 (and, here, no answer at all),
// 10 s, 30 s and 90 s later (4 attempts); only 200 is success.
struct TriggerOptions {
  // http://HOST[:PORT]/PATH, e.g. http://127.0.0.1:8080/v1/intacct/demo/triggers;
  // empty = triggers are counted as dropped.
  std::string url;
  Secret client_secret;                                    // signs the tokens
  std::string client_id = "sandbox.INTACCT.app.sage.com";  // tenant_id and clientId
  // The template's "company" member ("" = left out of the body).
  std::string company;
  bool bare = false;  // the JWT bare in X-IA-Sage-Signature instead of the envelope
  std::string idempotency_header = "X-IdempotencyKey";
  // Retry delays are Intacct's (10 s, 30 s, 90 s) times this (tests: 0.01).
  double retry_scale = 1.0;
  // false: the README template (object, recordno, whenmodified, company,
  // action for a delete); true: also every field of the record.
  bool snapshot = false;
};

struct ServerOptions {
  std::string gateway_address = "127.0.0.1";
  std::uint16_t gateway_port = 8090;  // 0 = any free port (see Server::gateway_port)
  std::string control_address = "127.0.0.1";
  std::uint16_t control_port = 8091;  // 0 = any free port (see Server::control_port)
  Secret control_token;               // empty = control API open (it listens on loopback)

  // Bytes per request body; more is 413. The gateway's is above
  // kMaxGatewayBody so that the company answers a large body as Intacct does.
  std::size_t gateway_body_limit = kMaxGatewayBody + 1024 * 1024;
  std::size_t control_body_limit = 1024 * 1024;
  std::size_t header_limit = 16 * 1024;            // bytes of request line + headers
  std::chrono::milliseconds read_timeout{30000};   // each read, idle keep-alive included
  std::chrono::milliseconds write_timeout{30000};  // each response write
  std::chrono::milliseconds drain_timeout{10000};  // stop(): longest wait for in-flight work
  std::chrono::milliseconds run_due_interval{100};

  EventOptions events;
  PushMode push = PushMode::smart_events;
  TriggerOptions triggers;
};

// Counters of the smart-event poster.
struct PosterStats {
  std::int64_t posted = 0;   // answered 2xx
  std::int64_t failed = 0;   // answered otherwise, or no answer (connect, timeout, reset)
  std::int64_t dropped = 0;  // by the drop_events fault, a full queue, or no URL
  std::int64_t queued = 0;   // waiting or in flight now (a trigger waiting to be retried too)
  std::int64_t retried = 0;  // attempts sent again after a retryable answer (triggers)
};

class Server {
 public:
  // `ex`: the io_context's executor.
  Server(boost::asio::any_io_executor ex, Company& company, ServerOptions options, Log& log);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds both listeners, subscribes the poster to the company's changes and
  // starts the run_due timer.
  Result<void> start();
  std::uint16_t gateway_port() const;  // valid after a successful start()
  std::uint16_t control_port() const;

  PosterStats poster_stats() const;
  PosterStats trigger_stats() const;

  // Graceful shutdown: stops accepting, closes idle connections, lets
  // requests already read be answered (with `Connection: close`), waits for
  // the poster to send what is queued, then calls `done` on the io_context —
  // at the latest after drain_timeout, when whatever is left is closed.
  // Changes made after stop() are no longer posted.
  void stop(std::function<void()> done);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace isync::sandbox
