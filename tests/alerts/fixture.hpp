// The alert tests' rig: a real redis-server, a webhook receiver on loopback,
// an io loop, and Alerters for tenants acme and beta driven by check_now()
// (their timer is set far off), on a manual clock.
#pragma once

#include <doctest/doctest.h>

#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "alerts/alerts.hpp"
#include "core/json.hpp"
#include "intacct/client.hpp"
#include "queue/queue.hpp"
#include "reconcile/reconcile.hpp"
#include "tests/alerts/receiver.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

namespace isync::testing {

inline constexpr std::int64_t kNow = 1800000000000;  // 2027-01-15T08:00:00Z

// "2027-01-15T08:00:00.000Z" for epoch ms.
inline std::string iso(std::int64_t ms) {
  const auto days = ms / 86'400'000;
  const auto rest = ms % 86'400'000;
  const auto d = civil_from_days(days);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<long long>(d.year), d.month, d.day,
                static_cast<long long>(rest / 3'600'000),
                static_cast<long long>(rest / 60'000 % 60),
                static_cast<long long>(rest / 1000 % 60), static_cast<long long>(rest % 1000));
  return buf;
}

inline queue::Envelope customer_event(const std::string& tenant, const std::string& recordno) {
  queue::Envelope e;
  e.event_id = make_ulid(kNow);
  e.source = "intacct";
  e.tenant = tenant;
  e.object = "CUSTOMER";
  e.action = "set";
  e.key = recordno;
  e.version = kNow / 1000;
  e.whenmodified = format_whenmodified(e.version);
  e.received_at_ms = kNow;
  e.content_type = "application/x-www-form-urlencoded";
  e.raw = "object=CUSTOMER&action=set&recordno=" + recordno;
  return e;
}

inline queue::Failure intacct_failure() {
  queue::Failure f;
  f.cls = queue::FailureClass::permanent;
  f.code = "intacct_error";
  f.message = "Intacct refused it";
  f.errorno = "BL34000061";
  f.description = "Invalid customer";
  f.correction = "Fix the customer";
  return f;
}

inline queue::Failure plain_failure(const std::string& code) {
  queue::Failure f;
  f.cls = queue::FailureClass::permanent;
  f.code = code;
  f.message = "it failed";
  return f;
}

// The "text" of a webhook body.
inline std::string text_of(const std::string& body) {
  auto doc = json::parse(body);
  REQUIRE(doc.has_value());
  REQUIRE(doc->IsObject());
  REQUIRE(doc->HasMember("text"));
  return (*doc)["text"].GetString();
}

struct AlertRig {
  RedisServer server;
  Receiver receiver;
  ManualClock clock{kNow};
  Metrics metrics;
  std::mutex log_mu;
  std::vector<std::string> log_lines;
  Log log{Level::debug, [this](std::string_view line) {
            std::lock_guard lock(log_mu);
            log_lines.emplace_back(line);
          }};
  std::unique_ptr<Loop> io = std::make_unique<Loop>(2);
  std::vector<std::shared_ptr<redis::Connection>> conns;
  std::shared_ptr<redis::Connection> conn = open();
  std::vector<alerts::TenantPolicy> tenants{{"acme", 100}, {"beta", 0}};
  std::vector<std::unique_ptr<alerts::Alerter>> alerters;

  explicit AlertRig(bool receiver_up = true)
      : receiver(receiver_up ? 0 : free_port(), receiver_up) {}
  ~AlertRig() {
    for (auto& a : alerters) {
      std::promise<void> stopped;
      a->stop([&] { stopped.set_value(); });
      stopped.get_future().wait_for(std::chrono::seconds(10));
    }
    for (auto& c : conns) close_and_wait(*c);
    io->stop();
    alerters.clear();
  }

  std::shared_ptr<redis::Connection> open() {
    redis::Options o;
    o.reconnect_interval = std::chrono::milliseconds(50);
    auto c = redis::Connection::create(io->executor(), server.endpoint(), o);
    c->start();
    REQUIRE(eventually([&] { return c->connected(); }));
    conns.push_back(c);
    return c;
  }

  alerts::Options options() {
    alerts::Options o;
    o.webhook_url = Secret(receiver.url());
    o.dead_threshold = 3;
    o.drift_threshold = 0.01;
    o.check_interval = std::chrono::hours(1);  // checks come from check()
    o.retry_base = std::chrono::milliseconds(50);
    o.retry_cap = std::chrono::milliseconds(200);
    o.give_up_after = std::chrono::minutes(5);
    o.post_timeout = std::chrono::seconds(5);
    return o;
  }

  alerts::Alerter& add(alerts::Options o) {
    alerters.push_back(std::make_unique<alerts::Alerter>(io->executor(), open(), tenants,
                                                         std::move(o), metrics, clock, log));
    alerters.back()->start();
    return *alerters.back();
  }
  alerts::Alerter& add() { return add(options()); }

  // One check pass of `a`, waited for; its alerts are queued when it returns.
  void check(alerts::Alerter& a) {
    auto done = std::make_shared<std::promise<void>>();
    auto f = done->get_future();
    a.check_now([done] { done->set_value(); });
    REQUIRE(f.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  }
  // Checks, then waits until every alerter's outbox is empty: the receiver
  // then has every message this pass sent.
  void check_and_deliver(alerts::Alerter& a) {
    check(a);
    settle();
  }
  void settle() {
    REQUIRE(eventually(
        [&] {
          for (auto& x : alerters)
            if (x->queued() != 0) return false;
          return true;
        },
        std::chrono::seconds(30)));
  }

  std::vector<std::string> texts() {
    std::vector<std::string> out;
    for (const auto& b : receiver.bodies()) out.push_back(text_of(b));
    return out;
  }

  std::uint64_t counted(const std::string& kind, const std::string& outcome) {
    return metrics.counter("isync_alerts_total", "", {{"kind", kind}, {"outcome", outcome}})
        .value();
  }

  std::string dead(const std::string& tenant, const std::string& key,
                   const queue::Failure& f = intacct_failure(), std::int64_t at_ms = 0) {
    auto e = customer_event(tenant, key);
    auto promise = std::make_shared<std::promise<Result<void>>>();
    auto fut = promise->get_future();
    queue::file_dead_letter(*conn, e, f, at_ms != 0 ? at_ms : clock.now_ms(),
                            [promise](Result<void> r) { promise->set_value(std::move(r)); });
    REQUIRE(fut.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    REQUIRE(fut.get().has_value());
    return e.event_id;
  }

  void put_run(const std::string& tenant, const std::string& json, const std::string& run_id) {
    server.cmd({"SET", reconcile::run_key(tenant, run_id), json});
    server.cmd({"LPUSH", reconcile::runs_key(tenant), run_id});
  }

  bool logged(const std::string& needle) {
    std::lock_guard lock(log_mu);
    for (const auto& l : log_lines)
      if (l.find(needle) != std::string::npos) return true;
    return false;
  }
  std::string all_logs() {
    std::lock_guard lock(log_mu);
    std::string out;
    for (const auto& l : log_lines) out += l + "\n";
    return out;
  }
};

// A report as reconcile keeps it.
inline std::string report(const std::string& run_id, const std::string& state, std::int64_t listed,
                          std::int64_t missing, std::int64_t stale, std::int64_t gone, bool mass,
                          bool dry_run = false, std::int64_t finished_ms = kNow - 60'000,
                          const std::string& failure = "", const std::string& errors = "[]") {
  return "{\"run_id\":\"" + run_id +
         "\",\"tenant\":\"acme\",\"trigger\":\"schedule\",\"dry_run\":" +
         (dry_run ? "true" : "false") + ",\"state\":\"" + state + "\"" +
         (failure.empty() ? "" : ",\"failure\":\"" + failure + "\"") + ",\"started_at\":\"" +
         iso(finished_ms - 30'000) + "\",\"finished_at\":\"" + iso(finished_ms) +
         "\",\"objects\":{\"CUSTOMER\":{\"state\":\"done\",\"listed\":" + std::to_string(listed) +
         ",\"missing\":" + std::to_string(missing) + ",\"stale\":" + std::to_string(stale) +
         ",\"gone_candidates\":" + std::to_string(gone) +
         ",\"mass_delete_suspected\":" + (mass ? "true" : "false") + "}},\"errors\":" + errors +
         "}";
}

}  // namespace isync::testing
