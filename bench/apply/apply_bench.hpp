// bench-apply's options and per-run figures, and how they are printed
// (report.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace isync::bench::apply {

struct Options {
  std::string binary, workdir = "var/bench-apply";
  std::uint64_t events = 100'000;
  int workers = 4;
  int apply_batch = 64;
  int connections = 32;
  int runs = 1;
  bool smoke = false;
  bool e2e = false;
  double e2e_rate = 5000;
  int e2e_seconds = 60;
  std::string command_line;
};

struct RunFigures {
  double xadd_rate = 0;           // pipelined XADD, entries/s
  double floor_rate = 0;          // XACK+XDEL script calls/s
  double floor_cpu_us = 0;        // Redis CPU per floor call
  double fill_rate = 0;           // accepts/s while queueing (for information)
  double apply_rate = 0;          // events/s drained
  double apply_cpu_us = 0;        // Redis CPU per event applied
  double service_cpu_us = 0;      // the worker service's CPU per event applied
  double calls_per_event = 0;     // EVALSHA calls per event applied
  std::uint64_t unavailable = 0;  // 503 answers while queueing (each sent again)
  double p50_ms = 0, p99_ms = 0;  // accept to mirror
  double rss_mib = 0;             // the worker service's peak RSS
  double queued_bytes = 0;        // Redis memory per queued event
  double record_bytes = 0;        // Redis memory per mirrored record
  double slowest_ms = 0;          // longest Redis command during the drain
  double over_2ms = 0;            // commands over 2 ms during the drain
  // The same records updated (every field named, one changed), for information.
  double update_rate = 0, update_cpu_us = 0;
  double apply_ratio() const { return xadd_rate > 0 ? apply_rate / xadd_rate : 0; }
  double cpu_ratio() const { return floor_cpu_us > 0 ? apply_cpu_us / floor_cpu_us : 0; }
};

// One run's figures on one line.
void print_run(int i, const RunFigures& f);

// Median, min and max of each figure over the runs; with `smoke` false, the
// two ratios against their goals.
void print_summary(const std::vector<RunFigures>& runs, bool smoke);

}  // namespace isync::bench::apply
