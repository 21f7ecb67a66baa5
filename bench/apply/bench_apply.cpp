// bench-apply: how fast the service's workers drain queued snapshot events
// into the mirror, against Redis floors measured in the same run, on the
// ordinary disk with appendfsync always.
//
// Each run, on one redis-server:
//  1. Floors. Pipelined XADD of an envelope-sized value (redis-benchmark
//     -c 32 -P 16), and the XACK+XDEL floor: a script that takes its own
//     entry (XREADGROUP COUNT 1, XACK, XDEL) run by EVALSHA with -c 32 -P 1
//     over a pre-filled stream; its Redis CPU per entry.
//  2. Queue: a listener-only service (queue.workers = 0) accepts N snapshot
//     events over HTTP (the real accept path); then it stops.
//  3. Drain: a service with workers starts and applies them all. Printed:
//     events/s, Redis CPU per event (Δ used_cpu_user + used_cpu_sys / N),
//     accept-to-mirror p50/p99 (isync_event_age_at_apply_seconds), the
//     service's peak RSS, Redis memory per queued event and per mirrored
//     record, and the longest Redis command (SLOWLOG).
// With --e2e: one service (listener and workers) takes snapshot events at a
// fixed rate (default 5,000/s for 60 s) and the accept-to-mirror p99 is
// printed against 20 ms.
#include <CLI/CLI.hpp>
#include <array>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "bench/apply/apply_bench.hpp"
#include "bench/apply/support.hpp"
#include "bench/common/floors.hpp"
#include "bench/common/process.hpp"
#include "bench/common/redis.hpp"
#include "bench/common/stats.hpp"

using namespace isync::bench;
using namespace isync::bench::apply;

namespace {

class Bench {
 public:
  explicit Bench(Options o) : o_(std::move(o)) {}

  void start_redis() {
    redis_ = std::make_unique<BenchRedis>(o_.workdir + "/redis");
    // No automatic AOF rewrite (a fork in the middle of a measurement, and
    // an explicit BGREWRITEAOF would collide with it); reset() compacts.
    db().cmd({"CONFIG", "SET", "auto-aof-rewrite-percentage", "0"});
    // A fresh AOF starts with a rewrite of its own; reset() would collide with it.
    wait_until(
        [&] {
          return info("persistence", "aof_rewrite_in_progress") == 0 &&
                 info("persistence", "aof_rewrite_scheduled") == 0;
        },
        60s);
  }
  RedisClient& db() { return redis_->client(); }
  double evalsha_calls() {
    auto text = db().cmd({"INFO", "commandstats"}).str;
    auto at = text.find("cmdstat_evalsha:calls=");
    return at == std::string::npos ? 0 : std::strtod(text.c_str() + at + 22, nullptr);
  }
  double info(const std::string& section, const std::string& field) {
    return std::strtod(redis_->info_field(section, field).c_str(), nullptr);
  }

  // A value as long as a queued envelope of this benchmark.
  std::string envelope_sized_value() {
    auto r = db().cmd({"XRANGE", "isync:{bench}:events", "-", "+", "COUNT", "1"});
    std::size_t size = 600;
    if (!r.elements.empty() && r.elements[0].elements.size() == 2) {
      const auto& kv = r.elements[0].elements[1].elements;
      for (std::size_t i = 0; i + 1 < kv.size(); i += 2)
        if (kv[i].str == "e") size = kv[i + 1].str.size();
    }
    return std::string(size, 'x');
  }

  // The floors, each from an emptied Redis (bench/common/floors.hpp).
  void floors(RunFigures& f, std::size_t value_size) {
    const std::uint64_t n = o_.smoke ? 20'000 : 200'000;
    const std::string value(value_size, 'x');
    auto xadd = xadd_floor(*redis_, "bench:xadd", value, {32, 16, n});
    f.xadd_rate = xadd.rate;
    auto floor = xack_xdel_floor(*redis_, "bench:floor", value, {32, 1, n / 2});
    f.floor_rate = floor.rate;
    f.floor_cpu_us = floor.redis_cpu_us_per_event;
    floor_commands_ = {xadd.command, floor.command};
  }

  std::string write_config(int workers, std::uint16_t pub, std::uint16_t admin) {
    const std::string path = o_.workdir + "/bench-" + std::to_string(workers) + ".toml";
    std::ofstream(path) << "[server]\npublic_listen = \"127.0.0.1:" << pub
                        << "\"\nadmin_listen = \"127.0.0.1:" << admin
                        << "\"\n[redis]\nurl = \"redis://127.0.0.1:" << redis_->port()
                        << "/0\"\n[queue]\nworkers = " << workers
                        << "\n[mirror]\napply_batch = " << o_.apply_batch
                        << "\n[admin]\ntoken = \"env:BENCH_ADMIN_TOKEN\"\n[log]\nlevel = "
                           "\"warn\"\n[[tenant]]\nid = \"bench\"\n"
                           "token = \"env:BENCH_TENANT_TOKEN\"\n";
    return path;
  }

  struct Service {
    std::unique_ptr<Child> child;
    std::uint16_t pub = 0, admin = 0;
  };

  Service start_service(int workers, const std::string& name) {
    Service s;
    s.pub = free_port();
    s.admin = free_port();
    auto config = write_config(workers, s.pub, s.admin);
    s.child = std::make_unique<Child>(
        std::vector<std::string>{o_.binary, "serve", "--config", config},
        o_.workdir + "/" + name + ".log",
        std::vector<std::string>{std::string("BENCH_TENANT_TOKEN=") + kToken,
                                 std::string("BENCH_ADMIN_TOKEN=") + kAdminToken});
    if (!wait_until([&] { return !http_get(s.pub, "/healthz").empty(); }, 20s))
      throw std::runtime_error("intacct-sync did not start; see " + o_.workdir + "/" + name +
                               ".log");
    return s;
  }

  void age_figures(RunFigures& f, const Service& s) {
    auto h = parse_histogram(http_get(s.admin, "/metrics", kAdminToken),
                             "isync_event_age_at_apply_seconds");
    f.p50_ms = h.quantile(0.50) * 1000;
    f.p99_ms = h.quantile(0.99) * 1000;
  }

  // Redis memory of one mirrored record: its hash, audit list and id set,
  // averaged over a sample, plus its share of the RECORDNO index.
  double record_bytes(std::uint64_t records) {
    auto usage = [&](const std::string& key) {
      auto r = db().cmd({"MEMORY", "USAGE", key, "SAMPLES", "0"});
      return static_cast<double>(r.integer);
    };
    const std::uint64_t sample = std::min<std::uint64_t>(records, 200);
    double sum = 0;
    for (std::uint64_t i = 0; i < sample; ++i) {
      const auto n = std::to_string(first_ + i * std::max<std::uint64_t>(1, records / sample));
      sum += usage("isync:{bench}:rec:CUSTOMER:" + n) + usage("isync:{bench}:audit:CUSTOMER:" + n) +
             usage("isync:{bench}:id:CUSTOMER:C" + n);
    }
    const double index = usage("isync:{bench}:idx:CUSTOMER") + usage("isync:{bench}:idxv:CUSTOMER");
    return sample ? sum / static_cast<double>(sample) + index / static_cast<double>(records) : 0;
  }

  RunFigures run_once() {
    RunFigures f;
    redis_->reset();
    const std::uint64_t n = o_.events;
    first_ = next_record_;
    next_record_ += n;

    // Queue N events through a listener-only service.
    const double mem0 = info("memory", "used_memory");
    {
      auto listener = start_service(0, "listener");
      auto t0 = Clock::now();
      post_events(listener.pub, o_.connections, first_, n, 0, &f.unavailable);
      f.fill_rate =
          static_cast<double>(n) / std::chrono::duration<double>(Clock::now() - t0).count();
      listener.child->stop();
    }
    const auto queued = db().cmd({"XLEN", "isync:{bench}:events"}).integer;
    if (queued != static_cast<long long>(n))
      throw std::runtime_error("the stream holds " + std::to_string(queued) + " events, not " +
                               std::to_string(n));
    const double mem_queued = info("memory", "used_memory");
    f.queued_bytes = (mem_queued - mem0) / static_cast<double>(n);
    const auto value_size = envelope_sized_value().size();

    // Drain them with the workers.
    reset_slowlog();
    const double cpu0 = redis_->cpu_seconds();
    const double calls0 = evalsha_calls();
    auto workers = start_service(o_.workers, "workers");
    f.apply_rate = drain(n);
    const double cpu1 = redis_->cpu_seconds();
    f.calls_per_event = (evalsha_calls() - calls0) / static_cast<double>(n);
    f.service_cpu_us = process_cpu_seconds(workers.child->pid()) * 1e6 / static_cast<double>(n);
    f.apply_cpu_us = (cpu1 - cpu0) * 1e6 / static_cast<double>(n);
    age_figures(f, workers);
    f.rss_mib = static_cast<double>(peak_rss_kib(workers.child->pid())) / 1024.0;
    slowlog(f);
    workers.child->stop();
    const auto records = db().cmd({"HLEN", "isync:{bench}:idxv:CUSTOMER"}).integer;
    if (records != static_cast<long long>(n))
      throw std::runtime_error("the mirror holds " + std::to_string(records) + " records, not " +
                               std::to_string(n));
    f.record_bytes = record_bytes(n);

    // The same records updated: queued, then drained the same way.
    {
      auto listener = start_service(0, "listener-updates");
      post_events(listener.pub, o_.connections, first_, n, 0, &f.unavailable, 1);
      listener.child->stop();
      const double ucpu0 = redis_->cpu_seconds();
      auto updater = start_service(o_.workers, "workers-updates");
      f.update_rate = drain(n);
      f.update_cpu_us = (redis_->cpu_seconds() - ucpu0) * 1e6 / static_cast<double>(n);
      updater.child->stop();
    }

    floors(f, value_size);
    return f;
  }

  // Waits until the `n` queued events are gone from the stream; their
  // rate from the first one taken to the last.
  double drain(std::uint64_t n) {
    Clock::time_point first_seen{}, drained{};
    const auto limit = Clock::now() + std::chrono::seconds(o_.smoke ? 60 : 600);
    while (Clock::now() < limit) {
      auto len = db().cmd({"XLEN", "isync:{bench}:events"}).integer;
      auto now = Clock::now();
      if (len < static_cast<long long>(n) && first_seen == Clock::time_point{}) first_seen = now;
      if (len == 0) {
        drained = now;
        break;
      }
      std::this_thread::sleep_for(2ms);
    }
    if (drained == Clock::time_point{}) throw std::runtime_error("the queue did not drain");
    return static_cast<double>(n) / std::chrono::duration<double>(drained - first_seen).count();
  }

  // Redis commands over 1 ms are kept from here on (SLOWLOG).
  void reset_slowlog() {
    db().cmd({"CONFIG", "SET", "slowlog-log-slower-than", "1000"});
    db().cmd({"CONFIG", "SET", "slowlog-max-len", "1024"});
    db().cmd({"SLOWLOG", "RESET"});
  }
  // The longest command since reset_slowlog(), and how many took over 2 ms.
  void slowlog(RunFigures& f) {
    for (const auto& e : db().cmd({"SLOWLOG", "GET", "1024"}).elements) {
      if (e.elements.size() < 3) continue;
      const double ms = static_cast<double>(e.elements[2].integer) / 1000.0;
      f.slowest_ms = std::max(f.slowest_ms, ms);
      if (ms > 2.0) f.over_2ms += 1;
    }
  }

  // One service takes events at a fixed rate; the age histogram gives the
  // accept-to-mirror figures.
  void e2e() {
    redis_->reset();
    auto svc = start_service(o_.workers, "e2e");
    const auto total = static_cast<std::uint64_t>(o_.e2e_rate * o_.e2e_seconds);
    std::printf(
        "\nend to end: %.0f snapshot events/s for %d s (%llu events), %d connections, "
        "queue.workers = %d, mirror.apply_batch = %d\n",
        o_.e2e_rate, o_.e2e_seconds, static_cast<unsigned long long>(total), o_.connections,
        o_.workers, o_.apply_batch);
    std::fflush(stdout);
    reset_slowlog();
    const double cpu0 = redis_->cpu_seconds();
    auto t0 = Clock::now();
    std::uint64_t unavailable = 0;
    post_events(svc.pub, o_.connections, next_record_, total, o_.e2e_rate, &unavailable);
    const double sent_s = std::chrono::duration<double>(Clock::now() - t0).count();
    next_record_ += total;
    wait_until([&] { return db().cmd({"XLEN", "isync:{bench}:events"}).integer == 0; }, 120s);
    const double backlog_s = std::chrono::duration<double>(Clock::now() - t0).count() - sent_s;
    RunFigures f;
    age_figures(f, svc);
    slowlog(f);
    // Where the slow ones fall: events per age bucket above 20 ms.
    std::string slow;
    {
      auto h = parse_histogram(http_get(svc.admin, "/metrics", kAdminToken),
                               "isync_event_age_at_apply_seconds");
      double below = 0;
      for (const auto& [bound, cum] : h.buckets) {
        if (bound > 0.02 && cum > below) {
          char part[64];
          std::snprintf(part, sizeof part, " ≤%gs: %.0f", bound, cum - below);
          slow += part;
        }
        below = cum;
      }
    }
    const double cpu_us = (redis_->cpu_seconds() - cpu0) * 1e6 / static_cast<double>(total);
    std::printf(
        "  posted in %.1f s (%.0f/s achieved, %llu answers 503 sent again); drained %.2f s "
        "after the last post\n"
        "  accept→mirror p50 %.2f ms, p99 %.2f ms (goal ≤ 20 ms)%s\n"
        "  Redis CPU %.1f µs per event (accept and apply); service peak RSS %.1f MiB\n"
        "  longest Redis command %.2f ms (%.0f over 2 ms); events over 20 ms by age:%s\n",
        sent_s, static_cast<double>(total) / sent_s, static_cast<unsigned long long>(unavailable),
        backlog_s, f.p50_ms, f.p99_ms, o_.smoke ? "" : (f.p99_ms <= 20 ? "  PASS" : "  MISS"),
        cpu_us, static_cast<double>(peak_rss_kib(svc.child->pid())) / 1024.0, f.slowest_ms,
        f.over_2ms, slow.empty() ? " none" : slow.c_str());
    svc.child->stop();
  }

  void run() {
    start_redis();
    std::printf("machine: %u cores; load average at start: %s", std::thread::hardware_concurrency(),
                loadavg().c_str());
    std::printf(
        "%llu snapshot events per run, queue.workers = %d, mirror.apply_batch = %d, "
        "appendfsync always, Redis data in %s/redis\n",
        static_cast<unsigned long long>(o_.events), o_.workers, o_.apply_batch, o_.workdir.c_str());
    std::fflush(stdout);
    std::vector<RunFigures> runs;
    for (int i = 1; i <= o_.runs; ++i) {
      runs.push_back(run_once());
      print_run(i, runs.back());
    }
    print_summary(runs, o_.smoke);
    if (o_.e2e) e2e();
    std::printf("\nload average at end: %s", loadavg().c_str());
    std::printf("reproduce: %s\n", o_.command_line.c_str());
    std::printf("floors (last run): %s\n                   %s\n", floor_commands_[0].c_str(),
                floor_commands_[1].c_str());
  }

 private:
  static std::string loadavg() {
    std::ifstream in("/proc/loadavg");
    std::string a, b, c;
    in >> a >> b >> c;
    return a + " " + b + " " + c + "\n";
  }

  Options o_;
  std::unique_ptr<BenchRedis> redis_;
  std::array<std::string, 2> floor_commands_;
  std::uint64_t next_record_ = 1, first_ = 1;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"bench-apply: queued snapshot events drained into the mirror, against Redis floors"};
  Options o;
  o.binary =
#ifdef ISYNC_BINARY
      ISYNC_BINARY;
#else
      "intacct-sync";
#endif
  cli.add_option("--binary", o.binary, "the intacct-sync executable");
  cli.add_option("--workdir", o.workdir, "Redis data and logs (on the disk under test, not tmpfs)");
  cli.add_option("--events", o.events, "snapshot events queued and drained per run")
      ->check(CLI::Range(1000, 10'000'000));
  cli.add_option("--workers", o.workers, "queue.workers of the draining service")
      ->check(CLI::Range(1, 64));
  cli.add_option("--apply-batch", o.apply_batch, "mirror.apply_batch of the service")
      ->check(CLI::Range(1, 256));
  cli.add_option("--connections", o.connections, "HTTP connections posting events")
      ->check(CLI::Range(1, 256));
  cli.add_option("--runs", o.runs, "runs; figures as median, min and max")
      ->check(CLI::Range(1, 20));
  cli.add_flag("--smoke", o.smoke, "a short run (≤ 30 s) without thresholds");
  cli.add_flag("--e2e", o.e2e, "also the end-to-end run at a fixed rate");
  cli.add_option("--e2e-rate", o.e2e_rate, "events/s of the end-to-end run")
      ->check(CLI::Range(10.0, 100000.0));
  cli.add_option("--e2e-seconds", o.e2e_seconds, "length of the end-to-end run")
      ->check(CLI::Range(1, 3600));
  CLI11_PARSE(cli, argc, argv);
  o.command_line = "./bench/apply/run.sh";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--workdir", 0) == 0 || a.rfind("--binary", 0) == 0) {
      if (a.find('=') == std::string::npos) ++i;  // and its value
      continue;
    }
    o.command_line += " " + a;
  }
  if (o.smoke) {
    o.events = std::min<std::uint64_t>(o.events, 5000);
    o.runs = 1;
    o.e2e_seconds = std::min(o.e2e_seconds, 5);
    o.e2e_rate = std::min(o.e2e_rate, 1000.0);
  }
  try {
    std::filesystem::create_directories(o.workdir);
    o.workdir = std::filesystem::canonical(o.workdir).string();
    Bench(o).run();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-apply: %s\n", e.what());
    return 1;
  }
}
