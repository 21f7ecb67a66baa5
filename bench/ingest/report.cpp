#include "bench/ingest/report.hpp"

#include <cmath>
#include <cstdio>
#include <functional>

#include "bench/common/stats.hpp"

namespace isync::bench::ingest {

namespace {

double get(const Figures& f, const std::string& key) {
  auto it = f.find(key);
  return it == f.end() ? std::nan("") : it->second;
}

void ratio(Figures& f, const std::string& name, const std::string& num, const std::string& den) {
  double n = get(f, num), d = get(f, den);
  if (!std::isnan(n) && !std::isnan(d) && d > 0) f[name] = n / d;
}

std::string number(double v, const char* unit) {
  if (std::isnan(v)) return "-";
  char buf[64];
  std::string u = unit;
  if (u == "/s") {
    auto n = static_cast<long long>(std::llround(v));
    std::string digits = std::to_string(n), out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
      if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
      out += digits[i];
    }
    return out + "/s";
  }
  if (u == "x") {
    std::snprintf(buf, sizeof buf, "%.2f", v);
  } else if (u == "B") {
    std::snprintf(buf, sizeof buf, "%.0f B", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f %s", v, unit);
  }
  return buf;
}

struct Row {
  const char* label;
  const char* key;
  const char* unit;                       // "/s", "ms", "us", "MiB", "B", "s", "x"
  const char* goal = nullptr;             // shown when set
  std::function<bool(double)> pass = {};  // PASS/MISS on the median when set
};

void print_rows(const std::vector<Figures>& runs, const std::vector<Row>& rows, bool smoke) {
  for (const auto& row : rows) {
    std::vector<double> values;
    for (const auto& f : runs) {
      double v = get(f, row.key);
      if (!std::isnan(v)) values.push_back(v);
    }
    if (values.empty()) {
      std::printf("  %-58s %14s\n", row.label, "not measured");
      continue;
    }
    auto s = spread(values);
    std::string range = values.size() > 1
                            ? "[" + number(s.min, row.unit) + " .. " + number(s.max, row.unit) + "]"
                            : "";
    std::string verdict;
    if (row.goal) {
      verdict = std::string("goal ") + row.goal;
      if (!smoke && row.pass) verdict += row.pass(s.median) ? "  PASS" : "  MISS";
    }
    std::printf("  %-58s %14s %-28s %s\n", row.label, number(s.median, row.unit).c_str(),
                range.c_str(), verdict.c_str());
  }
}

}  // namespace

void add_ratios(Figures& f) {
  ratio(f, "ratio.events_accept_pipelined", "events.peak", "floor.accept_c1_p32.rate");
  ratio(f, "ratio.events_accept_unpipelined", "events.peak", "floor.accept_c32_p1.rate");
  ratio(f, "ratio.noop_beast", "noop.peak", "beast.peak");
  ratio(f, "ratio.workers_listener", "workers.peak", "events.peak");
  ratio(f, "ratio.node_events", "node.peak", "events.peak");
  ratio(f, "ratio.redis_cpu_events_floor", "events.redis_cpu_us", "floor.accept_c32_p1.cpu_us");
}

void print_report(const std::vector<Figures>& runs, bool smoke) {
  std::printf("\nfigures (%s):\n", runs.size() > 1 ? "median [min .. max] of the runs" : "one run");
  print_rows(
      runs,
      {
          {"intacct-sync events, listener only: peak", "events.peak", "/s"},
          {"  p50 at the peak", "events.p50_peak", "ms"},
          {"  p99 at the peak", "events.p99_peak", "ms"},
          {"  p99 at half the peak", "events.p99_half", "ms"},
          {"  Redis CPU per event at the peak", "events.redis_cpu_us", "us"},
          {"  Redis CPU at the peak, share of one core", "events.redis_share", "x"},
          {"  Redis memory per queued event (entry + dedup key)", "events.redis_bytes", "B"},
          {"  service peak RSS (VmHWM) after its peak", "events.vmhwm_mib", "MiB", "<= 64 MiB",
           [](double v) { return v <= 64; }},
          {"intacct-sync no-op route: peak", "noop.peak", "/s"},
          {"intacct-sync events, 4 workers: peak (backlog <= 1 s)", "workers.peak", "/s"},
          {"  backlog at that peak, in seconds of traffic", "workers.backlog_s", "s", "< 1 s",
           [](double v) { return v < 1; }},
          {"  p99 at half the peak", "workers.p99_half", "ms"},
          {"  Redis CPU per event at the peak (its accept and apply)", "workers.redis_cpu_us",
           "us"},
          {"  Redis CPU at the peak, share of one core", "workers.redis_share", "x"},
          {"  service peak RSS (VmHWM)", "workers.vmhwm_mib", "MiB"},
          {"beast-noop: peak", "beast.peak", "/s"},
          {"node peer (Fastify + ioredis, information only): peak", "node.peak", "/s"},
          {"  p99 at half the peak", "node.p99_half", "ms"},
          {"  Redis CPU per event at the peak", "node.redis_cpu_us", "us"},
          {"Redis floor: accept EVALSHA -c 32 -P 1", "floor.accept_c32_p1.rate", "/s"},
          {"  Redis CPU per event", "floor.accept_c32_p1.cpu_us", "us"},
          {"  Redis memory per queued event (entry + dedup key)", "floor.accept_c32_p1.bytes", "B"},
          {"Redis floor: accept EVALSHA -c 1 -P 32", "floor.accept_c1_p32.rate", "/s"},
          {"  Redis CPU per event", "floor.accept_c1_p32.cpu_us", "us"},
          {"Redis floor: accept EVALSHA -c 32 -P 16 (information)", "floor.accept_c32_p16.rate",
           "/s"},
          {"  Redis CPU per event", "floor.accept_c32_p16.cpu_us", "us"},
          {"Redis floor: XADD -c 32 -P 16 (envelope-sized)", "floor.xadd_c32_p16.rate", "/s"},
          {"  Redis CPU per event", "floor.xadd_c32_p16.cpu_us", "us"},
          {"Redis floor: XREADGROUP+XACK+XDEL script -c 32 -P 1", "floor.xackdel_c32_p1.rate",
           "/s"},
          {"  Redis CPU per event", "floor.xackdel_c32_p1.cpu_us", "us"},
      },
      smoke);
  std::printf("\nratios (each run's ratio; median [min .. max]):\n");
  print_rows(
      runs,
      {
          {"durable ingest / accept floor (-c 1 -P 32)", "ratio.events_accept_pipelined", "x",
           ">= 0.5", [](double v) { return v >= 0.5; }},
          {"durable ingest / accept floor (-c 32 -P 1)", "ratio.events_accept_unpipelined", "x"},
          {"no-op route / beast-noop", "ratio.noop_beast", "x", ">= 0.6",
           [](double v) { return v >= 0.6; }},
          {"p99 at half the peak, listener only", "events.p99_half", "ms", "<= 5 ms",
           [](double v) { return v <= 5; }},
          {"4-worker ingest / listener-only ingest", "ratio.workers_listener", "x", ">= 0.5",
           [](double v) { return v >= 0.5; }},
          {"  backlog at the 4-worker peak", "workers.backlog_s", "s", "< 1 s",
           [](double v) { return v < 1; }},
          {"Redis CPU per event: ingest / accept floor (-c 32 -P 1)",
           "ratio.redis_cpu_events_floor", "x"},
          {"node peer / intacct-sync (information only)", "ratio.node_events", "x"},
      },
      smoke);
}

}  // namespace isync::bench::ingest
