// ingest — the service's HTTP front: Intacct smart-event webhooks in, probes,
// and the admin surface (PRODUCT.md §1 and §6).
//
// Contract:
//  * Server runs two listeners on the caller's io_context: the public one
//    (POST /v1/intacct/{tenant}/events, POST /v1/intacct/{tenant}/triggers,
//    POST /v1/payments/{tenant}/stripe, GET /healthz, GET /readyz) and the
//    admin one (GET /metrics, mirror reads under /v1/tenants/{t}/...,
//    GET /v1/admin/status through Options::status, the reconcile routes
//    below through Options::reconcile_*, and the on-call routes through
//    Options::events_api, GET /v1/admin/activity included), the console
//    below. The
//    caller decides how many threads run the io_context; every connection has
//    its own strand, and nothing here blocks an io thread.
//  * A webhook is answered 202 {"event_id","duplicate"} only from the
//    callback of queue::Producer::accept, i.e. after Redis acknowledged the
//    write. Every rejection ({"error":{"code","message"}}) is decided before
//    anything is written to Redis, in the order of PRODUCT.md §1: 404
//    not_found, 405 method_not_allowed (+Allow), 401 unauthorized (unknown
//    tenant, bad token and a source address outside the tenant's CIDRs give
//    byte-identical answers), 415 unsupported_media_type, 413
//    payload_too_large, 400 malformed_body, 400 invalid_field, 503 unavailable
//    (+Retry-After). Routing and authentication happen on the header alone,
//    before the body is read.
//  * The Stripe route cannot: Stripe signs the body, so it is read whole
//    before it can be authenticated. Its order: 401 unauthorized for a
//    missing or malformed Stripe-Signature header (before the tenant is looked
//    up), 413 payload_too_large, 401 unauthorized when no v1 matches any of
//    the tenant's stripe_secrets (unknown tenant, a tenant without secrets and
//    a wrong signature give byte-identical answers), 401 signature_expired
//    when |now - t| > stripe_tolerance, 415 (application/json only), 400
//    malformed_body, 400 invalid_field, 503. Dedup is by Stripe event id
//    ("stripe:" + id) over dedup_window. The queued envelope (source
//    "stripe", object ARPYMT, action = the event type, the snapshot pairs, raw
//    with redact_fields replaced) is described in detail/stripe.hpp.
//  * Intacct Platform Triggers (POST /v1/intacct/{tenant}/triggers): the
//    token (X-IA-Sage-Signature as a base64 envelope with a string jwtData,
//    else as a bare JWT, else Authorization: Bearer) is checked on the header
//    (detail/trigger_token.hpp): 401 unauthorized for no token, a malformed
//    one, an alg other than HS256, an HMAC that matches none of the tenant's
//    trigger_secrets (an unknown tenant and a tenant without them answer the
//    same bytes), iss other than "Sage Intacct", a client id other than
//    trigger_client_id; 401 signature_expired when exp + trigger_leeway < now
//    or iat - trigger_leeway > now. Then 415 (a form or multipart type; any
//    other type, or none, is read as JSON), 413, and after the body 401
//    unauthorized when payload_signature is not the SHA-256 of the raw body;
//    400 for the idempotency key (X-IdempotencyKey / Idempotency-Key: both
//    and different, over 200 bytes, not printable) and the body (the
//    smart-event field rules, JSON only; action optional = set); 401 when the
//    body's company is not the tenant's company_id; 503. Accepted → 200
//    {"event_id","duplicate"}. The envelope: source "intacct", channel
//    "trigger". Dedup: the smart events' content key, and with an
//    idempotency key also "trigger-idempotency:<key>" hashed in the tenant's
//    namespace; either one found answers the original event_id. Every
//    refusal is logged (warn, "trigger refused": the check that failed and
//    where the token was found, never the token or the header) and counted
//    in isync_trigger_rejections_total{tenant,reason}; X-ClientContext is
//    decoded for the log only.
//  * Reconcile (PRODUCT.md §4), admin token only (401 otherwise, like every
//    admin route); ingest knows nothing of the engine, only the hooks:
//      POST /v1/admin/reconcile, application/json, at most kReconcileBodyLimit
//        bytes: {"tenant":"t","objects":["customers","invoices","payments"],
//        "dry_run":false,"allow_mass_delete":false} (tenant required; objects
//        optional = all; see detail/reconcile_request.hpp for every 400).
//        202 {"run_id"}; the hook's refusals: already_running 409
//        {"error":{…},"run_id"}, index_building 409, unknown_tenant 404,
//        no_intacct 422 (retrying cannot help until the tenant has Intacct
//        credentials, unlike the two 409s), unavailable 503 (+Retry-After).
//      GET /v1/admin/reconcile/runs?tenant=T[&limit=N] → 200 {"runs":[report…]}
//        newest first (limit 1..100, default 30); 400 without tenant.
//      GET /v1/admin/reconcile/runs/{run_id}[?tenant=T] → 200 the report (live
//        while the run lives); without ?tenant= every configured tenant is
//        asked. 404 when no tenant keeps it.
//    A tenant not in Options::tenants is 404 before any hook is called; a
//    missing hook is 503.
//  * On-call (PRODUCT.md §6), admin token only (401 otherwise; a tenant's
//    read token is refused): the routes of Options::events_api are matched
//    here (404 for another path, 405 + Allow for another method), a POST
//    body must be application/json (415) of at most kEventsBodyLimit bytes
//    (413), and the call is then passed through whole (EventsCall); its
//    answer is written as given. ingest knows nothing of the engine.
//  * The console (console/console.hpp) on the admin listener:
//      GET /console, GET /console/assets/{name}: the page and its files, no
//        auth (the page shows its login form without a session); 404
//        not_found for an unknown name. Assets carry ETag and Cache-Control:
//        no-cache (If-None-Match → 304); everything else no-store.
//      POST /console/login, application/json (415), at most
//        kConsoleLoginLimit bytes (413), {"token":"<admin token>"} (400
//        malformed_body / invalid_field) → 200 {"csrf":"…"} and Set-Cookie:
//        isync_console=<session>; Path=/; HttpOnly; SameSite=Strict;
//        Max-Age=<console_session_ttl s>[; Secure]; a wrong token (a read
//        token too) is 401 unauthorized "the admin token is wrong".
//      GET /console/session → 200 {"csrf":"…"} with a valid cookie, else 401.
//      POST /console/logout, cookie and X-CSRF-Token → 200 {} and a clearing
//        Set-Cookie (Max-Age=0); 401 without a session, 403 csrf_failed.
//    Every /console answer carries console::security_headers(). Every admin
//    route accepts a valid session cookie in place of the Bearer admin token
//    (checked after it); then a POST or DELETE must carry X-CSRF-Token equal
//    to the session's token, else 403 csrf_failed (kCsrfFailed in
//    detail/session.hpp), decided on the header, before the body is read.
//  * Failed authentications on the admin listener: a Bearer token that opens
//    nothing, or a wrong token at POST /console/login, counts against the
//    client's address (its X-Forwarded-For when the peer is a trusted proxy);
//    after Options::admin_auth_failures within admin_auth_window of the
//    first, every admin request with a Bearer token (the right one too) and
//    every login is answered 429 too_many_failures with Retry-After (seconds
//    left in the window) until it ends (detail/auth_throttle.hpp). A request
//    without a token does not count, and a valid console cookie (it cannot
//    be guessed) still opens the admin routes.
//    Bearer requests need no CSRF token; a tenant's read token opens no
//    session and stays good for its mirror reads only.
//  * Caps: header_limit and body_limit on every request, read_timeout before
//    every read (a client that stalls mid-request is disconnected),
//    max_connections (connections beyond it are closed at once).
//  * Secrets (tokens, Stripe and trigger secrets) are never logged, and
//    neither are query strings, Authorization, Stripe-Signature or
//    X-IA-Sage-Signature headers (the envelope holds a session key). Metrics carry the route
//    template, never the path.
//  * Errors at this boundary are values: start() returns an Error for a bad
//    listen address or CIDR; no exception leaves a handler.
//  * Metrics: isync_http_requests_total{listener,route,status} (counter) and
//    isync_http_request_seconds{listener,route} (histogram, from header read
//    to response written).
//  * Lifetime: construct, start(), later stop(drained). The Server must
//    outlive the io_context's run() or the completion of stop(). Producers,
//    the mirror reader, metrics, clock and log must outlive the Server.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/core.hpp"
#include "queue/queue.hpp"

namespace isync::handlers {
class MirrorReader;
}

namespace isync::ingest {

struct Tenant {
  std::string id;                        // [a-z0-9_-]{1,64}
  std::string token;                     // secret: webhook token (resolved, never logged)
  std::string read_token;                // secret: mirror reads only; empty = none
  std::vector<std::string> allow_cidrs;  // webhook sources, e.g. "203.0.113.0/24"; empty = any
  // secret: Stripe webhook signing secrets (resolved, never logged). Any of
  // them may sign (rotation); empty = the Stripe route is 401 for this tenant.
  std::vector<std::string> stripe_secrets;
  // secret: OAuth client secrets that sign Intacct Platform Trigger tokens
  // (HS256; resolved, never logged). Any of them may sign (rotation); empty =
  // the triggers route is 401 for this tenant, as for an unknown tenant.
  std::vector<std::string> trigger_secrets{};
  // The OAuth client id chosen in the triggers; "" = not checked. Otherwise
  // the token's tenant_id, or the envelope's clientId, must equal it.
  std::string trigger_client_id{};
  // The Intacct company ID: a trigger body's `company` must equal it (ASCII
  // case-insensitive); "" = a body that names a company is refused.
  std::string company_id{};
};

// A reconcile start asked over the admin API.
struct ReconcileRequest {
  std::string tenant;                // a configured tenant
  std::vector<std::string> objects;  // CUSTOMER | ARINVOICE | ARPYMT, run order; empty = all
  bool dry_run = false;
  bool allow_mass_delete = false;
};

// The answer of a reconcile start: `error` unset = started. Error codes:
// already_running (run_id = the running run), index_building, unknown_tenant,
// no_intacct, unavailable; any other code is answered 503.
struct ReconcileStart {
  std::string run_id;
  std::optional<Error> error;
};

// Bytes of a POST /v1/admin/reconcile body; more is 413.
inline constexpr std::size_t kReconcileBodyLimit = 4096;

// An on-call request of the admin API (PRODUCT.md §6), passed through to
// Options::events_api once the listener has checked it (see the contract).
struct EventsCall {
  std::string method;  // GET | POST | DELETE
  std::string path;    // /v1/admin/events…, /v1/admin/jobs…
  std::string query;   // raw (still percent-encoded), without '?'; "" when none
  std::string body;    // POST only; "" otherwise
};
// The answer: the status, its JSON body, and whether a Retry-After is due
// (the listener then adds Options::retry_after).
using EventsReply = std::function<void(unsigned status, std::string body, bool retry_after)>;

// Bytes of a POST /console/login body; more is 413.
inline constexpr std::size_t kConsoleLoginLimit = 4096;

// Bytes of a POST /v1/admin/events/replay or /discard body (1,000 ids with
// room to spare); more is 413.
inline constexpr std::size_t kEventsBodyLimit = 256 * 1024;

struct Options {
  std::string public_address = "127.0.0.1";  // public listener address (v4 or v6 literal)
  std::uint16_t public_port = 8080;          // 0 = any free port (see Server::public_port)
  std::string admin_address = "127.0.0.1";   // admin listener address
  std::uint16_t admin_port = 8081;           // 0 = any free port (see Server::admin_port)

  std::size_t body_limit = 1024 * 1024;            // bytes per request body; more is 413
  std::size_t header_limit = 16 * 1024;            // bytes of request line + headers; more is 431
  std::chrono::milliseconds read_timeout{10000};   // deadline for each read (idle keep-alive too)
  std::chrono::milliseconds write_timeout{10000};  // deadline for each response write
  std::chrono::milliseconds drain_timeout{25000};  // stop(): longest wait for in-flight requests
  std::size_t max_connections = 10000;             // open connections across both listeners
  std::chrono::seconds retry_after{1};             // Retry-After on 503 answers
  std::chrono::seconds dedup_window{72 * 3600};    // how long a redelivery is recognised
  std::chrono::seconds stripe_tolerance{300};      // Stripe-Signature t= vs now, either way
  std::chrono::seconds trigger_leeway{60};         // a trigger token's exp/iat vs now
  // Object member names (any depth) stored as "[redacted]" in a Stripe
  // event's raw payload, e.g. billing_details.
  std::vector<std::string> redact_fields;

  std::vector<Tenant> tenants;  // webhook tenants; any other tenant id is 401
  std::string admin_token;      // secret: Bearer token of the admin listener; empty = admin closed
  // The console (see the contract). console_key: secret, the session key
  // (console::session_key(admin_token)); empty = derived here from admin_token.
  std::string console_key;
  std::chrono::seconds console_session_ttl{8 * 3600};  // a login's cookie lasts this long
  bool console_secure_cookie = false;                  // add Secure (the service is behind TLS)
  // Failed authentications on the admin listener (a wrong Bearer token, a
  // wrong console login) per client address: after this many within the
  // window of the first, the address is answered 429 too_many_failures
  // (Retry-After: the rest of the window) whatever it sends, until the
  // window ends. 0 = no limit.
  int admin_auth_failures = 10;
  std::chrono::milliseconds admin_auth_window{60000};
  // Peers (CIDRs) whose X-Forwarded-For is believed when checking a tenant's
  // allow_cidrs: the client is the right-most address that is not a trusted proxy.
  std::vector<std::string> trusted_proxies;

  // Benchmark only: POST /v1/noop/{tenant}/events runs the same checks and
  // body parsing as the events route, then answers 202 without touching Redis.
  bool noop_route = false;

  // Called before each /metrics render (e.g. to refresh queue gauges); must
  // call `done` exactly once, from any thread. Empty = render at once.
  std::function<void(std::function<void()> done)> before_metrics;

  // Answers GET /v1/admin/status (admin token only): must call `done` exactly
  // once, from any thread, with the JSON document (200) or an Error (503
  // unavailable, with Retry-After). Empty = 503.
  std::function<void(std::function<void(Result<std::string>)> done)> status;

  // Reconcile hooks (admin token only). Each must call `done` exactly once,
  // from any thread. Empty = 503 unavailable.
  // POST /v1/admin/reconcile: starts a run (see ReconcileStart).
  std::function<void(ReconcileRequest request, std::function<void(ReconcileStart)> done)>
      reconcile_start;
  // GET /v1/admin/reconcile/runs: the tenant's kept reports (JSON documents),
  // newest first, at most `limit`. Errors: unknown_tenant (404), else 503.
  std::function<void(std::string tenant, int limit,
                     std::function<void(Result<std::vector<std::string>>)> done)>
      reconcile_runs;
  // GET /v1/admin/reconcile/runs/{run_id}: one report. Errors: not_found
  // (the tenant keeps no such run), unknown_tenant, else 503.
  std::function<void(std::string tenant, std::string run_id,
                     std::function<void(Result<std::string>)> done)>
      reconcile_run;

  // The on-call routes (admin token only): GET /v1/admin/events,
  // GET /v1/admin/events/{id}, POST /v1/admin/events/replay|discard,
  // GET /v1/admin/jobs, GET|DELETE /v1/admin/jobs/{id}. Must call `done`
  // exactly once, from any thread. Empty = 503 unavailable.
  std::function<void(EventsCall call, EventsReply done)> events_api;
};

class Server {
 public:
  // `ex`: the io_context's executor (each connection gets a strand on it).
  // `producers`: one or more, used round-robin (e.g. one per io thread, each
  // with its own redis::Connection); accepts of concurrent requests share
  // round trips through their connection's pipeline. REQUIRES: non-empty.
  // `mirror` may be null: mirror reads then answer 503.
  Server(boost::asio::any_io_executor ex, Options options,
         std::vector<std::shared_ptr<queue::Producer>> producers,
         std::shared_ptr<handlers::MirrorReader> mirror, Metrics& metrics, Clock& clock, Log& log);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts accepting on both listeners.
  Result<void> start();
  // Bound ports (valid after a successful start()).
  std::uint16_t public_port() const;
  std::uint16_t admin_port() const;

  // Graceful shutdown: closes the listeners, closes idle keep-alive
  // connections, answers requests already read with `Connection: close`, and
  // calls `drained` (on the io_context) once every in-flight request has been
  // answered — its Redis ack received — or drain_timeout has passed, whichever
  // is first; connections still open then are closed. /readyz answers 503
  // from the moment stop() is called.
  void stop(std::function<void()> drained);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace isync::ingest
