// intacct/client — the module's network front door: calls to the Intacct XML
// gateway on a tenant's shared session, within the tenant's limits.
//
// Contract:
//  * `ClientHub` (one per process) owns the scheduling across tenants; each
//    `Client` (one per tenant+entity) queues calls for it. Every Client
//    method is thread-safe; `done` is called exactly once, never inline from
//    inside call()/read(), on the hub's strand. Callbacks must not block.
//  * Sessions are shared by every process through Redis, per tenant and
//    entity (`isync:{t}:intacct:session:<entity|->`, a hash of id, endpoint,
//    expires_ms, fp). One process logs in (getAPISession alone, under
//    `…:session-lock:<entity|->` taken with SET NX PX and released by compare-and-delete);
//    the others poll for its result (every ~50 ms, bounded). Expiry is local
//    now + (sessiontimeout − sessiontimestamp), renewed after each response.
//    The session id is stored as given: Redis is a trusted store of this
//    deployment (it already holds the event bodies). It is never logged.
//  * Concurrency: at most `TenantAccess::concurrency` gateway requests per
//    tenant across all processes (a ZSET of leased slots in Redis), and at
//    most as many live calls under way from this process. A live call that
//    finds no free slot within `slot_wait` fails transient ("throttled: …")
//    so the queue retries it later instead of holding a worker: it is never
//    lost, whatever holds the slots.
//  * Priority: a background call (CallOptions::background, for bulk work such
//    as the daily reconciliation) leaves the last slot to live calls: the
//    slot script gives it one only while fewer than concurrency − 1 are held
//    across all processes (at concurrency 1 it may take the single slot, and
//    a live call then waits for it as for any other). It waits for a slot up
//    to `background_slot_wait`, polling with a growing delay (≤ 1 s) on a
//    timer, then fails transient ("throttled: …"). Background calls have
//    their own queue and cap (`concurrency` under way per tenant in this
//    process), so a waiting one never keeps a live call from starting; a
//    background call still waiting for a slot at shutdown() fails transient.
//  * Fairness: each tenant has its own queue and its own in-flight cap in this
//    process; queues are served round-robin, so a tenant's backlog waits on
//    its own cap and never sits in front of another tenant's call.
//  * Circuit: a rejected credential (sender or user) opens the tenant's
//    circuit in Redis (`isync:{t}:intacct:circuit`). While open, calls fail at
//    once with `circuit_open` (no HTTP). It closes when the configured
//    credentials change (a fingerprint, never the password, is stored), or
//    when a probe login succeeds — at most one probe per
//    `circuit_probe_interval` across all processes.
//  * Budget: the API transactions of each request are counted per tenant and
//    month in Redis; crossing `budget_alert_ratio` and 100% of the budget logs
//    once per month. Intacct bills overage rather than refusing it, so the
//    client never refuses a call for budget reasons.
//  * Retries here are only: a stale session (log in again, retry once), and a
//    request that was not fully sent — or a reset on a read-only request —
//    (once). Everything else goes back to the caller classified transient,
//    permanent or ambiguous (a write that may have run: read back first).
//  * Redis failures are transient IntacctErrors (level transport) saying so.
//  * Ownership: the hub keeps the Redis connection and transport alive; the
//    Metrics, Clock and Log passed in must outlive the hub and every call.
//    shutdown() fails queued calls (transient) and refuses new ones; calls in
//    flight finish through the transport (shut it down to cut them short).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.hpp"
#include "intacct/intacct.hpp"
#include "redis/redis.hpp"

namespace isync::intacct {

class HttpTransport;

namespace detail {
class HubCore;
struct TenantState;
}  // namespace detail

// Process-wide settings, from the config's [intacct] table.
struct ClientOptions {
  std::string endpoint;  // initial gateway URL (a session may name another)
  std::string sender_id;
  Secret sender_password;
  std::chrono::milliseconds call_timeout{60'000};  // one gateway request, write + reply
  // Longest wait for a concurrency slot before failing transient "throttled".
  std::chrono::milliseconds slot_wait{2'000};
  // The same for a background call (CallOptions::background), which only
  // gets a slot live calls leave free: much longer.
  std::chrono::milliseconds background_slot_wait{10 * 60'000};
  // A slot held longer than this (a crashed process) is freed. Keep it above
  // 3 × call_timeout: a call may log in, send, and resend once on one slot.
  std::chrono::milliseconds slot_lease{180'000};
  // While the circuit is open, one probe login after this long.
  std::chrono::milliseconds circuit_probe_interval{30 * 60'000};
  // Warn when this share of the monthly budget is used (error at 100%).
  double budget_alert_ratio = 0.8;
};

// One tenant's Intacct access, from a [[tenant]] table.
struct TenantAccess {
  std::string tenant;
  std::string company_id, user_id;
  Secret user_password;
  std::string entity_id;  // empty = top level
  int concurrency = 2;    // gateway requests at once, across all processes (≥ 1)
  std::int64_t monthly_call_budget = 100000;  // API transactions per calendar month (UTC)
};

// How a call is scheduled.
struct CallOptions {
  // true: bulk work that yields to live calls (see Priority above): a slot
  // only while fewer than concurrency − 1 are held, waited for up to
  // ClientOptions::background_slot_wait.
  bool background = false;
};

// What a call gives back.
struct CallOutcome {
  // The parsed reply when there was one (also with per-function failures:
  // read them with result_error(*response, result)).
  std::optional<Response> response;
  // Request-wide failure (transport, control, authentication, throttled,
  // Redis): the functions did not run — or, when ambiguous, may have.
  std::optional<IntacctError> error;
  // Refused at once: the tenant's credentials were rejected earlier (or this
  // very call's were, which opened the circuit). Park the work; do not retry
  // it until the circuit closes.
  bool circuit_open = false;
  // What the call cost, for callers that report it: the login requests
  // (getAPISession) it made itself — 0 when it used the shared session or
  // waited for another call's login — and every gateway request it sent,
  // logins and a resend included. requests − logins is 1 for a call sent
  // once; 0 when it failed before sending (throttled, circuit open, Redis).
  int logins = 0;
  int requests = 0;
};

// What Client::read gives back.
struct ReadOutcome {
  // By RECORDNO; a key Intacct did not return is absent (= no such record).
  std::map<std::string, Row> rows;
  // Set when the read failed (request-wide or the function's own failure).
  std::optional<IntacctError> error;
  bool circuit_open = false;
  int logins = 0;    // as CallOutcome::logins
  int requests = 0;  // as CallOutcome::requests
};

// One tenant+entity. Thread-safe; cheap to hold (shared_ptr from the hub).
class Client {
 public:
  // Runs `functions` (1–100) in ONE gateway request on the tenant's shared
  // session. Empty function control ids are filled with unique ones.
  // `unique_id` sends <uniqueid>true</uniqueid>: for writes that must not run
  // twice. `done` is called exactly once, never inline.
  void call(std::vector<Function> functions, bool unique_id, std::function<void(CallOutcome)> done,
            CallOptions options = {});

  // Reads 1–100 RECORDNOs of one object, all fields.
  void read(std::string object, std::vector<std::string> recordnos,
            std::function<void(ReadOutcome)> done, CallOptions options = {});

  // Cached view, refreshed by every call; the authoritative state is in Redis.
  bool circuit_open() const;
  const std::string& tenant() const;
  const std::string& entity() const;

  Client(std::shared_ptr<detail::HubCore> hub, std::shared_ptr<detail::TenantState> state);

 private:
  std::shared_ptr<detail::HubCore> hub_;
  std::shared_ptr<detail::TenantState> state_;
};

// One per process: the transport, the Redis connection, metrics and the
// scheduling across tenants.
class ClientHub {
 public:
  // `conn` must be started by the owner. REQUIRES: metrics, clock and log
  // outlive the hub and every call in flight.
  ClientHub(boost::asio::any_io_executor ex, std::shared_ptr<redis::Connection> conn,
            std::shared_ptr<HttpTransport> transport, ClientOptions options, Metrics& metrics,
            Clock& clock, Log& log);
  ~ClientHub();
  ClientHub(const ClientHub&) = delete;
  ClientHub& operator=(const ClientHub&) = delete;

  // At start-up, for each tenant with Intacct credentials. Adding a tenant
  // twice replaces its access for later calls.
  std::shared_ptr<Client> add_tenant(TenantAccess access);
  // nullptr = no Intacct access configured for the tenant.
  std::shared_ptr<Client> client(std::string_view tenant) const;
  // Fails queued calls (transient) and refuses new ones. Idempotent.
  void shutdown();

 private:
  std::shared_ptr<detail::HubCore> core_;
};

// Redis keys the client keeps per tenant, for readers such as the status
// page: the circuit hash (open while it has a `fingerprint`; `reason` says
// why) and the counter of API transactions in the UTC month of `now_ms`.
std::string circuit_key(std::string_view tenant);
std::string monthly_calls_key(std::string_view tenant, std::int64_t now_ms);

// first 16 hex of sha256(tenant|company|user|sha256(password)|sender): tells
// a circuit opened for these credentials from one opened for older ones.
std::string credentials_fingerprint(const TenantAccess& access, const ClientOptions& options);

}  // namespace isync::intacct
