// bench-reconcile's parts: the options, what one reconcile run cost (from its
// report and the processes' counters), and the Bench that starts runs through
// the admin API and drifts the sandbox company behind the service's back
// (runs.cpp, drift.cpp), and the report lines (report.cpp). The driver
// thread's only; every wait has a deadline.
#pragma once

#include <rapidjson/document.h>
#include <sys/types.h>

#include <boost/beast/http/verb.hpp>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "bench/common/http_client.hpp"

namespace isync::bench::reconcile {

struct Options {
  std::string service_binary, sandbox_binary, workdir = "var/bench-reconcile";
  int customers = 100000, invoices = 900000;
  double drift = 0.01;
  std::uint64_t seed = 1;
  int concurrency = 4;
  int latency_ms = 300;
  int repeat = 3;  // drifted runs
  bool smoke = false, no_latency_run = false;
  int run_timeout_s = 3600;
};

// What one run cost, from its report.
struct RunFigures {
  std::string run_id, state, failure;
  double wall_s = 0, report_s = 0;
  std::uint64_t peak_rss_kb = 0;  // KiB
  std::int64_t listed = 0, list_calls = 0, read_calls = 0, payment_calls = 0, api_calls = 0;
  std::int64_t missing = 0, stale = 0, gone = 0, created = 0, updated = 0, tombstoned = 0;
  std::int64_t bound = 0;
  std::int64_t sandbox_queries = 0, sandbox_reads = 0;     // as the sandbox counted them
  double cpu_service = 0, cpu_sandbox = 0, cpu_redis = 0;  // CPU seconds during the run
  std::string per_object;
};

class Bench {
 public:
  Bench(const Options& o, std::uint16_t admin_port, std::string admin_token,
        std::uint16_t control_port, pid_t service_pid, pid_t sandbox_pid, pid_t redis_pid)
      : sandbox_pid_(sandbox_pid),
        redis_pid_(redis_pid),
        o_(o),
        admin_(admin_port),
        admin_token_(std::move(admin_token)),
        control_(control_port),
        service_pid_(service_pid),
        rng_(o.seed) {}

  // The report of run `id` once it ended (state not running).
  rapidjson::Document wait_report(const std::string& id);

  std::map<std::string, std::int64_t> sandbox_calls();

  // Starts a run, retrying while the mirror's index is being built (a new
  // service back-fills it first); a run already running is taken as it.
  std::string start_run();

  // Starts a run through the admin API and waits for its report.
  RunFigures run();

  // What a run's report says, with the documented bound of its API calls.
  static RunFigures figures(const rapidjson::Document& d);

  // 1 % drift behind the service's back: silent writes (no smart event).
  struct Drift {
    std::int64_t added = 0, changed = 0, deleted = 0, refused = 0;
  };
  Drift drift(const std::string& tag);

 private:
  bool write(boost::beast::http::verb method, const std::string& target, const std::string& body);

  pid_t sandbox_pid_, redis_pid_;
  const Options& o_;
  HttpClient admin_;
  std::string admin_token_;
  HttpClient control_;
  pid_t service_pid_;
  std::mt19937_64 rng_;
};

// The lines of one run.
void print_run(const char* label, const RunFigures& f);

// Median, min and max over the drifted runs, and (unless --smoke) whether the
// goals were met.
void print_drifted(const Options& o, const std::vector<RunFigures>& drifted);

}  // namespace isync::bench::reconcile
