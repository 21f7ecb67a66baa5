#include <cstdio>

#include "bench/apply/apply_bench.hpp"
#include "bench/common/stats.hpp"

namespace isync::bench::apply {

void print_run(int i, const RunFigures& f) {
  std::printf(
      "run %d: apply %.0f events/s (%.3f EVALSHA/event), Redis CPU %.1f µs/event, service CPU "
      "%.1f µs/event; "
      "pipelined XADD %.0f/s; "
      "XACK+XDEL floor %.0f/s, %.1f µs/entry; accept→mirror p50 %.1f ms p99 %.1f ms; "
      "peak RSS %.1f MiB; %.0f B/queued event, %.0f B/mirrored record; longest Redis "
      "command %.2f ms (%g over 2 ms); queueing %.0f accepts/s (%llu answers 503 sent again); "
      "updates of the same records %.0f events/s, Redis CPU %.1f µs/event\n",
      i, f.apply_rate, f.calls_per_event, f.apply_cpu_us, f.service_cpu_us, f.xadd_rate,
      f.floor_rate, f.floor_cpu_us, f.p50_ms, f.p99_ms, f.rss_mib, f.queued_bytes, f.record_bytes,
      f.slowest_ms, f.over_2ms, f.fill_rate, static_cast<unsigned long long>(f.unavailable),
      f.update_rate, f.update_cpu_us);
  std::fflush(stdout);
}

void print_summary(const std::vector<RunFigures>& runs, bool smoke) {
  auto row = [&](const char* name, const char* unit, auto get) {
    std::vector<double> v;
    for (const auto& f : runs) v.push_back(get(f));
    auto s = spread(v);
    std::printf("%-44s %12.3g %12.3g %12.3g  %s\n", name, s.median, s.min, s.max, unit);
    return s;
  };
  std::printf("\n%-44s %12s %12s %12s\n", "figure", "median", "min", "max");
  row("apply", "events/s", [](auto& f) { return f.apply_rate; });
  row("Redis CPU per event applied", "µs", [](auto& f) { return f.apply_cpu_us; });
  row("service CPU per event applied (start included)", "µs",
      [](auto& f) { return f.service_cpu_us; });
  row("pipelined XADD (-c 32 -P 16)", "entries/s", [](auto& f) { return f.xadd_rate; });
  row("XACK+XDEL floor (-c 32 -P 1)", "calls/s", [](auto& f) { return f.floor_rate; });
  row("XACK+XDEL floor Redis CPU", "µs/entry", [](auto& f) { return f.floor_cpu_us; });
  row("accept→mirror p50 (queued, then drained)", "ms", [](auto& f) { return f.p50_ms; });
  row("accept→mirror p99 (queued, then drained)", "ms", [](auto& f) { return f.p99_ms; });
  row("service peak RSS", "MiB", [](auto& f) { return f.rss_mib; });
  row("Redis memory per queued event", "bytes", [](auto& f) { return f.queued_bytes; });
  row("Redis memory per mirrored record", "bytes", [](auto& f) { return f.record_bytes; });
  row("longest Redis command while draining", "ms", [](auto& f) { return f.slowest_ms; });
  row("updates of the same records (information)", "events/s",
      [](auto& f) { return f.update_rate; });
  row("Redis CPU per update applied (information)", "µs", [](auto& f) { return f.update_cpu_us; });
  auto a = row("ratio apply / pipelined XADD", "", [](auto& f) { return f.apply_ratio(); });
  auto c = row("ratio CPU per event / XACK+XDEL floor", "", [](auto& f) { return f.cpu_ratio(); });
  if (!smoke) {
    std::printf("\napply ≥ 0.1 × pipelined XADD: %.3f  %s\n", a.median,
                a.median >= 0.1 ? "PASS" : "MISS");
    std::printf("Redis CPU per event ≤ 2 × XACK+XDEL floor: %.2f  %s\n", c.median,
                c.median <= 2.0 ? "PASS" : "MISS");
  }
}

}  // namespace isync::bench::apply
