#include <chrono>
#include <stdexcept>
#include <thread>

#include "bench/common/company.hpp"
#include "bench/common/process.hpp"
#include "bench/reconcile/reconcile_bench.hpp"

namespace isync::bench::reconcile {

namespace http = boost::beast::http;
using Steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

rapidjson::Document Bench::wait_report(const std::string& id) {
  const auto until = Steady::now() + std::chrono::seconds(o_.run_timeout_s);
  while (Steady::now() < until) {
    auto r =
        admin_.request(http::verb::get, "/v1/admin/reconcile/runs/" + id + "?tenant=" + kTenant, {},
                       {}, admin_token_);
    if (r.status == 200) {
      auto d = parse_json(r.body);
      const auto state = json_string(d, "state");
      if (!state.empty() && state != "running") return d;
    }
    std::this_thread::sleep_for(100ms);
  }
  throw std::runtime_error("run " + id + " did not end in time");
}

std::map<std::string, std::int64_t> Bench::sandbox_calls() {
  auto d = parse_json(control_.request(http::verb::get, "/v1/stats").body);
  std::map<std::string, std::int64_t> out;
  if (d.IsObject() && d.HasMember("calls_by_function") && d["calls_by_function"].IsObject()) {
    for (const auto& m : d["calls_by_function"].GetObject())
      if (m.value.IsInt64()) out[m.name.GetString()] = m.value.GetInt64();
  }
  return out;
}

std::string Bench::start_run() {
  const auto until = Steady::now() + 600s;
  for (;;) {
    auto r = admin_.request(http::verb::post, "/v1/admin/reconcile",
                            std::string("{\"tenant\":\"") + kTenant + "\"}", "application/json",
                            admin_token_);
    auto d = parse_json(r.body);
    const auto id = json_string(d, "run_id");
    if ((r.status == 202 || r.status == 409) && !id.empty()) return id;
    if (r.status != 409 || Steady::now() > until)
      throw std::runtime_error("POST /v1/admin/reconcile answered " + std::to_string(r.status) +
                               ": " + r.body);
    std::this_thread::sleep_for(100ms);
  }
}

RunFigures Bench::run() {
  auto before = sandbox_calls();
  const double cpu[3] = {cpu_seconds(service_pid_), cpu_seconds(sandbox_pid_),
                         cpu_seconds(redis_pid_)};
  reset_peak_rss(service_pid_);
  const auto t = Steady::now();
  const auto id = start_run();
  auto report = wait_report(id);
  RunFigures f = figures(report);
  f.wall_s = std::chrono::duration<double>(Steady::now() - t).count();
  f.peak_rss_kb = peak_rss_kib(service_pid_);
  f.cpu_service = cpu_seconds(service_pid_) - cpu[0];
  f.cpu_sandbox = cpu_seconds(sandbox_pid_) - cpu[1];
  f.cpu_redis = cpu_seconds(redis_pid_) - cpu[2];
  auto after = sandbox_calls();
  f.sandbox_queries = after["query"] - before["query"];
  f.sandbox_reads = after["read"] - before["read"];
  return f;
}

RunFigures Bench::figures(const rapidjson::Document& d) {
  RunFigures f;
  f.run_id = json_string(d, "run_id");
  f.state = json_string(d, "state");
  f.failure = json_string(d, "failure");
  f.report_s = static_cast<double>(member_int(d, "duration_ms")) / 1000;
  f.api_calls = member_int(d, "api_calls");
  if (d.HasMember("objects") && d["objects"].IsObject()) {
    for (const auto& m : d["objects"].GetObject()) {
      const auto& o = m.value;
      const auto listed = member_int(o, "listed");
      const auto missing = member_int(o, "missing"), stale = member_int(o, "stale"),
                 gone = member_int(o, "gone_candidates");
      std::int64_t list = 0, read = 0;
      if (o.HasMember("calls") && o["calls"].IsObject()) {
        list = member_int(o["calls"], "list");
        read = member_int(o["calls"], "read");
      }
      f.listed += listed;
      f.list_calls += list;
      f.read_calls += read;
      f.missing += missing;
      f.stale += stale;
      f.gone += gone;
      f.created += member_int(o, "created");
      f.updated += member_int(o, "updated");
      f.tombstoned += member_int(o, "tombstoned");
      // README "Cost": max(1, ⌈listed/2000⌉) + (segments − 1) listing calls (each
      // key range listed side by side may end with a short page) + ⌈(stale +
      // missing + confirming)/100⌉ reads.
      const auto segments = std::max<std::int64_t>(1, member_int(o, "segments"));
      f.bound += std::max<std::int64_t>(1, (listed + 1999) / 2000) + segments - 1 +
                 (missing + stale + gone + 99) / 100;
      f.per_object += "    " + std::string(m.name.GetString()) + ": listed " +
                      std::to_string(listed) + ", missing " + std::to_string(missing) + ", stale " +
                      std::to_string(stale) + ", gone " + std::to_string(gone) + ", drafts " +
                      std::to_string(member_int(o, "drafts")) + "; segments " +
                      std::to_string(segments) + "; calls list " + std::to_string(list) +
                      " + read " + std::to_string(read) + "\n";
    }
  }
  if (d.HasMember("payments") && d["payments"].IsObject() && d["payments"].HasMember("calls") &&
      d["payments"]["calls"].IsObject()) {
    f.payment_calls = member_int(d["payments"]["calls"], "docnumber") +
                      member_int(d["payments"]["calls"], "reversal");
    f.bound += f.payment_calls;
  }
  return f;
}
bool Bench::write(http::verb method, const std::string& target, const std::string& body) {
  auto r = control_.request(method, target, body, "application/json");
  return r.status >= 200 && r.status < 300;
}

}  // namespace isync::bench::reconcile
