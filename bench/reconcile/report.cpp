#include <algorithm>
#include <cstdio>

#include "bench/reconcile/reconcile_bench.hpp"

namespace isync::bench::reconcile {

void print_run(const char* label, const RunFigures& f) {
  std::printf("%s: %s%s%s\n", label, f.state.c_str(), f.failure.empty() ? "" : ": ",
              f.failure.c_str());
  std::printf("  wall time            %.1f s (report: %.1f s)\n", f.wall_s, f.report_s);
  std::printf("  service peak RSS     %.0f MiB (VmHWM of serve, reset before the run)\n",
              static_cast<double>(f.peak_rss_kb) / 1024);
  std::printf(
      "  API calls            %lld (listing %lld, reads %lld, payments %lld); bound %lld; the "
      "sandbox counted %lld query + %lld read calls of the service meanwhile\n",
      static_cast<long long>(f.api_calls), static_cast<long long>(f.list_calls),
      static_cast<long long>(f.read_calls), static_cast<long long>(f.payment_calls),
      static_cast<long long>(f.bound), static_cast<long long>(f.sandbox_queries),
      static_cast<long long>(f.sandbox_reads));
  std::printf("  CPU during the run   service %.1f s, sandbox %.1f s, redis-server %.1f s\n",
              f.cpu_service, f.cpu_sandbox, f.cpu_redis);
  std::printf("  records listed       %lld (%.0f/s)\n", static_cast<long long>(f.listed),
              static_cast<double>(f.listed) / std::max(f.wall_s, 1e-9));
  std::printf(
      "  drift found          missing %lld, stale %lld, gone %lld; created %lld, updated %lld, "
      "tombstoned %lld\n",
      static_cast<long long>(f.missing), static_cast<long long>(f.stale),
      static_cast<long long>(f.gone), static_cast<long long>(f.created),
      static_cast<long long>(f.updated), static_cast<long long>(f.tombstoned));
  std::printf("%s", f.per_object.c_str());
  std::fflush(stdout);
}

void print_drifted(const Options& o, const std::vector<RunFigures>& drifted) {
  // Median, min and max over the drifted runs.
  const auto stat = [&](const char* name, const char* unit, auto get) {
    std::vector<double> v;
    for (const auto& f : drifted) v.push_back(get(f));
    std::sort(v.begin(), v.end());
    std::printf("  %-22s median %.1f%s (min %.1f, max %.1f)\n", name, v[v.size() / 2], unit,
                v.front(), v.back());
  };
  std::printf("\nover the %d drifted runs:\n", o.repeat);
  stat("wall time", " s", [](const RunFigures& f) { return f.wall_s; });
  stat("service peak RSS", " MiB",
       [](const RunFigures& f) { return static_cast<double>(f.peak_rss_kb) / 1024; });
  stat("records listed/s", "",
       [](const RunFigures& f) { return static_cast<double>(f.listed) / f.wall_s; });
  stat("API calls", "", [](const RunFigures& f) { return static_cast<double>(f.api_calls); });
  stat("  their bound", "", [](const RunFigures& f) { return static_cast<double>(f.bound); });
  stat("CPU s of the service", "", [](const RunFigures& f) { return f.cpu_service; });
  stat("CPU s of the sandbox", "", [](const RunFigures& f) { return f.cpu_sandbox; });
  stat("CPU s of redis-server", "", [](const RunFigures& f) { return f.cpu_redis; });
  if (!o.smoke) {
    std::vector<double> walls;
    std::uint64_t rss = 0;
    for (const auto& f : drifted) {
      walls.push_back(f.wall_s);
      rss = std::max(rss, f.peak_rss_kb);
    }
    std::sort(walls.begin(), walls.end());
    const bool goals = walls[walls.size() / 2] <= 30 && rss <= 256 * 1024;
    std::printf("goals (median wall time <= 30 s, peak RSS <= 256 MiB): %s\n",
                goals ? "met" : "NOT MET");
  }
}

}  // namespace isync::bench::reconcile
