// bench-thin: the thin-event path end to end. A change is made in the
// intacct-sandbox company through its control API; the bench then posts the
// thin smart event Intacct would post (object, action, recordno,
// whenmodified) to intacct-sync, whose workers read the record back from the
// sandbox's XML gateway into the mirror. The bench delivers the events itself
// (the sandbox has no events URL) so that it can redeliver them and hold some
// back to arrive out of order, as Intacct's HTTP post does.
//
// It starts its own redis-server (AOF, appendfsync always), the sandbox with a
// demo company and the service; makes the changes at a fixed rate; waits for
// the queue to drain; checks that every changed record holds its last change
// in the mirror; and prints the Intacct reads the events cost and the
// change-to-mirror latency taken from the mirror's audit trail.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench/common/company.hpp"
#include "bench/common/http_client.hpp"
#include "bench/common/process.hpp"
#include "bench/common/redis.hpp"
#include "bench/thin/thin_bench.hpp"

namespace http = boost::beast::http;
using namespace std::chrono_literals;
using namespace isync::bench;
using namespace isync::bench::thin;

int main(int argc, char** argv) {
  CLI::App cli{"bench-thin: thin smart events from sandbox changes to the mirror"};
  Options o;
#ifdef INTACCT_SYNC_BINARY
  o.service_binary = INTACCT_SYNC_BINARY;
#else
  o.service_binary = "intacct-sync";
#endif
#ifdef INTACCT_SANDBOX_BINARY
  o.sandbox_binary = INTACCT_SANDBOX_BINARY;
#else
  o.sandbox_binary = "intacct-sandbox";
#endif
  cli.add_option("--binary", o.service_binary, "the intacct-sync executable");
  cli.add_option("--sandbox-binary", o.sandbox_binary, "the intacct-sandbox executable");
  cli.add_option("--workdir", o.workdir, "Redis data and logs (ordinary disk, not tmpfs)");
  cli.add_option("--deliveries", o.deliveries, "event posts in total, redeliveries included")
      ->check(CLI::Range(10, 1'000'000));
  cli.add_option("--redeliver", o.redeliver, "share of the deliveries that redeliver an event")
      ->check(CLI::Range(0.0, 0.9));
  cli.add_option("--late", o.late, "share of first deliveries held back 0.5-3 s")
      ->check(CLI::Range(0.0, 1.0));
  cli.add_option("--rate", o.rate, "changes per second")->check(CLI::Range(1.0, 5000.0));
  cli.add_option("--seed", o.seed, "seed of the plan (records, values, chaos)");
  cli.add_option("--post-threads", o.post_threads, "threads posting events")
      ->check(CLI::Range(1, 64));
  cli.add_option("--workers", o.workers, "queue.workers of the service")->check(CLI::Range(1, 64));
  cli.add_option("--concurrency", o.concurrency, "tenant.concurrency: Intacct calls in flight")
      ->check(CLI::Range(1, 64));
  cli.add_flag("--read-at-once", o.read_at_once,
               "intacct.read_after_settle = false: read at once, again after the second settles");
  cli.add_option("--read-batch-window-ms", o.read_batch_window,
                 "intacct.read_batch_window of the service; 0 = its default")
      ->check(CLI::Range(0, 10000));
  cli.add_option("--customers", o.customers, "demo customers")->check(CLI::Range(1, 100000));
  cli.add_option("--invoices", o.invoices, "demo invoices")->check(CLI::Range(0, 1000000));
  cli.add_option("--drain-seconds", o.drain_seconds, "longest wait for the queue to drain")
      ->check(CLI::Range(1, 3600));
  CLI11_PARSE(cli, argc, argv);

  try {
    std::filesystem::create_directories(o.workdir);
    const std::string workdir = std::filesystem::canonical(o.workdir).string();

    const Secrets secrets;
    const std::string &tenant_token = secrets.tenant_token, &admin_token = secrets.admin_token;

    BenchRedis redis(workdir + "/redis");
    const auto redis_port = redis.port();

    auto sandbox =
        start_sandbox(o.sandbox_binary, workdir, {o.customers, o.invoices, o.seed}, secrets, 20s);
    const auto gateway_port = sandbox.gateway_port, control_port = sandbox.control_port;

    const auto public_port = free_port(), admin_port = free_port();
    const std::string config = workdir + "/bench-thin.toml";
    {
      std::ofstream out(config);
      out << "[server]\npublic_listen = \"127.0.0.1:" << public_port
          << "\"\nadmin_listen = \"127.0.0.1:" << admin_port << "\"\n"
          << "[redis]\nurl = \"redis://127.0.0.1:" << redis_port << "/0\"\n"
          << "[queue]\nworkers = " << o.workers << "\n"
          << "[intacct]\nendpoint = \"http://127.0.0.1:" << gateway_port
          << "/ia/xml/xmlgw.phtml\"\nsender_id = \"" << kSenderId << "\"\n"
          << "sender_password = \"env:BENCH_SENDER_PASSWORD\"\n";
      if (o.read_batch_window > 0)
        out << "read_batch_window = \"" << o.read_batch_window << "ms\"\n";
      if (o.read_at_once) out << "read_after_settle = false\n";
      out << "[admin]\ntoken = \"env:BENCH_ADMIN_TOKEN\"\n"
          << "[log]\nlevel = \"warn\"\n"
          << "[[tenant]]\nid = \"" << kTenant << "\"\ntoken = \"env:BENCH_TENANT_TOKEN\"\n"
          << "company_id = \"" << kCompanyId << "\"\nuser_id = \"" << kUserId << "\"\n"
          << "user_password = \"env:BENCH_USER_PASSWORD\"\n"
          << "concurrency = " << o.concurrency << "\n";
    }
    auto service = start_service(o.service_binary, config, workdir, secrets, public_port, 20s);

    HttpClient control(control_port, kRequestTimeout);
    std::vector<Target> targets = list_records(control, "CUSTOMER");
    auto invoices = list_records(control, "ARINVOICE");
    targets.insert(targets.end(), invoices.begin(), invoices.end());
    if (targets.empty()) throw std::runtime_error("the sandbox company has no records");

    Driver driver(o, targets, control_port, public_port, tenant_token);
    driver.plan();
    std::printf(
        "bench-thin: %d deliveries (%.0f%% redeliveries, %.0f%% of first deliveries late) at "
        "%.0f changes/s over %zu records (%d customers, %zu posted invoices); queue.workers %d, "
        "tenant concurrency %d\n",
        o.deliveries, o.redeliver * 100, o.late * 100, o.rate, targets.size(), o.customers,
        invoices.size(), o.workers, o.concurrency);
    std::fflush(stdout);
    driver.run();
    const auto& counts = driver.counts();
    std::printf(
        "changes made in %.1f s (%.0f/s), last delivery answered after %.1f s\n",
        driver.change_elapsed(),
        static_cast<double>(driver.changes().size()) / std::max(driver.change_elapsed(), 1e-9),
        driver.elapsed());
    std::fflush(stdout);

    // ---- drain ----
    const auto drain_start = Steady::now();
    QueueState q;
    const bool drained = wait_until(
        [&] {
          q = queue_state(redis.client());
          return q.drained();
        },
        std::chrono::seconds(o.drain_seconds));
    const double drain_s = std::chrono::duration<double>(Steady::now() - drain_start).count();
    if (!drained)
      std::printf(
          "QUEUE NOT DRAINED after %d s: stream %lld, pending %lld, retrying %lld, reads due "
          "%lld\n",
          o.drain_seconds, q.stream, q.pending, q.retry, q.recheck);

    const auto check = check_mirror(driver, redis.client(), workdir);

    q = queue_state(redis.client());
    print_report(o, counts, check, {drained, drain_s, q}, control, admin_port, admin_token);
    service->stop();
    sandbox.child->stop();
    const bool ok = counts.errors == 0 && check.mismatches == 0 && q.dead == 0 && drained;
    return ok ? 0 : 3;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-thin: %s\n", e.what());
    return 1;
  }
}
