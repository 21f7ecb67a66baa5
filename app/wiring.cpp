#include "app/wiring.hpp"

#include <algorithm>

#include "app/service.hpp"

namespace isync::app::detail {

// PRODUCT.md §2: refuse to start on a Redis that could lose accepted events.
int check_redis(const redis::Endpoint& endpoint, const config::Config& cfg, Log& log) {
  auto conn = redis::SyncConnection::connect(endpoint, cfg.redis.command_timeout);
  if (!conn) {
    log.error("cannot reach Redis; is it running?",
              LogLine().str("redis", cfg.redis.display_url).str("error", conn.error().message));
    return kExitUnavailable;
  }
  auto ping = conn->command({"PING"});
  if (!ping || ping->is_error()) {
    log.error("Redis does not answer PING (wrong password or database?)",
              LogLine()
                  .str("redis", cfg.redis.display_url)
                  .str("error", ping ? ping->str : ping.error().message));
    return kExitUnavailable;
  }
  auto req = queue::check_redis_requirements(*conn);
  if (!req) {
    log.error("refusing to start: " + req.error().message,
              LogLine().str("redis", cfg.redis.display_url));
    return kExitRefused;
  }
  if (req->appendfsync != "always") {
    log.warn("Redis has appendfsync=" + req->appendfsync +
                 ": events answered 202 in the last second before a power loss can be lost; "
                 "the default setup uses `appendfsync always`",
             LogLine().str("redis", cfg.redis.display_url));
  }
  return kExitOk;
}

redis::Options redis_options(const config::Config& cfg, std::string client_name) {
  redis::Options o;
  o.command_timeout = cfg.redis.command_timeout;
  o.reconnect_interval = cfg.redis.reconnect_interval;
  o.client_name = std::move(client_name);
  return o;
}

std::function<std::shared_ptr<redis::Connection>(const std::string& name)> connector(
    boost::asio::any_io_executor ex, redis::Endpoint endpoint, const config::Config& cfg, Log& log,
    std::vector<std::shared_ptr<redis::Connection>>& conns) {
  return [ex, endpoint = std::move(endpoint), &cfg, &log, &conns](const std::string& name) {
    auto c = redis::Connection::create(ex, endpoint, redis_options(cfg, name), &log);
    c->start();
    conns.push_back(c);
    return c;
  };
}

handlers::MirrorOptions mirror_options(const config::Config& cfg) {
  using std::chrono::duration_cast;
  using std::chrono::seconds;
  handlers::MirrorOptions o;
  o.apply_batch = cfg.mirror.apply_batch;
  o.apply_budget = cfg.mirror.apply_call_budget;
  o.audit_max_entries = cfg.mirror.audit_max_entries;
  o.audit_max_age = duration_cast<seconds>(cfg.mirror.audit_max_age);
  o.tombstone_retention = duration_cast<seconds>(cfg.mirror.tombstone_retention);
  o.done_retention = duration_cast<seconds>(cfg.queue.done_retention);
  o.read_batch_window = cfg.intacct.read_batch_window;
  o.settle_margin = cfg.intacct.settle_margin;
  o.read_after_settle = cfg.intacct.read_after_settle;
  return o;
}

intacct::TransportOptions transport_options(const config::Config& cfg) {
  intacct::TransportOptions o;
  o.connect_timeout = cfg.intacct.connect_timeout;
  o.request_timeout = cfg.intacct.call_timeout;
  o.ca_file = cfg.intacct.ca_file;
  // Config accepts http:// only for a loopback host (the sandbox); the
  // transport checks the host again.
  o.allow_plain_http = cfg.intacct.endpoint.starts_with("http://");
  o.user_agent = "intacct-sync";
  return o;
}

intacct::ClientOptions client_options(const config::Config& cfg) {
  intacct::ClientOptions o;
  o.endpoint = cfg.intacct.endpoint;
  o.sender_id = cfg.intacct.sender_id;
  o.sender_password = cfg.intacct.sender_password;
  o.call_timeout = cfg.intacct.call_timeout;
  o.slot_wait = cfg.intacct.slot_wait;
  // A slot outlives every call that can hold it (a login, the call, one
  // resend); a process killed mid-call frees its slots when this ends, so it
  // is no longer than that: with short call timeouts, a crash stalls the
  // tenant's calls only briefly.
  o.slot_lease = std::max(std::chrono::milliseconds(10'000),
                          3 * cfg.intacct.call_timeout + cfg.intacct.connect_timeout);
  o.circuit_probe_interval = cfg.intacct.circuit_probe_interval;
  return o;
}

handlers::PaymentOptions payment_options(const config::Config& cfg) {
  handlers::PaymentOptions o;
  o.lease = cfg.payments.lease;
  o.readback_interval = cfg.payments.readback_interval;
  o.readback_wait = cfg.payments.readback_wait;
  const auto m = mirror_options(cfg);
  o.audit_max_entries = m.audit_max_entries;
  o.audit_max_age = m.audit_max_age;
  o.done_retention = m.done_retention;
  return o;
}

oncall::Options oncall_options(const config::Config& cfg) {
  oncall::Options o;
  o.replay_rate = static_cast<double>(cfg.admin.replay_rate);
  o.lease = cfg.payments.lease;
  o.sweep.done_retention = cfg.queue.done_retention;
  o.sweep.dead_retention = cfg.queue.dead_letter_retention;
  return o;
}

std::map<std::string, handlers::PaymentPolicy> payment_policies(const config::Config& cfg) {
  std::map<std::string, handlers::PaymentPolicy> out;
  for (const auto& t : cfg.tenants) {
    handlers::PaymentPolicy p;
    p.payment_method = t.payment_method;
    p.ach_payment_method = t.ach_payment_method;
    p.bank_account = t.bank_account;
    p.undeposited_account = t.undeposited_account;
    p.payment_batch = t.payment_batch;
    p.overpayment_as_advance = t.overpayment == "advance";
    p.match_customers_by = t.match_customers_by;
    p.timezone = t.timezone;
    out.emplace(t.id, std::move(p));
  }
  return out;
}

IntacctAccess make_intacct(boost::asio::any_io_executor ex, std::shared_ptr<redis::Connection> conn,
                           const config::Config& cfg, Metrics& metrics, Clock& clock, Log& log) {
  IntacctAccess out;
  for (const auto& t : cfg.tenants)
    if (t.has_intacct()) out.tenants.push_back(t.id);
  if (out.tenants.empty()) return out;
  out.transport = intacct::HttpTransport::create(ex, transport_options(cfg), log);
  out.hub = std::make_shared<intacct::ClientHub>(ex, std::move(conn), out.transport,
                                                 client_options(cfg), metrics, clock, log);
  for (const auto& t : cfg.tenants) {
    if (!t.has_intacct()) continue;
    out.hub->add_tenant(intacct::TenantAccess{t.id, t.company_id, t.user_id, t.user_password,
                                              t.entity_id, t.concurrency, t.monthly_call_budget});
  }
  return out;
}

std::vector<reconcile::TenantPlan> reconcile_plans(const config::Config& cfg) {
  std::vector<reconcile::TenantPlan> out;
  for (const auto& t : cfg.tenants) {
    out.push_back({t.id, t.timezone, t.reconcile_at, t.initial_window, t.concurrency});
  }
  return out;
}

reconcile::Options reconcile_options(const config::Config& cfg) {
  reconcile::Options o;
  o.lock_ttl = cfg.reconcile.lock_ttl;
  o.retry_base = cfg.reconcile.retry_base;
  o.retry_cap = cfg.reconcile.retry_cap;
  o.max_attempts = cfg.reconcile.max_attempts;
  o.keep_runs = cfg.reconcile.keep_runs;
  o.readback_wait = cfg.payments.readback_wait;
  return o;
}

std::vector<reconcile::ScheduleEntry> schedule_entries(const config::Config& cfg) {
  std::vector<reconcile::ScheduleEntry> out;
  for (const auto& t : cfg.tenants) {
    if (t.has_intacct()) out.push_back({t.id, t.timezone, t.reconcile_at});
  }
  return out;
}

reconcile::StartFn schedule_start(reconcile::Reconciler& reconciler) {
  return [&reconciler](const std::string& tenant, std::string trigger,
                       std::function<void(reconcile::StartVerdict, std::string)> verdict) {
    reconcile::RunRequest request;
    request.tenant = tenant;
    request.trigger = std::move(trigger);
    reconciler.start(std::move(request), [verdict = std::move(verdict)](reconcile::StartResult r) {
      if (!r.error) return verdict(reconcile::StartVerdict::started, "");
      // Later is better: the index is being built, another
      // run holds the lock, or Redis is away for a moment.
      const auto& code = r.error->code;
      const bool busy =
          code == "index_building" || code == "already_running" || code == "unavailable";
      verdict(busy ? reconcile::StartVerdict::busy : reconcile::StartVerdict::failed,
              r.error->message);
    });
  };
}

void wire_reconcile(ingest::Options& options, reconcile::Reconciler* reconciler,
                    std::shared_ptr<redis::Connection> conn) {
  if (reconciler) {
    options.reconcile_start = [reconciler](ingest::ReconcileRequest r,
                                           std::function<void(ingest::ReconcileStart)> done) {
      reconcile::RunRequest request;
      request.tenant = std::move(r.tenant);
      request.objects = std::move(r.objects);
      request.dry_run = r.dry_run;
      request.allow_mass_delete = r.allow_mass_delete;
      request.trigger = "admin";
      reconciler->start(std::move(request), [done = std::move(done)](reconcile::StartResult s) {
        done(ingest::ReconcileStart{std::move(s.run_id), std::move(s.error)});
      });
    };
  }
  options.reconcile_runs = [conn](std::string tenant, int limit,
                                  std::function<void(Result<std::vector<std::string>>)> done) {
    reconcile::list_runs(*conn, tenant, limit, std::move(done));
  };
  options.reconcile_run = [conn](std::string tenant, std::string run_id,
                                 std::function<void(Result<std::string>)> done) {
    reconcile::get_run(*conn, tenant, run_id, std::move(done));
  };
}

alerts::Options alert_options(const config::Config& cfg) {
  alerts::Options o;
  o.webhook_url = cfg.alerts.webhook_url;
  o.dead_threshold = cfg.alerts.dead_threshold;
  o.drift_threshold = cfg.alerts.drift_threshold;
  o.check_interval = cfg.alerts.check_interval;
  o.retry_cap = cfg.alerts.retry_cap;
  o.give_up_after = cfg.alerts.give_up_after;
  o.post_timeout = cfg.alerts.post_timeout;
  o.connect_timeout = std::min(cfg.alerts.post_timeout, o.connect_timeout);
  return o;
}

std::vector<alerts::TenantPolicy> alert_tenants(const config::Config& cfg) {
  std::vector<alerts::TenantPolicy> out;
  for (const auto& t : cfg.tenants) out.push_back({t.id, t.monthly_call_budget});
  return out;
}

}  // namespace isync::app::detail
