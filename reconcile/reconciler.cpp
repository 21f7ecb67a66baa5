#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <map>
#include <mutex>

#include "handlers/mirror_sync.hpp"
#include "handlers/payment_settle.hpp"
#include "reconcile/detail/run.hpp"
#include "reconcile/reconcile.hpp"

namespace isync::reconcile {

namespace asio = boost::asio;

namespace {

const std::vector<std::string> kObjects = {"CUSTOMER", "ARINVOICE", "ARPYMT"};

// Takes the lock when free: {1, value} for a new run, or {0, value} of the
// run that holds it. The fencing token comes from a counter that only grows.
const redis::Script& acquire_script() {
  static const redis::Script script(R"lua(
local held = redis.call('GET', KEYS[1])
if held then return {0, held} end
local token = redis.call('INCR', KEYS[2])
local value = token .. ':' .. ARGV[1]
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
redis.call('LPUSH', KEYS[3], ARGV[1])
while redis.call('LLEN', KEYS[3]) > tonumber(ARGV[3]) do
  local old = redis.call('RPOP', KEYS[3])
  redis.call('DEL', ARGV[4] .. old)
end
redis.call('SET', ARGV[4] .. ARGV[1], ARGV[5])
return {1, value}
)lua");
  return script;
}

std::string run_id_of(const std::string& lock_value) {
  const auto colon = lock_value.find(':');
  return colon == std::string::npos ? lock_value : lock_value.substr(colon + 1);
}

}  // namespace

struct Reconciler::Impl : std::enable_shared_from_this<Impl> {
  asio::any_io_executor ex;
  std::shared_ptr<redis::Connection> conn;
  std::shared_ptr<intacct::ClientHub> hub;
  std::map<std::string, TenantPlan> plans;
  Options options;
  Metrics& metrics;
  Clock& clock;
  Log& log;
  std::shared_ptr<handlers::MirrorSync> mirror;
  std::shared_ptr<handlers::PaymentSettler> payments;

  mutable std::mutex mu;
  std::map<std::string, std::shared_ptr<detail::Run>> runs;  // by run id
  bool stopped = false;

  Impl(asio::any_io_executor e, std::shared_ptr<redis::Connection> c,
       std::shared_ptr<intacct::ClientHub> h, std::vector<TenantPlan> tenants, Options o,
       handlers::MirrorOptions m, handlers::PaymentOptions po, Metrics& me, Clock& cl, Log& l)
      : ex(std::move(e)),
        conn(std::move(c)),
        hub(std::move(h)),
        options(o),
        metrics(me),
        clock(cl),
        log(l) {
    for (auto& t : tenants) plans[t.tenant] = std::move(t);
    mirror = std::make_shared<handlers::MirrorSync>(ex, conn, m, clock, log);
    payments = std::make_shared<handlers::PaymentSettler>(conn, std::move(po), clock, log);
  }

  void refuse(std::function<void(StartResult)>& started, std::string code, std::string message,
              std::string run_id = {}) {
    asio::post(ex, [started = std::move(started), code = std::move(code),
                    message = std::move(message), run_id = std::move(run_id)] {
      started(StartResult{run_id, Error{code, message}});
    });
  }

  void start(RunRequest request, std::function<void(StartResult)> started,
             std::function<void(std::string)> finished) {
    const auto plan = plans.find(request.tenant);
    if (plan == plans.end()) {
      return refuse(started, "unknown_tenant", "no tenant '" + request.tenant + "' is configured");
    }
    auto client = hub ? hub->client(request.tenant) : nullptr;
    if (!client) {
      return refuse(started, "no_intacct",
                    "tenant '" + request.tenant +
                        "' has no Intacct credentials (company_id, user_id, user_password)");
    }
    if (request.objects.empty()) request.objects = kObjects;
    std::vector<std::string> ordered;
    for (const auto& o : kObjects) {
      if (std::find(request.objects.begin(), request.objects.end(), o) != request.objects.end())
        ordered.push_back(o);
    }
    for (const auto& o : request.objects) {
      if (std::find(kObjects.begin(), kObjects.end(), o) == kObjects.end()) {
        return refuse(started, "invalid_objects",
                      "unknown object '" + o + "' (expected customers, invoices or payments)");
      }
    }
    request.objects = ordered;
    {
      std::lock_guard lock(mu);
      if (stopped) return refuse(started, "unavailable", "the service is shutting down");
    }
    auto self = shared_from_this();
    const std::string tenant = request.tenant;  // before the move below
    mirror->backfill_status(
        tenant, [self, request = std::move(request), client, plan = plan->second,
                 started = std::move(started),
                 finished = std::move(finished)](Result<handlers::BackfillStatus> st) mutable {
          if (!st) return self->refuse(started, "unavailable", st.error().message);
          if (!st->ready) {
            return self->refuse(started, "index_building",
                                "the mirror's record index is being built (" +
                                    std::to_string(st->scanned) +
                                    " records so far); reconcile can run once it is done");
          }
          self->acquire(std::move(request), std::move(client), std::move(plan), std::move(started),
                        std::move(finished));
        });
  }

  void acquire(RunRequest request, std::shared_ptr<intacct::Client> client, TenantPlan plan,
               std::function<void(StartResult)> started,
               std::function<void(std::string)> finished) {
    const std::string run_id = make_ulid(clock.now_ms());
    detail::Report initial;
    initial.run_id = run_id;
    initial.tenant = request.tenant;
    initial.trigger = request.trigger;
    initial.dry_run = request.dry_run;
    initial.started_ms = clock.now_ms();
    initial.order = request.objects;
    for (const auto& o : request.objects) initial.objects[o];
    const std::string tenant = request.tenant;
    auto self = shared_from_this();
    conn->eval(
        acquire_script(), {lock_key(tenant), queue_fence_key(tenant), runs_key(tenant)},
        {run_id, std::to_string(std::max<std::int64_t>(1000, options.lock_ttl.count())),
         std::to_string(std::max(1, options.keep_runs)), run_key(tenant, ""), initial.to_json()},
        [self, run_id, request = std::move(request), client = std::move(client),
         plan = std::move(plan), started = std::move(started),
         finished = std::move(finished)](boost::system::error_code ec, redis::Reply r) mutable {
          if (ec || r.is_error() || r.elements.size() != 2) {
            return self->refuse(started, "unavailable",
                                "Redis: " + (ec             ? ec.message()
                                             : r.is_error() ? r.str
                                                            : "bad reply"));
          }
          const std::string value = r.elements[1].str;
          if (r.elements[0].integer == 0) {
            return self->refuse(started, "already_running",
                                "a reconcile run of tenant " + request.tenant + " is running",
                                run_id_of(value));
          }
          self->launch(std::move(request), std::move(client), std::move(plan), run_id, value,
                       std::move(started), std::move(finished));
        });
  }

  static std::string queue_fence_key(const std::string& tenant);

  void launch(RunRequest request, std::shared_ptr<intacct::Client> client, TenantPlan plan,
              std::string run_id, std::string fence_value, std::function<void(StartResult)> started,
              std::function<void(std::string)> finished) {
    detail::RunDeps deps{conn,     mirror, payments, std::move(client), options, std::move(plan),
                         &metrics, &clock, &log};
    auto run = std::make_shared<detail::Run>(asio::make_strand(ex), std::move(deps), request,
                                             run_id, fence_value);
    {
      std::lock_guard lock(mu);
      runs[run_id] = run;
      if (stopped) run->stop();
    }
    log.info("reconcile started", LogLine()
                                      .str("tenant", request.tenant)
                                      .str("run_id", run_id)
                                      .str("trigger", request.trigger)
                                      .num("dry_run", request.dry_run ? 1 : 0));
    auto self = shared_from_this();
    run->begin([self, run_id, finished = std::move(finished)](const detail::Report& report) {
      {
        std::lock_guard lock(self->mu);
        self->runs.erase(run_id);
      }
      self->metrics
          .counter("isync_reconcile_runs_finished_total",
                   "Reconcile runs this process finished, by tenant and state.",
                   {{"tenant", report.tenant}, {"state", report.state}})
          .inc();
      self->log.write(report.state == "succeeded" ? Level::info : Level::warn, "reconcile finished",
                      LogLine()
                          .str("tenant", report.tenant)
                          .str("run_id", report.run_id)
                          .str("state", report.state)
                          .str("failure", report.failure)
                          .num("api_calls", report.api_calls())
                          .num("duration_ms", report.finished_ms - report.started_ms));
      if (finished) finished(report.to_json());
    });
    started(StartResult{run_id, std::nullopt});
  }
};

std::string Reconciler::Impl::queue_fence_key(const std::string& tenant) {
  return lock_key(tenant) + "-fence";
}

Reconciler::Reconciler(asio::any_io_executor ex, std::shared_ptr<redis::Connection> conn,
                       std::shared_ptr<intacct::ClientHub> hub, std::vector<TenantPlan> tenants,
                       Options options, handlers::MirrorOptions mirror,
                       handlers::PaymentOptions payments, Metrics& metrics, Clock& clock, Log& log)
    : impl_(std::make_shared<Impl>(std::move(ex), std::move(conn), std::move(hub),
                                   std::move(tenants), options, mirror, std::move(payments),
                                   metrics, clock, log)) {}

Reconciler::~Reconciler() { stop(); }

void Reconciler::start(RunRequest request, std::function<void(StartResult)> started,
                       std::function<void(std::string)> finished) {
  impl_->start(std::move(request), std::move(started), std::move(finished));
}

void Reconciler::stop() {
  std::lock_guard lock(impl_->mu);
  impl_->stopped = true;
  for (auto& [_, run] : impl_->runs) run->stop();
}

int Reconciler::running() const {
  std::lock_guard lock(impl_->mu);
  return static_cast<int>(impl_->runs.size());
}

}  // namespace isync::reconcile
