// intacct-sync reconcile: runs the daily reconciliation now, in this process.
#include <unistd.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include "app/reconcile_progress.hpp"
#include "app/service.hpp"
#include "app/wiring.hpp"

namespace isync::app {

namespace asio = boost::asio;

namespace {

constexpr std::chrono::seconds kPlainEvery{5};

// One selected tenant's run, shared with the io thread under Runs::mu.
struct TenantRun {
  std::string tenant;
  std::optional<reconcile::StartResult> started;
  std::optional<std::string> report;  // final
};

struct Runs {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<TenantRun> runs;
};

int code_of_refusal(const Error& e) {
  if (e.code == "already_running") return kReconcileAlreadyRunning;
  if (e.code == "index_building") return kReconcileIndexBuilding;
  if (e.code == "no_intacct" || e.code == "unknown_tenant" || e.code == "invalid_objects") {
    return kReconcileBadConfig;
  }
  return kReconcileFailed;
}

int code_of_report(const std::string& report) {
  return report.find("\"state\":\"succeeded\"") != std::string::npos ? kReconcileSucceeded
                                                                     : kReconcileFailed;
}

// Selected tenants, or an error message (exit 2).
Result<std::vector<std::string>> select_tenants(const config::Config& cfg, const std::string& t) {
  std::vector<std::string> out;
  if (!t.empty()) {
    const auto* tenant = cfg.tenant(t);
    if (!tenant) return Error{"bad_args", "--tenant: no tenant \"" + t + "\" is configured"};
    if (!tenant->has_intacct()) {
      return Error{"bad_args", "--tenant: tenant \"" + t +
                                   "\" has no Intacct credentials (company_id, user_id, "
                                   "user_password)"};
    }
    out.push_back(t);
    return out;
  }
  for (const auto& tc : cfg.tenants)
    if (tc.has_intacct()) out.push_back(tc.id);
  if (out.empty()) return Error{"bad_args", "no configured tenant has Intacct credentials"};
  return out;
}

Result<std::vector<std::string>> select_objects(const std::vector<std::string>& names) {
  static const std::pair<const char*, const char*> kNames[] = {
      {"customers", "CUSTOMER"}, {"invoices", "ARINVOICE"}, {"payments", "ARPYMT"}};
  std::vector<std::string> out;
  for (const auto& n : names) {
    auto it = std::find_if(std::begin(kNames), std::end(kNames),
                           [&](const auto& p) { return n == p.first; });
    if (it == std::end(kNames)) {
      return Error{"bad_args", "--objects: unknown object \"" + n +
                                   "\"; expected customers, invoices or payments"};
    }
    if (std::find(out.begin(), out.end(), it->second) == out.end()) out.push_back(it->second);
  }
  return out;
}

// The live reports of the runs still going, read from Redis (as any process
// would), each within `wait`.
std::vector<std::pair<std::string, std::string>> live_reports(
    redis::Connection& conn, const std::vector<std::pair<std::string, std::string>>& running,
    std::chrono::milliseconds wait) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [tenant, run_id] : running) {
    auto promise = std::make_shared<std::promise<Result<std::string>>>();
    auto future = promise->get_future();
    reconcile::get_run(conn, tenant, run_id,
                       [promise](Result<std::string> r) { promise->set_value(std::move(r)); });
    if (future.wait_for(wait) != std::future_status::ready) continue;
    auto r = future.get();
    if (r) out.emplace_back(tenant, std::move(*r));
  }
  return out;
}

}  // namespace

int reconcile(const config::Config& cfg, const ReconcileArgs& args, std::ostream& out,
              std::ostream& err, bool terminal) {
  auto objects = select_objects(args.objects);
  if (!objects) {
    err << "intacct-sync: " << objects.error().message << "\n";
    return kReconcileBadConfig;
  }
  auto tenants = select_tenants(cfg, args.tenant);
  if (!tenants) {
    err << "intacct-sync: " << tenants.error().message << "\n";
    return kReconcileBadConfig;
  }
  auto endpoint = redis::parse_url(cfg.redis.url.reveal());
  if (!endpoint) {
    err << "intacct-sync: redis.url is not a valid redis:// URL (" << cfg.redis.display_url
        << ")\n";
    return kReconcileBadConfig;
  }
  // Info lines (the fix log) would break the redrawn progress when both go
  // to the same terminal; redirect stderr (or ask with --log-level) to keep them.
  const bool quiet = terminal && ::isatty(STDERR_FILENO) == 1;
  Log log(args.log_level ? *args.log_level
          : quiet        ? std::max(cfg.log.level, Level::warn)
                         : cfg.log.level);
  if (int rc = detail::check_redis(*endpoint, cfg, log); rc != kExitOk) {
    return rc == kExitRefused ? kReconcileBadConfig : kReconcileFailed;
  }

  // Declaration order is destruction order in reverse: the io_context
  // outlives everything that posts to it.
  asio::io_context ioc(1);
  auto guard = asio::make_work_guard(ioc);
  Metrics metrics;
  SystemClock clock;
  std::vector<std::shared_ptr<redis::Connection>> conns;
  auto connect = detail::connector(ioc.get_executor(), *endpoint, cfg, log, conns);
  auto reader = connect("isync-reconcile-cli");
  auto intacct =
      detail::make_intacct(ioc.get_executor(), connect("isync-intacct"), cfg, metrics, clock, log);
  auto reconciler = std::make_unique<reconcile::Reconciler>(
      ioc.get_executor(), connect("isync-reconcile"), intacct.hub, detail::reconcile_plans(cfg),
      detail::reconcile_options(cfg), detail::mirror_options(cfg), detail::payment_options(cfg),
      metrics, clock, log);
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    err << "\nintacct-sync: stopping the runs (they report \"failed: stopped\")\n";
    reconciler->stop();
  });
  std::thread io([&ioc] { ioc.run(); });

  const auto redis_limit = std::chrono::milliseconds(2000) + 2 * cfg.redis.command_timeout;
  const auto connected_by = std::chrono::steady_clock::now() + redis_limit;
  while (std::chrono::steady_clock::now() < connected_by &&
         !std::all_of(conns.begin(), conns.end(), [](const auto& c) { return c->connected(); })) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  Runs runs;
  for (const auto& t : *tenants) runs.runs.push_back({t, std::nullopt, std::nullopt});
  asio::post(ioc, [&] {
    for (std::size_t i = 0; i < runs.runs.size(); ++i) {
      reconcile::RunRequest request;
      request.tenant = runs.runs[i].tenant;
      request.objects = *objects;
      request.dry_run = args.dry_run;
      request.allow_mass_delete = args.allow_mass_delete;
      request.trigger = "cli";
      reconciler->start(
          std::move(request),
          [&runs, i](reconcile::StartResult s) {
            std::lock_guard lock(runs.mu);
            runs.runs[i].started = std::move(s);
            runs.cv.notify_all();
          },
          [&runs, i](std::string report) {
            std::lock_guard lock(runs.mu);
            runs.runs[i].report = std::move(report);
            runs.cv.notify_all();
          });
    }
  });

  int code = kReconcileSucceeded;
  {
    // A start answers within a few Redis round trips, or says unavailable.
    std::unique_lock lock(runs.mu);
    runs.cv.wait_for(lock, 4 * redis_limit, [&] {
      return std::all_of(runs.runs.begin(), runs.runs.end(),
                         [](const TenantRun& r) { return r.started.has_value(); });
    });
    for (auto& r : runs.runs) {
      if (!r.started) {
        err << "intacct-sync: tenant " << r.tenant << ": the run did not start within "
            << (4 * redis_limit).count() << " ms (Redis at " << cfg.redis.display_url
            << " unreachable?)\n";
        code = std::max(code, kReconcileFailed);
      } else if (r.started->error) {
        err << "intacct-sync: tenant " << r.tenant << ": " << r.started->error->message;
        if (!r.started->run_id.empty()) err << " (run " << r.started->run_id << ")";
        err << "\n";
        code = std::max(code, code_of_refusal(*r.started->error));
      } else if (!args.json) {
        out << "tenant " << r.tenant << ": reconcile run " << r.started->run_id << " started"
            << (args.dry_run ? " (dry run)" : "") << "\n";
      }
    }
  }
  out.flush();

  detail::Progress progress;
  std::size_t drawn = 0;
  auto last_plain = std::chrono::steady_clock::now();
  while (true) {
    std::vector<std::pair<std::string, std::string>> running;
    {
      std::unique_lock lock(runs.mu);
      auto going = [&] {
        running.clear();
        for (const auto& r : runs.runs) {
          if (r.started && !r.started->error && !r.report) {
            running.emplace_back(r.tenant, r.started->run_id);
          }
        }
        return running.empty();
      };
      if (runs.cv.wait_for(lock, std::chrono::seconds(1), going)) break;
    }
    const auto now = std::chrono::steady_clock::now();
    if (!terminal && now - last_plain < kPlainEvery) continue;
    last_plain = now;
    std::vector<std::string> lines;
    for (const auto& [tenant, report] :
         live_reports(*reader, running, cfg.redis.command_timeout + std::chrono::seconds(1))) {
      for (auto& l : progress.lines(tenant, report, clock.now_ms())) lines.push_back(std::move(l));
    }
    if (terminal) {
      // Back to the first line drawn last time, then redraw and clear the rest.
      if (drawn > 0) out << "\x1b[" << drawn << "F";
      for (const auto& l : lines) out << "\x1b[2K" << l << "\n";
      out << "\x1b[J";
      drawn = lines.size();
    } else {
      for (const auto& l : lines) out << l << "\n";
    }
    out.flush();
  }

  for (const auto& r : runs.runs) {
    if (!r.report) continue;
    code = std::max(code, code_of_report(*r.report));
    if (args.json) {
      out << *r.report << "\n";
    } else {
      auto text = reconcile::report_text(*r.report);
      out << (text ? *text : *r.report + "\n");
    }
  }
  out.flush();

  // Shutdown: nothing runs any more; let the last callbacks finish, then stop.
  asio::post(ioc, [&] {
    signals.cancel();
    reconciler->stop();
    if (intacct.hub) intacct.hub->shutdown();
    if (intacct.transport) intacct.transport->shutdown();
    for (auto& c : conns) c->close();
    guard.reset();
  });
  auto joined = std::async(std::launch::async, [&io] { io.join(); });
  if (joined.wait_for(std::chrono::seconds(10)) != std::future_status::ready) ioc.stop();
  joined.wait();
  reconciler.reset();
  return code;
}

}  // namespace isync::app
