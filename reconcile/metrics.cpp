// reconcile figures for /metrics, read from each tenant's stats hash.
#include <charconv>
#include <memory>
#include <mutex>

#include "reconcile/reconcile.hpp"

namespace isync::reconcile {

namespace {

std::optional<std::uint64_t> as_count(const std::string& text) {
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return n;
}

void publish_tenant(const std::string& tenant, const redis::Reply& hash, Metrics& metrics) {
  const auto& e = hash.elements;
  for (std::size_t i = 0; i + 1 < e.size(); i += 2) {
    const std::string& field = e[i].str;
    auto value = as_count(e[i + 1].str);
    if (!value) continue;
    if (field.starts_with("runs:")) {
      metrics
          .counter("isync_reconcile_runs_total",
                   "Reconcile runs finished, by tenant and outcome (all processes).",
                   {{"tenant", tenant}, {"state", field.substr(5)}})
          .set(*value);
    } else if (field == "calls") {
      metrics
          .counter("isync_reconcile_api_calls_total",
                   "Intacct API calls made by reconcile runs (all processes).",
                   {{"tenant", tenant}})
          .set(*value);
    } else if (field == "last_success_ms") {
      metrics
          .gauge("isync_reconcile_last_success_timestamp_seconds",
                 "When the tenant's last successful reconcile run ended (Unix time).",
                 {{"tenant", tenant}})
          .set(static_cast<double>(*value) / 1000.0);
    } else if (field.starts_with("drift:")) {
      // drift:<object>:<kind>; object names hold no ':'.
      const auto colon = field.find(':', 6);
      if (colon == std::string::npos) continue;
      metrics
          .counter("isync_reconcile_drift_total",
                   "Records reconcile fixed, by tenant, object and kind (all processes).",
                   {{"tenant", tenant},
                    {"object", field.substr(6, colon - 6)},
                    {"kind", field.substr(colon + 1)}})
          .set(*value);
    }
  }
}

}  // namespace

void publish_metrics(redis::Connection& conn, const std::vector<std::string>& tenants,
                     Metrics& metrics, std::function<void()> done) {
  if (tenants.empty()) return done();
  struct Pending {
    std::mutex mu;
    std::size_t left;
    std::function<void()> done;
  };
  auto pending = std::make_shared<Pending>();
  pending->left = tenants.size();
  pending->done = std::move(done);
  for (const auto& t : tenants) {
    conn.command({"HGETALL", stats_key(t)},
                 [pending, t, &metrics](boost::system::error_code ec, redis::Reply r) {
                   if (!ec && r.type == redis::Reply::Type::array) publish_tenant(t, r, metrics);
                   bool last = false;
                   {
                     std::lock_guard lock(pending->mu);
                     last = --pending->left == 0;
                   }
                   if (last) pending->done();
                 });
  }
}

}  // namespace isync::reconcile
