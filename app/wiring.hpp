// Internal to app/: the module options made from the config, and the Intacct
// access, shared by `serve` (service.cpp) and `reconcile` (reconcile_cli.cpp)
// so the two build them the same way.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "alerts/alerts.hpp"
#include "config/config.hpp"
#include "core/core.hpp"
#include "handlers/handlers.hpp"
#include "ingest/ingest.hpp"
#include "intacct/client.hpp"
#include "intacct/transport.hpp"
#include "oncall/oncall.hpp"
#include "queue/queue.hpp"
#include "reconcile/reconcile.hpp"
#include "reconcile/schedule.hpp"
#include "redis/redis.hpp"

namespace isync::app::detail {

// PRODUCT.md §2: kExitOk; kExitUnavailable when Redis cannot be reached;
// kExitRefused when it could lose accepted writes (AOF off, an evicting
// maxmemory-policy). Blocking: call before any io thread runs.
int check_redis(const redis::Endpoint& endpoint, const config::Config& cfg, Log& log);

redis::Options redis_options(const config::Config& cfg, std::string client_name);
// Opens and starts a named connection to `endpoint` with redis_options and
// keeps it in `conns` (the caller closes them all at shutdown). REQUIRES:
// `conns`, `cfg` and `log` outlive the returned function's calls.
std::function<std::shared_ptr<redis::Connection>(const std::string& name)> connector(
    boost::asio::any_io_executor ex, redis::Endpoint endpoint, const config::Config& cfg, Log& log,
    std::vector<std::shared_ptr<redis::Connection>>& conns);
handlers::MirrorOptions mirror_options(const config::Config& cfg);
handlers::PaymentOptions payment_options(const config::Config& cfg);
std::map<std::string, handlers::PaymentPolicy> payment_policies(const config::Config& cfg);
intacct::TransportOptions transport_options(const config::Config& cfg);
// The on-call engine's: [admin] replay_rate, the payment lease, and the
// sweep's retentions from [queue] done_retention and dead_letter_retention.
oncall::Options oncall_options(const config::Config& cfg);
intacct::ClientOptions client_options(const config::Config& cfg);

// Intacct access for the tenants with credentials; all null/empty when none
// has any. The owner calls hub->shutdown() then transport->shutdown().
struct IntacctAccess {
  std::shared_ptr<intacct::HttpTransport> transport;
  std::shared_ptr<intacct::ClientHub> hub;
  std::vector<std::string> tenants;  // with credentials, in config order
};
// `conn`: the hub's own connection, started by the caller.
IntacctAccess make_intacct(boost::asio::any_io_executor ex, std::shared_ptr<redis::Connection> conn,
                           const config::Config& cfg, Metrics& metrics, Clock& clock, Log& log);

// Every configured tenant's reconcile plan (a tenant without Intacct
// credentials is refused no_intacct by the engine, not unknown_tenant).
std::vector<reconcile::TenantPlan> reconcile_plans(const config::Config& cfg);
// [reconcile], and readback_wait from [payments].
reconcile::Options reconcile_options(const config::Config& cfg);
// The scheduler's tenants (those with Intacct access) and its StartFn: a
// start refused as index_building, already_running or unavailable is busy
// (retried later), any other refusal failed.
std::vector<reconcile::ScheduleEntry> schedule_entries(const config::Config& cfg);
reconcile::StartFn schedule_start(reconcile::Reconciler& reconciler);

// The admin API's reconcile hooks: start through `reconciler` (null = this
// process runs none: 503), reports read through `conn` from any process's
// runs. REQUIRES: `reconciler` outlives the server using the hooks.
void wire_reconcile(ingest::Options& options, reconcile::Reconciler* reconciler,
                    std::shared_ptr<redis::Connection> conn);

// The status document (handlers::read_status) with each tenant's last
// reconcile run (state, when, drift counts, API calls) added: as JSON (each
// tenant gains "reconcile": {…} or null) or as text (a block at the end).
// `budgets`: each tenant's monthly_call_budget (absent = 0, none), shown in
// its "intacct" object. Error{"unavailable", …} when Redis cannot be read.
// `done` runs once.
void read_status(redis::Connection& conn, std::vector<std::string> tenants,
                 std::map<std::string, std::int64_t> budgets, std::int64_t now_ms, bool json,
                 std::function<void(Result<std::string>)> done);
// Each configured tenant's monthly_call_budget, for read_status.
std::map<std::string, std::int64_t> call_budgets(const config::Config& cfg);

// [alerts] as the Alerter's options (REQUIRES: cfg.alerts.enabled()), and
// every configured tenant with its monthly_call_budget.
alerts::Options alert_options(const config::Config& cfg);
std::vector<alerts::TenantPolicy> alert_tenants(const config::Config& cfg);

}  // namespace isync::app::detail
