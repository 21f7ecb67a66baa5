// alerts — messages that reach a person: a chat webhook (Slack-compatible
// JSON) is told when a tenant needs on-call, and again when it recovered.
//
// Contract:
//  * An `Alerter` runs in every serve process, on its own strand, off every
//    worker's path: each `check_interval` it reads Redis only (the status
//    figures, the dead-letter index, the kept reconcile reports) and raises
//      - dead_letters: the events dead-lettered since the tenant's last digest,
//        at most one message per tenant per `digest_window` (1 minute), with
//        the count, the objects and the top error codes (≤ 5) with Intacct's
//        errorno, description and correction;
//      - dead_threshold: the tenant's dead letters reach `dead_threshold`, and
//        again when they fall back under it;
//      - circuit: the tenant's Intacct circuit opens, and when it closes;
//      - budget: the month's API transactions reach 80 % and 100 % of the
//        tenant's monthly_call_budget (each once per UTC month);
//      - reconcile: a run (not a dry run) that failed or ended partial,
//        suspected a mass delete, or drifted (missing + stale + gone records)
//        over `drift_threshold` of the records it listed; one message per
//        run, for runs finished within `reconcile_lookback`.
//  * Across processes every alert is claimed in Redis by one atomic script
//    before it is queued, so N processes send one message, not N: a
//    compare-and-set of the last alerted state per tenant and kind
//    (threshold over/under, circuit open/closed: hashes of state and the
//    observation's time, so an older observation never overwrites a newer
//    one), the level reached per month (budget: 80, 100; expires after 40
//    days), the digest's cursor and window (a key that lives digest_window),
//    and one key per reconcile run (expires after twice the lookback). Keys
//    are `isync:{t}:alerts:*`, a handful per tenant. The digest's cursor
//    starts at the first check ever made for the tenant: dead letters filed
//    before alerts were switched on are not reported.
//  * Delivery: alerts wait in a bounded in-memory outbox (`outbox_limit`; an
//    alert met by a full outbox is dropped and counted) and are posted one at
//    a time through a pooled HTTP(S) client (https://, or http:// to a
//    loopback host only). A 2xx is sent; a transport failure, 408, 429 or
//    5xx is retried after retry_base, doubling up to retry_cap, until
//    give_up_after has passed since the alert was raised (then failed); any
//    other status is failed at once. An alert claimed by a process that
//    stops before delivering it is lost (the outbox is not persisted).
//  * Metrics: isync_alerts_total{kind,outcome}, outcome ∈ sent | retried |
//    failed | dropped (a retried post counts once per retry).
//  * Secrets: the webhook URL is never logged, put in an error, a metric or
//    Redis; log lines say "alert webhook" with the kind, tenant and status.
//    Messages carry tenant ids, counts, codes and Intacct's texts — never a
//    token, password or URL of this configuration.
//  * Threads: every public method may be called from any thread and never
//    blocks. Redis trouble skips that check (logged at debug) until the next.
//  * Ownership: the Metrics, Clock and Log passed in must outlive the
//    Alerter; stop(done) cancels the timers and the delivery and calls `done`
//    once nothing of it runs any more.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.hpp"
#include "redis/redis.hpp"

namespace isync::alerts {

// What an alert is about: the `kind` label of isync_alerts_total.
enum class Kind {
  dead_letters,    // events dead-lettered since the tenant's last digest
  dead_threshold,  // dead letters reached dead_threshold, or fell back under it
  circuit,         // the Intacct circuit opened, or closed
  budget,          // the month's calls reached 80 % or 100 % of the budget
  reconcile,       // a run failed, suspected a mass delete, or drifted
};
inline constexpr Kind kKinds[] = {Kind::dead_letters, Kind::dead_threshold, Kind::circuit,
                                  Kind::budget, Kind::reconcile};
std::string_view kind_name(Kind kind);

struct Alert {
  Kind kind = Kind::dead_letters;
  std::string tenant;
  std::string text;  // plain text, several lines; what happened and what to do
};

// The webhook's body: {"text":"<alert.text>"} (Slack's incoming-webhook
// shape; Mattermost and others accept it too).
std::string webhook_body(const Alert& alert);

struct TenantPolicy {
  std::string tenant;
  std::int64_t monthly_call_budget = 0;  // 0 = no budget alerts
};

struct Options {
  Secret webhook_url;                 // REQUIRES: not empty
  std::int64_t dead_threshold = 100;  // dead letters
  double drift_threshold = 0.01;      // share of the records a reconcile run listed
  std::chrono::milliseconds check_interval{15'000};
  std::chrono::milliseconds digest_window{60'000};  // one dead-letter message per tenant
  std::chrono::milliseconds retry_base{1'000};      // first retry delay, doubled each time ...
  std::chrono::milliseconds retry_cap{300'000};     // ... up to this
  std::chrono::milliseconds give_up_after{3'600'000};
  std::chrono::milliseconds post_timeout{10'000};  // one post, connect to reply
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::hours reconcile_lookback{24};
  std::size_t outbox_limit = 256;
  std::string ca_file;  // PEM bundle for https; empty = the system's store
};

class Alerter {
 public:
  // REQUIRES: metrics, clock and log outlive the Alerter. `conn` is started
  // by the caller.
  Alerter(boost::asio::any_io_executor ex, std::shared_ptr<redis::Connection> conn,
          std::vector<TenantPolicy> tenants, Options options, Metrics& metrics, Clock& clock,
          Log& log);
  ~Alerter();
  Alerter(const Alerter&) = delete;
  Alerter& operator=(const Alerter&) = delete;

  // The first check runs after one check_interval, then every interval.
  void start();
  // Cancels the timers and any post in flight; alerts still queued are
  // dropped (not counted). `done` (optional) runs once, never inline.
  void stop(std::function<void()> done = {});

  // One check now (after the one under way, if any); `done` runs once its
  // alerts are claimed and queued. For tests and tools.
  void check_now(std::function<void()> done);
  // Queues an alert for delivery (dropped and counted when the outbox is
  // full). Never blocks.
  void post(Alert alert);
  // Alerts waiting or being posted.
  std::size_t queued() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace isync::alerts
