// bench-reconcile: the daily reconciliation at a large company's size. It
// starts its own redis-server (AOF, appendfsync always), intacct-sandbox with
// a demo company (default 100,000 customers + 900,000 invoices, and the
// payments the demo makes) and the service (`serve`), whose start-up run
// imports the company into the empty mirror. It then drifts 1 % of the
// records behind the service's back (silent control-API writes, no smart
// event): a third added (missing from the mirror), a third changed (stale),
// a third deleted (gone in Intacct) — and measures a reconcile run started
// through the admin API: wall time, the service's peak RSS during the run,
// API calls against the documented bound, records listed per second. A
// second run right after must cost only the listing pages. Then the same
// drift again with the sandbox answering every call 300 ms late: wall time
// and the calls in flight on average.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench/common/company.hpp"
#include "bench/common/http_client.hpp"
#include "bench/common/process.hpp"
#include "bench/common/redis.hpp"
#include "bench/reconcile/reconcile_bench.hpp"

namespace http = boost::beast::http;
using Steady = std::chrono::steady_clock;
using namespace std::chrono_literals;
using namespace isync::bench;
using namespace isync::bench::reconcile;

int main(int argc, char** argv) {
  Options o;
#ifdef INTACCT_SYNC_BINARY
  o.service_binary = INTACCT_SYNC_BINARY;
#endif
#ifdef INTACCT_SANDBOX_BINARY
  o.sandbox_binary = INTACCT_SANDBOX_BINARY;
#endif
  CLI::App app{"bench-reconcile: a reconcile run over a large sandbox company"};
  app.add_option("--service", o.service_binary, "intacct-sync binary");
  app.add_option("--sandbox", o.sandbox_binary, "intacct-sandbox binary");
  app.add_option("--workdir", o.workdir, "Redis data and the logs");
  app.add_option("--customers", o.customers, "demo customers")->check(CLI::Range(3, 5000000));
  app.add_option("--invoices", o.invoices, "demo invoices")->check(CLI::Range(3, 10000000));
  app.add_option("--drift", o.drift, "share of the records drifted")->check(CLI::Range(0.0, 0.05));
  app.add_option("--seed", o.seed, "demo company and drift seed");
  app.add_option("--concurrency", o.concurrency, "the tenant's concurrency (Intacct slots)")
      ->check(CLI::Range(1, 16));
  app.add_option("--latency-ms", o.latency_ms, "the sandbox's added latency in the last run")
      ->check(CLI::Range(0, 10000));
  app.add_option("--repeat", o.repeat, "drifted runs at zero added latency (median, min, max)")
      ->check(CLI::Range(1, 9));
  app.add_flag("--no-latency-run", o.no_latency_run, "skip the run with added latency");
  app.add_flag("--smoke", o.smoke, "1,000 customers + 9,000 invoices, no thresholds");
  CLI11_PARSE(app, argc, argv);
  if (o.smoke) o.customers = 1000, o.invoices = 9000;
  try {
    if (o.service_binary.empty() || o.sandbox_binary.empty())
      throw std::runtime_error("--service and --sandbox are required");
    const std::string workdir = std::filesystem::absolute(o.workdir).string();
    std::filesystem::create_directories(workdir);
    const Secrets secrets;
    const std::string& admin_token = secrets.admin_token;

    isync::bench::BenchRedis redis(workdir + "/redis");
    const auto redis_port = redis.port();

    const auto seed_start = Steady::now();
    auto sandbox =
        start_sandbox(o.sandbox_binary, workdir, {o.customers, o.invoices, o.seed}, secrets, 600s);
    const auto gateway_port = sandbox.gateway_port, control_port = sandbox.control_port;
    const double seed_s = std::chrono::duration<double>(Steady::now() - seed_start).count();
    HttpClient control(control_port);
    auto stats = parse_json(control.request(http::verb::get, "/v1/stats").body);
    std::int64_t records = 0, payments = 0;
    if (stats.IsObject() && stats.HasMember("records") && stats["records"].IsObject()) {
      for (const auto& m : stats["records"].GetObject()) {
        if (!m.value.IsInt64()) continue;
        if (std::string_view(m.name.GetString()) == "ARPYMT") {
          payments += m.value.GetInt64();
        } else {
          records += m.value.GetInt64();
        }
      }
    }
    std::printf(
        "bench-reconcile: sandbox company of %lld customers and invoices (+ %lld payments), "
        "seeded and serving in %.1f s, sandbox RSS %.0f MiB; drift %.2f%%; tenant concurrency %d\n",
        static_cast<long long>(records), static_cast<long long>(payments), seed_s,
        static_cast<double>(rss_kib(sandbox.child->pid())) / 1024, o.drift * 100, o.concurrency);
    std::fflush(stdout);

    // reconcile_at twelve hours away, so the daily schedule stays out of the way.
    const std::time_t later = std::time(nullptr) + 12 * 3600;
    std::tm tm{};
    gmtime_r(&later, &tm);
    char at[8];
    std::snprintf(at, sizeof at, "%02d:%02d", tm.tm_hour, tm.tm_min);
    const auto public_port = free_port(), admin_port = free_port();
    const std::string config = workdir + "/bench-reconcile.toml";
    {
      std::ofstream out(config);
      out << "[server]\npublic_listen = \"127.0.0.1:" << public_port
          << "\"\nadmin_listen = \"127.0.0.1:" << admin_port << "\"\n"
          << "[redis]\nurl = \"redis://127.0.0.1:" << redis_port << "/0\"\n"
          << "[intacct]\nendpoint = \"http://127.0.0.1:" << gateway_port
          << "/ia/xml/xmlgw.phtml\"\nsender_id = \"" << kSenderId << "\"\n"
          << "sender_password = \"env:BENCH_SENDER_PASSWORD\"\n"
          << "[admin]\ntoken = \"env:BENCH_ADMIN_TOKEN\"\n"
          << "[log]\nlevel = \"warning\"\n"
          << "[[tenant]]\nid = \"" << kTenant << "\"\ntoken = \"env:BENCH_TENANT_TOKEN\"\n"
          << "company_id = \"" << kCompanyId << "\"\nuser_id = \"" << kUserId << "\"\n"
          << "user_password = \"env:BENCH_USER_PASSWORD\"\n"
          << "reconcile_at = \"" << at << "\"\n"
          << "concurrency = " << o.concurrency << "\n";
    }
    const auto import_start = Steady::now();
    auto service = start_service(o.service_binary, config, workdir, secrets, public_port, 60s);

    Bench bench(o, admin_port, admin_token, control_port, service->pid(), sandbox.child->pid(),
                redis.pid());
    // The start-up run imports the whole company into the empty mirror.
    auto imported = Bench::figures(bench.wait_report(bench.start_run()));
    imported.wall_s = std::chrono::duration<double>(Steady::now() - import_start).count();
    imported.peak_rss_kb = peak_rss_kib(service->pid());
    print_run("import (a first run into an empty mirror; wall time from the service's start)",
              imported);

    std::vector<RunFigures> drifted;
    bool ok = true;
    for (int i = 0; i < o.repeat; ++i) {
      const auto drift = bench.drift(std::string(1, static_cast<char>('a' + i)));
      std::printf(
          "drift: %lld records added, %lld changed, %lld deleted, silently (%lld deletes refused: "
          "paid invoices)\n",
          static_cast<long long>(drift.added), static_cast<long long>(drift.changed),
          static_cast<long long>(drift.deleted), static_cast<long long>(drift.refused));
      std::fflush(stdout);
      drifted.push_back(bench.run());
      const auto label = "drifted run " + std::to_string(i + 1) + " of " +
                         std::to_string(o.repeat) + " (no added latency)";
      print_run(label.c_str(), drifted.back());
      ok = ok && drifted.back().state == "succeeded" &&
           drifted.back().api_calls <= drifted.back().bound;
    }
    const auto second = bench.run();
    print_run("run right after the last one", second);
    std::printf("  it costs             %lld calls = %lld listing pages + %lld other\n",
                static_cast<long long>(second.api_calls), static_cast<long long>(second.list_calls),
                static_cast<long long>(second.api_calls - second.list_calls));
    ok = ok && second.state == "succeeded" && second.api_calls == second.list_calls;

    print_drifted(o, drifted);

    std::fflush(stdout);

    if (!o.no_latency_run) {
      const auto drift2 = bench.drift("z");
      std::printf("\ndrift again: %lld added, %lld changed, %lld deleted\n",
                  static_cast<long long>(drift2.added), static_cast<long long>(drift2.changed),
                  static_cast<long long>(drift2.deleted));
      control.request(http::verb::put, "/v1/faults",
                      "{\"latency_ms\":" + std::to_string(o.latency_ms) + "}", "application/json");
      const auto slow = bench.run();
      control.request(http::verb::delete_, "/v1/faults");
      char label[96];
      std::snprintf(label, sizeof label, "drifted run, sandbox latency_ms=%d", o.latency_ms);
      print_run(label, slow);
      std::printf(
          "  concurrency          %.2f calls in flight on average (calls x latency / wall time); "
          "tenant concurrency %d, so reconcile may use %d\n",
          static_cast<double>(slow.api_calls) * o.latency_ms / 1000 / std::max(slow.wall_s, 1e-9),
          o.concurrency, std::max(1, o.concurrency - 1));
      ok = ok && slow.state == "succeeded";
    }
    std::printf(
        "\nreproduce: ./bench/reconcile/run.sh%s --customers %d --invoices %d --drift %.4g "
        "--repeat "
        "%d --seed %llu --concurrency %d --latency-ms %d%s\n",
        o.smoke ? " --smoke" : "", o.customers, o.invoices, o.drift, o.repeat,
        static_cast<unsigned long long>(o.seed), o.concurrency, o.latency_ms,
        o.no_latency_run ? " --no-latency-run" : "");
    service->stop();
    sandbox.child->stop();
    return ok ? 0 : 3;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-reconcile: %s\n", e.what());
    return 1;
  }
}
