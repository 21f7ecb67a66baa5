// bench-ingest: intacct-sync's durable ingest measured against floors and
// ceilings taken back to back in the same run, on one redis-server with the
// production's durability (AOF, appendfsync always, data on the ordinary
// disk):
//   * intacct-sync listener only (queue.workers = 0): the events route and
//     its no-op route (same server, checks and parsing, no Redis);
//   * intacct-sync with 4 workers in the process: the events route, a step
//     counting only while the backlog stays under one second of traffic;
//   * bench/peers/beast-noop, the raw Beast ceiling of the HTTP path;
//   * bench/peers/node (Fastify + ioredis), for information only;
//   * the Redis floors (bench/common/floors.hpp): the accept script from the
//     binary by EVALSHA, pipelined XADD, the XACK+XDEL script.
// Each HTTP target: the peak rate with zero non-2xx over 32 keep-alive
// connections (open loop, see load.hpp), and p50/p99 at the peak and at half
// of it. Prints the ratios of the targets with PASS/MISS (never an exit code),
// the fsync latency, the core count and the command that reproduces it.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "bench/common/floors.hpp"
#include "bench/common/process.hpp"
#include "bench/common/redis.hpp"
#include "bench/ingest/load.hpp"
#include "bench/ingest/report.hpp"
#include "bench/ingest/targets.hpp"

namespace bench = isync::bench;
using namespace isync::bench::ingest;
using namespace std::chrono_literals;

namespace {

struct Options {
  std::string binary =
#ifdef ISYNC_BINARY
      ISYNC_BINARY;
#else
      "intacct-sync";
#endif
  std::string beast_noop =
#ifdef BEAST_NOOP_BINARY
      BEAST_NOOP_BINARY;
#else
      "beast-noop";
#endif
  std::string node_peer;  // directory of server.js with node_modules; empty = skipped
  std::string workdir = "var/bench";
  std::string command;  // printed as the command that reproduces the run
  int connections = 32;
  int load_threads = 2;
  int step_ms = 3000;
  int budget_s = 90;
  std::uint64_t start_rate = 500;
  int workers = 4;
  int runs = 1;
  std::uint64_t floor_requests = 50000;
  bool smoke = false;
};

constexpr const char* kRoute = "/v1/intacct/bench/events";
constexpr const char* kNoopRoute = "/v1/noop/bench/events";

double mib(std::uint64_t kib) { return static_cast<double>(kib) / 1024.0; }

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

class Runner {
 public:
  Runner(const Options& o, bench::BenchRedis& redis) : o_(o), redis_(redis) {}

  Figures run_once(int index) {
    Figures f;
    std::printf("\n== run %d of %d (load average %s)\n", index, o_.runs, load_average().c_str());
    listener_only(f);
    with_workers(f);
    beast(f);
    node(f);
    floors(f);
    add_ratios(f);
    return f;
  }

  const std::vector<std::string>& floor_commands() const { return floor_commands_; }
  bool smoke_broken() const { return smoke_broken_; }

 private:
  PeakFigures search(const std::string& name, Load& load, const StepHooks& hooks) {
    auto deadline = Clock::now() + std::chrono::seconds(o_.budget_s);
    auto p = find_peak(name, load, o_.start_rate, std::chrono::milliseconds(o_.step_ms), deadline,
                       hooks, o_.smoke);
    for (const auto* s : {&p.peak, &p.half})
      if (o_.smoke && (s->ok == 0 || s->non2xx > 0)) smoke_broken_ = true;
    return p;
  }

  // Redis CPU per accepted event and memory per queued event over a step
  // that started from an emptied Redis.
  StepHooks redis_hooks(const std::string& stream) {
    return {[this] {
              redis_.reset();
              start_cpu_window();
              mem0_ = redis_.used_memory();
            },
            [this, stream](StepResult& r) {
              end_cpu_window(r);
              auto queued = redis_.xlen(stream);
              if (r.ok > 0 && queued > 0)
                r.redis_bytes_per_event =
                    static_cast<double>(redis_.used_memory() - mem0_) / static_cast<double>(queued);
            }};
  }

  // Redis CPU over a step: per accepted event (with workers, its accept and
  // its apply) and as a share of one core (Redis runs commands on one thread,
  // so a share near 1 means Redis is the bound).
  void start_cpu_window() {
    cpu0_ = redis_.cpu_seconds();
    t0_ = Clock::now();
  }
  void end_cpu_window(StepResult& r) {
    const double cpu = redis_.cpu_seconds() - cpu0_;
    const double wall = std::chrono::duration<double>(Clock::now() - t0_).count();
    if (r.ok > 0) r.redis_cpu_us_per_event = cpu * 1e6 / static_cast<double>(r.ok);
    if (wall > 0) r.redis_cpu_share = cpu / wall;
  }

  void listener_only(Figures& f) {
    auto t = start_service(o_.binary, o_.workdir, redis_.port(), 0);
    // One real accept gives the floors their shape.
    redis_.reset();
    if (!post_one(t.port, kRoute, ++record_))
      throw std::runtime_error("intacct-sync did not accept an event; see " + o_.workdir +
                               "/service-w0.log");
    shape_ = bench::capture_accept_shape(redis_, bench::script_text(o_.binary, "accept"));
    std::printf("\n%s, events (%d connections, %d ms steps, open loop):\n", t.name.c_str(),
                o_.connections, o_.step_ms);
    Load events(t.port, kRoute, o_.connections, record_, o_.load_threads);
    auto ev = search("events", events, redis_hooks(shape_.stream));
    if (ev.found()) {
      f["events.peak"] = static_cast<double>(ev.peak.target_rate);
      f["events.p50_peak"] = ev.peak.p50_ms;
      f["events.p99_peak"] = ev.peak.p99_ms;
      f["events.p99_half"] = ev.half.p99_ms;
      f["events.redis_cpu_us"] = ev.peak.redis_cpu_us_per_event;
      f["events.redis_share"] = ev.peak.redis_cpu_share;
      f["events.redis_bytes"] = ev.peak.redis_bytes_per_event;
    }
    f["events.vmhwm_mib"] = mib(bench::peak_rss_kib(t.child->pid()));
    std::printf("\n%s, no-op route:\n", t.name.c_str());
    Load noop(t.port, kNoopRoute, o_.connections, record_, o_.load_threads);
    auto np = search("no-op", noop, {});
    if (np.found()) f["noop.peak"] = static_cast<double>(np.peak.target_rate);
  }

  void with_workers(Figures& f) {
    if (o_.workers <= 0) return;
    redis_.reset();
    auto t = start_service(o_.binary, o_.workdir, redis_.port(), o_.workers);
    std::printf("\n%s, events (a step counts while the backlog stays under 1 s of traffic):\n",
                t.name.c_str());
    Load events(t.port, kRoute, o_.connections, record_, o_.load_threads);
    const auto stream = shape_.stream;
    StepHooks hooks{[this, stream] {
                      // The workers' consumer group stays: drain instead of FLUSHALL.
                      bench::wait_until([&] { return unapplied(stream) == 0; }, 120s);
                      redis_.compact();
                      start_cpu_window();
                    },
                    [this, stream](StepResult& r) {
                      end_cpu_window(r);
                      auto left = static_cast<double>(unapplied(stream));
                      r.backlog_s = left / static_cast<double>(r.target_rate);
                      if (!o_.smoke && r.backlog_s >= 1.0) r.veto = "backlog over 1 s of traffic";
                    }};
    auto ev = search("events", events, hooks);
    bench::wait_until([&] { return unapplied(stream) == 0; }, 60s);
    const auto prefix = stream.substr(0, stream.rfind(':') + 1);
    std::printf("  after the search: %lld in the stream, %lld retrying, %lld parked, %lld dead\n",
                redis_.xlen(stream), zcard(prefix + "retry"), zcard(prefix + "parked"),
                zcard(prefix + "dead"));
    if (ev.found()) {
      f["workers.peak"] = static_cast<double>(ev.peak.target_rate);
      f["workers.backlog_s"] = ev.peak.backlog_s;
      f["workers.p99_half"] = ev.half.p99_ms;
      f["workers.redis_cpu_us"] = ev.peak.redis_cpu_us_per_event;
      f["workers.redis_share"] = ev.peak.redis_cpu_share;
    }
    f["workers.vmhwm_mib"] = mib(bench::peak_rss_kib(t.child->pid()));
  }

  long long zcard(const std::string& key) { return redis_.client().cmd({"ZCARD", key}).integer; }

  // Accepted and not applied yet: in the stream (undelivered or pending),
  // retrying or parked.
  long long unapplied(const std::string& stream) {
    const auto prefix = stream.substr(0, stream.rfind(':') + 1);
    return redis_.xlen(stream) + zcard(prefix + "retry") + zcard(prefix + "parked");
  }

  void beast(Figures& f) {
    auto t = start_beast_noop(o_.beast_noop, o_.workdir);
    std::printf("\n%s:\n", t.name.c_str());
    Load load(t.port, kRoute, o_.connections, record_, o_.load_threads);
    auto p = search("beast-noop", load, {});
    if (p.found()) f["beast.peak"] = static_cast<double>(p.peak.target_rate);
  }

  void node(Figures& f) {
    if (o_.node_peer.empty()) {
      std::printf("\nnode peer: skipped (no --node-peer)\n");
      return;
    }
    redis_.reset();
    auto t = start_node_peer(o_.node_peer, o_.workdir, redis_.port());
    std::printf("\n%s (information only):\n", t.name.c_str());
    Load load(t.port, kRoute, o_.connections, record_, o_.load_threads);
    auto p = search("node", load, redis_hooks(shape_.stream));
    if (p.found()) {
      f["node.peak"] = static_cast<double>(p.peak.target_rate);
      f["node.p99_half"] = p.half.p99_ms;
      f["node.redis_cpu_us"] = p.peak.redis_cpu_us_per_event;
    }
  }

  void record(Figures& f, const std::string& key, const bench::FloorResult& r) {
    f[key + ".rate"] = r.rate;
    f[key + ".cpu_us"] = r.redis_cpu_us_per_event;
    if (r.memory_bytes_per_event > 0) f[key + ".bytes"] = r.memory_bytes_per_event;
    std::printf("  %-44s %10.0f/s  p50 %6.2f ms  p99 %6.2f ms  Redis CPU %6.2f us/event\n",
                r.name.c_str(), r.rate, r.p50_ms, r.p99_ms, r.redis_cpu_us_per_event);
    std::fflush(stdout);
    floor_commands_.push_back(r.command);
  }

  void floors(Figures& f) {
    std::printf("\nRedis floors (redis-benchmark -n %llu, same redis-server):\n",
                static_cast<unsigned long long>(o_.floor_requests));
    floor_commands_.clear();
    const auto n = o_.floor_requests;
    record(f, "floor.accept_c32_p1", bench::accept_floor(redis_, shape_, {32, 1, n}));
    record(f, "floor.accept_c1_p32", bench::accept_floor(redis_, shape_, {1, 32, n}));
    record(f, "floor.accept_c32_p16", bench::accept_floor(redis_, shape_, {32, 16, n}));
    record(f, "floor.xadd_c32_p16",
           bench::xadd_floor(redis_, shape_.stream, shape_.envelope, {32, 16, n}));
    record(f, "floor.xackdel_c32_p1",
           bench::xack_xdel_floor(redis_, shape_.stream, shape_.envelope, {32, 1, n}));
  }

  const Options& o_;
  bench::BenchRedis& redis_;
  bench::AcceptShape shape_;
  std::atomic<std::uint64_t> record_{0};
  double cpu0_ = 0;
  Clock::time_point t0_;
  std::uint64_t mem0_ = 0;
  std::vector<std::string> floor_commands_;
  bool smoke_broken_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"bench-ingest: durable ingest against floors and ceilings measured in the same run"};
  Options o;
  cli.add_option("--binary", o.binary, "the intacct-sync executable");
  cli.add_option("--beast-noop", o.beast_noop, "the beast-noop executable");
  cli.add_option("--node-peer", o.node_peer,
                 "directory of bench/peers/node with its node_modules (empty: skipped)");
  cli.add_option("--workdir", o.workdir, "Redis data and logs (on the disk under test, not tmpfs)");
  cli.add_option("--command", o.command, "the command printed as the one that reproduces this");
  cli.add_option("--connections", o.connections, "keep-alive connections")
      ->check(CLI::Range(1, 1024));
  cli.add_option("--load-threads", o.load_threads,
                 "threads of the load generator, the connections split among them")
      ->check(CLI::Range(1, 64));
  cli.add_option("--step-ms", o.step_ms, "length of each rate step")->check(CLI::Range(200, 60000));
  cli.add_option("--budget-seconds", o.budget_s, "stop each target's search after this long")
      ->check(CLI::Range(5, 3600));
  cli.add_option("--start-rate", o.start_rate, "first rate tried (requests/s)")
      ->check(CLI::Range(1, 100000));
  cli.add_option("--workers", o.workers,
                 "queue.workers of the second intacct-sync process (0: not measured)")
      ->check(CLI::Range(0, 64));
  cli.add_option("--runs", o.runs, "runs; figures are the median with min and max")
      ->check(CLI::Range(1, 20));
  cli.add_option("--floor-requests", o.floor_requests, "redis-benchmark -n of each floor")
      ->check(CLI::Range(100, 10000000));
  cli.add_flag("--smoke", o.smoke,
               "at most ~30 s: one short step per target and half of it, small floors, no "
               "targets; fails only when something does not work");
  CLI11_PARSE(cli, argc, argv);
  // Line by line even into a file or a pipe (CI logs), in order with stderr.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (o.command.empty()) {
    o.command = bench::shell_line(std::vector<std::string>(argv, argv + argc));
  }
  if (o.smoke) {
    o.step_ms = 500;
    o.start_rate = 200;
    o.floor_requests = 2000;
    o.runs = 1;
  }

  try {
    std::filesystem::create_directories(o.workdir);
    o.workdir = std::filesystem::canonical(o.workdir).string();
    const std::string data = o.workdir + "/redis";
    std::filesystem::create_directories(data);
    auto fsync = bench::measure_fsync(data);
    const unsigned cores = std::thread::hardware_concurrency();
    std::printf(
        "%u cores; fsync latency of %s (4 KiB write + fdatasync, 200 times): p50 %.2f ms, "
        "p99 %.2f ms\n",
        cores, data.c_str(), fsync.p50_ms, fsync.p99_ms);
    bench::BenchRedis redis(data);
    Runner runner(o, redis);
    std::vector<Figures> runs;
    for (int i = 1; i <= o.runs; ++i) runs.push_back(runner.run_once(i));

    print_report(runs, o.smoke);
    std::printf(
        "\nthe floors' commands (last run; the accept script loaded first with SCRIPT "
        "LOAD from `intacct-sync debug script accept`):\n");
    for (const auto& c : runner.floor_commands()) std::printf("  %s\n", c.c_str());
    std::printf(
        "\n%u cores; fsync p50 %.2f ms, p99 %.2f ms; appendfsync always; Redis data in %s\n", cores,
        fsync.p50_ms, fsync.p99_ms, data.c_str());
    std::printf("reproduce: %s\n", o.command.c_str());
    if (o.smoke && runner.smoke_broken()) {
      std::fprintf(stderr, "bench-ingest: a target answered no 2xx or some non-2xx (see above)\n");
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-ingest: %s\n", e.what());
    return 1;
  }
}
