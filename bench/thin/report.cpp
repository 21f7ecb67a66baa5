#include <algorithm>
#include <cstdio>
#include <sstream>

#include "bench/common/company.hpp"
#include "bench/common/stats.hpp"
#include "bench/thin/thin_bench.hpp"

namespace isync::bench::thin {

namespace http = boost::beast::http;

namespace {

// `name{labels} value` lines of one metric, summed by one label.
std::map<std::string, double> metric_by(const std::string& text, const std::string& name,
                                        const std::string& label) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + "{", 0) != 0) continue;
    auto close = line.find('}');
    if (close == std::string::npos) continue;
    std::string labels = line.substr(name.size() + 1, close - name.size() - 1);
    auto at = labels.find(label + "=\"");
    if (at == std::string::npos) continue;
    auto start = at + label.size() + 2;
    auto value = labels.substr(start, labels.find('"', start) - start);
    out[value] += std::stod(line.substr(close + 1));
  }
  return out;
}

}  // namespace

void print_report(const Options& o, const Counts& counts, const MirrorCheck& check,
                  const Outcome& outcome, HttpClient& control, std::uint16_t admin_port,
                  const std::string& admin_token) {
  const auto& [records, made, mismatches, mismatch_same_second, mismatch_dup, mismatch_lines,
               latency_ms, latency_on_time_ms, latency_late_ms, latency_dup_ms, dup_changes,
               dup_not_seen, not_seen, same_second_changes] = check;
  const auto& [drained, drain_s, q] = outcome;
  auto stats = parse_json(control.request(http::verb::get, "/v1/stats").body);
  auto call_count = [&](const char* fn) -> long long {
    if (!stats.IsObject() || !stats.HasMember("calls_by_function")) return 0;
    const auto& calls = stats["calls_by_function"];
    return calls.HasMember(fn) && calls[fn].IsInt64() ? calls[fn].GetInt64() : 0;
  };
  const long long read_calls = call_count("read");
  const long long records_read =
      stats.IsObject() && stats.HasMember("records_read") ? stats["records_read"].GetInt64() : 0;
  const long long gateway_requests =
      stats.IsObject() && stats.HasMember("requests") ? stats["requests"].GetInt64() : 0;
  auto metrics = HttpClient(admin_port, kRequestTimeout)
                     .request(http::verb::get, "/metrics", {}, {}, admin_token);
  // Reads made for an event at once, and reads made once the record's
  // second had settled (deferred reads and rechecks): both count.
  auto reads = metric_by(metrics.body, "isync_mirror_intacct_reads_total", "result");
  for (const auto& [k, val] : metric_by(metrics.body, "isync_mirror_rechecks_total", "result"))
    reads[k] += val;
  auto decisions = metric_by(metrics.body, "isync_mirror_changes_total", "decision");
  auto outcomes = metric_by(metrics.body, "isync_events_handled_total", "outcome");

  auto ll = [](std::int64_t v) { return static_cast<long long>(v); };
  auto per = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  const double deliveries = static_cast<double>(counts.deliveries);
  std::printf("\n");
  std::printf("deliveries                   %lld (202: %lld, errors or other statuses: %lld)\n",
              ll(counts.deliveries), ll(counts.accepted), ll(counts.errors));
  std::printf("distinct changes             %lld (PATCH failures: %lld) over %zu records\n",
              ll(made), ll(counts.patch_errors), records);
  std::printf("redeliveries                 %lld (answered \"duplicate\":true: %lld)\n",
              ll(counts.redeliveries), ll(counts.redelivery_duplicate));
  std::printf("late first deliveries        %lld (held back 0.5-3 s)\n", ll(counts.late));
  std::printf(
      "first deliveries answered duplicate  %lld (same record, same WHENMODIFIED second as an "
      "earlier change: the same thin body)\n",
      ll(counts.first_duplicate));
  std::printf("changes in the same second as the record's previous change  %lld\n",
              ll(same_second_changes));
  std::printf("queue drained                %s in %.1f s after the last delivery\n",
              drained ? "yes" : "NO", drain_s);
  std::printf(
      "sandbox read calls           %lld, records read %lld (gateway requests %lld, "
      "getAPISession %lld)\n",
      read_calls, records_read, gateway_requests, call_count("getAPISession"));
  std::printf(
      "records read per delivery    %.3f; per distinct change %.3f; records per read "
      "call %.1f\n",
      per(static_cast<double>(records_read), deliveries),
      per(static_cast<double>(records_read), static_cast<double>(made)),
      per(static_cast<double>(records_read), static_cast<double>(read_calls)));
  std::printf("reads by result (isync_mirror_intacct_reads_total + isync_mirror_rechecks_total):");
  for (const char* r : {"applied", "unchanged", "shared", "gone", "failed", "retry", "held"})
    std::printf(" %s %.0f", r, reads.count(r) ? reads[r] : 0.0);
  std::printf(
      "\nrecords read that changed nothing  %.0f (records read - applied - gone; \"unchanged\" "
      "also counts events that shared one record of a read)",
      static_cast<double>(records_read) - (reads.count("applied") ? reads["applied"] : 0.0) -
          (reads.count("gone") ? reads["gone"] : 0.0));
  std::printf("\nisync_mirror_changes_total:");
  for (const auto& [k, val] : decisions) std::printf(" %s %.0f", k.c_str(), val);
  std::printf("\nisync_events_handled_total:");
  for (const auto& [k, val] : outcomes) std::printf(" %s %.0f", k.c_str(), val);
  std::printf("\n");
  auto print_latency = [](const char* label, const std::vector<double>& v) {
    std::printf("%-29sp50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms (%zu changes)\n", label,
                percentile(v, 0.50), percentile(v, 0.90), percentile(v, 0.99),
                v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()), v.size());
  };
  print_latency("change-to-mirror latency", latency_ms);
  print_latency("  own event, on time", latency_on_time_ms);
  print_latency("  first delivery late", latency_late_ms);
  print_latency("  same-second duplicates", latency_dup_ms);
  std::printf("changes never seen in the audit  %lld (same-second duplicates: %lld of %lld)\n",
              ll(not_seen), ll(dup_not_seen), ll(dup_changes));
  std::printf(
      "mirror mismatches            %lld of %zu records (last change same second as the "
      "one before: %lld; its event answered duplicate: %lld)\n",
      ll(mismatches), records, ll(mismatch_same_second), ll(mismatch_dup));
  for (const auto& line : mismatch_lines) std::printf("%s\n", line.c_str());
  std::printf("dead letters                 %lld (parked %lld)\n", q.dead, q.parked);
  std::printf(
      "\nreproduce: ./bench/thin/run.sh --deliveries %d --redeliver %.2f --late %.2f --rate %.0f "
      "--seed %llu --workers %d --concurrency %d%s%s\n",
      o.deliveries, o.redeliver, o.late, o.rate, static_cast<unsigned long long>(o.seed), o.workers,
      o.concurrency, o.read_at_once ? " --read-at-once" : "",
      o.read_batch_window > 0
          ? (" --read-batch-window-ms " + std::to_string(o.read_batch_window)).c_str()
          : "");
}

}  // namespace isync::bench::thin
