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
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/common/process.hpp"
#include "bench/common/redis.hpp"
#include "core/json.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::ip::tcp;
using Steady = std::chrono::steady_clock;
using namespace std::chrono_literals;
using isync::bench::Child;
using isync::bench::free_port;
using isync::bench::wait_until;

namespace {

constexpr const char* kTenant = "bench";
constexpr const char* kSenderId = "intacct-sync-bench";
constexpr const char* kCompanyId = "BENCH-CO";
constexpr const char* kUserId = "ws_bench";
constexpr auto kRequestTimeout = 30s;

// A random hex token for the secrets the processes share; never printed.
std::string random_token() {
  std::random_device rd;
  std::string out;
  for (int i = 0; i < 24; ++i) {
    char buf[3];
    std::snprintf(buf, sizeof buf, "%02x", rd() & 0xff);
    out += buf;
  }
  return out;
}

// ---- HTTP client ---------------------------------------------------------

struct Response {
  int status = 0;  // 0: no answer (connect, write or read failed, or timed out)
  std::string body;
};

// One keep-alive connection to 127.0.0.1:port; one request at a time, each
// with a deadline over write and read.
class HttpClient {
 public:
  explicit HttpClient(std::uint16_t port) : port_(port) {}

  Response request(http::verb method, const std::string& target, const std::string& body = {},
                   const std::string& content_type = {}, const std::string& bearer = {}) {
    // A reused connection the server closed while idle fails at once: one
    // more try on a fresh connection.
    for (int attempt = 0; attempt < 2; ++attempt) {
      const bool reused = stream_.has_value();
      auto r = once(method, target, body, content_type, bearer);
      if (r.status != 0 || !reused) return r;
    }
    return {};
  }

 private:
  Response once(http::verb method, const std::string& target, const std::string& body,
                const std::string& content_type, const std::string& bearer) {
    boost::system::error_code ec;
    if (!stream_) {
      stream_.emplace(ioc_);
      stream_->socket().connect({asio::ip::make_address("127.0.0.1"), port_}, ec);
      if (ec) {
        stream_.reset();
        return {};
      }
      stream_->socket().set_option(tcp::no_delay(true));
    }
    http::request<http::string_body> req(method, target, 11);
    req.set(http::field::host, "127.0.0.1");
    if (!content_type.empty()) req.set(http::field::content_type, content_type);
    if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
    req.body() = body;
    req.prepare_payload();
    req.keep_alive(true);
    http::response<http::string_body> res;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    bool ok = false;
    stream_->expires_after(kRequestTimeout);
    http::async_write(*stream_, req, [&](boost::system::error_code wec, std::size_t) {
      if (wec) return;
      http::async_read(*stream_, buffer_, parser,
                       [&](boost::system::error_code rec, std::size_t) { ok = !rec; });
    });
    ioc_.restart();
    ioc_.run();
    if (!ok) {
      stream_.reset();
      buffer_.clear();
      return {};
    }
    res = parser.release();
    if (!res.keep_alive()) {
      stream_.reset();
      buffer_.clear();
    }
    return {static_cast<int>(res.result_int()), std::move(res.body())};
  }

  std::uint16_t port_;
  asio::io_context ioc_;
  std::optional<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
};

// A null document when the text does not parse.
rapidjson::Document parse_json(const std::string& text) {
  auto d = isync::json::parse(text, isync::json::kTrusted);
  return d ? std::move(*d) : rapidjson::Document();
}

std::string json_string(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject() || !obj.HasMember(name) || !obj[name].IsString()) return {};
  return {obj[name].GetString(), obj[name].GetStringLength()};
}

std::int64_t member_int(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject() || !obj.HasMember(name) || !obj[name].IsInt64()) return 0;
  return obj[name].GetInt64();
}

// kB of a /proc/<pid>/status line ("VmHWM", "VmRSS").
long status_kb(pid_t pid, const char* key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::stol(line.substr(line.find(':') + 1));
  }
  return 0;
}

// CPU seconds (user + system) the process has used.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(f);  // utime, stime
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Resets the process's peak RSS (VmHWM) to its current RSS.
void reset_peak(pid_t pid) {
  std::ofstream out("/proc/" + std::to_string(pid) + "/clear_refs");
  out << "5";
}

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
  long peak_rss_kb = 0;
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
  rapidjson::Document wait_report(const std::string& id) {
    const auto until = Steady::now() + std::chrono::seconds(o_.run_timeout_s);
    while (Steady::now() < until) {
      auto r =
          admin_.request(http::verb::get, "/v1/admin/reconcile/runs/" + id + "?tenant=" + kTenant,
                         {}, {}, admin_token_);
      if (r.status == 200) {
        auto d = parse_json(r.body);
        const auto state = json_string(d, "state");
        if (!state.empty() && state != "running") return d;
      }
      std::this_thread::sleep_for(100ms);
    }
    throw std::runtime_error("run " + id + " did not end in time");
  }

  std::map<std::string, std::int64_t> sandbox_calls() {
    auto d = parse_json(control_.request(http::verb::get, "/v1/stats").body);
    std::map<std::string, std::int64_t> out;
    if (d.IsObject() && d.HasMember("calls_by_function") && d["calls_by_function"].IsObject()) {
      for (const auto& m : d["calls_by_function"].GetObject())
        if (m.value.IsInt64()) out[m.name.GetString()] = m.value.GetInt64();
    }
    return out;
  }

  // Starts a run, retrying while the mirror's index is being built (a new
  // service back-fills it first); a run already running is taken as it.
  std::string start_run() {
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

  // Starts a run through the admin API and waits for its report.
  RunFigures run() {
    auto before = sandbox_calls();
    const double cpu[3] = {cpu_seconds(service_pid_), cpu_seconds(sandbox_pid_),
                           cpu_seconds(redis_pid_)};
    reset_peak(service_pid_);
    const auto t = Steady::now();
    const auto id = start_run();
    auto report = wait_report(id);
    RunFigures f = figures(report);
    f.wall_s = std::chrono::duration<double>(Steady::now() - t).count();
    f.peak_rss_kb = status_kb(service_pid_, "VmHWM");
    f.cpu_service = cpu_seconds(service_pid_) - cpu[0];
    f.cpu_sandbox = cpu_seconds(sandbox_pid_) - cpu[1];
    f.cpu_redis = cpu_seconds(redis_pid_) - cpu[2];
    auto after = sandbox_calls();
    f.sandbox_queries = after["query"] - before["query"];
    f.sandbox_reads = after["read"] - before["read"];
    return f;
  }

  static RunFigures figures(const rapidjson::Document& d) {
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
                        std::to_string(listed) + ", missing " + std::to_string(missing) +
                        ", stale " + std::to_string(stale) + ", gone " + std::to_string(gone) +
                        ", drafts " + std::to_string(member_int(o, "drafts")) + "; segments " +
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

  // 1 % drift behind the service's back: silent writes (no smart event).
  struct Drift {
    std::int64_t added = 0, changed = 0, deleted = 0, refused = 0;
  };
  Drift drift(const std::string& tag) {
    Drift d;
    const auto per = [&](int n) {
      return std::max<std::int64_t>(1, std::llround(static_cast<double>(n) * o_.drift / 3));
    };
    const std::int64_t customers = per(o_.customers), invoices = per(o_.invoices);
    std::uniform_int_distribution<std::int64_t> pick_c(1, o_.customers), pick_i(1, o_.invoices);
    const auto customer_id = [&](std::int64_t no) {
      char id[32];
      std::snprintf(id, sizeof id, "CUST-%05lld", static_cast<long long>(no));
      return std::string(id);
    };
    // Missing: new records the mirror never heard of.
    for (std::int64_t i = 0; i < customers; ++i) {
      d.added += write(http::verb::post, "/v1/records/CUSTOMER",
                       "{\"silent\":true,\"fields\":{\"NAME\":\"Drift " + tag + " " +
                           std::to_string(i) + "\"}}");
    }
    for (std::int64_t i = 0; i < invoices; ++i) {
      d.added += write(http::verb::post, "/v1/records/ARINVOICE",
                       "{\"silent\":true,\"fields\":{\"CUSTOMERID\":\"" +
                           customer_id(pick_c(rng_)) + "\",\"TOTALENTERED\":\"123.45\"}}");
    }
    // Stale: records changed (a deleted one is skipped).
    for (std::int64_t i = 0; i < customers; ++i) {
      d.changed +=
          write(http::verb::patch, "/v1/records/CUSTOMER/" + std::to_string(pick_c(rng_)),
                "{\"silent\":true,\"fields\":{\"DISPLAYCONTACT.PHONE1\":\"drift-" + tag + "\"}}");
    }
    for (std::int64_t i = 0; i < invoices; ++i) {
      d.changed += write(http::verb::patch, "/v1/records/ARINVOICE/" + std::to_string(pick_i(rng_)),
                         "{\"silent\":true,\"fields\":{\"DOCNUMBER\":\"drift-" + tag + "\"}}");
    }
    // Gone: unpaid invoices deleted (a paid one cannot be: another is drawn).
    for (std::int64_t i = 0, tries = 0; i < invoices && tries < invoices * 20; ++tries) {
      if (write(http::verb::delete_, "/v1/records/ARINVOICE/" + std::to_string(pick_i(rng_)),
                "{\"silent\":true}")) {
        ++d.deleted;
        ++i;
      } else {
        ++d.refused;
      }
    }
    return d;
  }

 private:
  bool write(http::verb method, const std::string& target, const std::string& body) {
    auto r = control_.request(method, target, body, "application/json");
    return r.status >= 200 && r.status < 300;
  }

  pid_t sandbox_pid_, redis_pid_;
  const Options& o_;
  HttpClient admin_;
  std::string admin_token_;
  HttpClient control_;
  pid_t service_pid_;
  std::mt19937_64 rng_;
};

void print_run(const char* label, const RunFigures& f) {
  std::printf("%s: %s%s%s\n", label, f.state.c_str(), f.failure.empty() ? "" : ": ",
              f.failure.c_str());
  std::printf("  wall time            %.1f s (report: %.1f s)\n", f.wall_s, f.report_s);
  std::printf("  service peak RSS     %.0f MiB (VmHWM of serve, reset before the run)\n",
              static_cast<double>(f.peak_rss_kb) / 1024);
  std::printf(
      "  API calls            %lld (listing %lld, reads %lld, payments %lld); bound %lld; the "
      "sandbox counted %lld query + %lld read calls of the service meanwhile\n",
      static_cast<long long>(f.api_calls), static_cast<long long>(f.list_calls),
      static_cast<long long>(f.read_calls), static_cast<long long>(f.payment_calls),
      static_cast<long long>(f.bound), static_cast<long long>(f.sandbox_queries),
      static_cast<long long>(f.sandbox_reads));
  std::printf("  CPU during the run   service %.1f s, sandbox %.1f s, redis-server %.1f s\n",
              f.cpu_service, f.cpu_sandbox, f.cpu_redis);
  std::printf("  records listed       %lld (%.0f/s)\n", static_cast<long long>(f.listed),
              static_cast<double>(f.listed) / std::max(f.wall_s, 1e-9));
  std::printf(
      "  drift found          missing %lld, stale %lld, gone %lld; created %lld, updated %lld, "
      "tombstoned %lld\n",
      static_cast<long long>(f.missing), static_cast<long long>(f.stale),
      static_cast<long long>(f.gone), static_cast<long long>(f.created),
      static_cast<long long>(f.updated), static_cast<long long>(f.tombstoned));
  std::printf("%s", f.per_object.c_str());
  std::fflush(stdout);
}

}  // namespace

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
    const std::string admin_token = random_token(), tenant_token = random_token(),
                      sender_password = random_token(), user_password = random_token();

    isync::bench::BenchRedis redis(workdir + "/redis");
    const auto redis_port = redis.port();

    const std::string ports_file = workdir + "/sandbox.ports";
    std::filesystem::remove(ports_file);
    const auto seed_start = Steady::now();
    Child sandbox({o.sandbox_binary,   "serve",
                   "--gateway-listen", "127.0.0.1:0",
                   "--control-listen", "127.0.0.1:0",
                   "--sender-id",      kSenderId,
                   "--company-id",     kCompanyId,
                   "--user-id",        kUserId,
                   "--demo-customers", std::to_string(o.customers),
                   "--demo-invoices",  std::to_string(o.invoices),
                   "--seed",           std::to_string(o.seed),
                   "--port-file",      ports_file},
                  workdir + "/sandbox.log",
                  {"INTACCT_SANDBOX_SENDER_PASSWORD=" + sender_password,
                   "INTACCT_SANDBOX_USER_PASSWORD=" + user_password});
    std::uint16_t gateway_port = 0, control_port = 0;
    if (!wait_until(
            [&] {
              std::ifstream in(ports_file);
              return static_cast<bool>(in >> gateway_port >> control_port) && control_port != 0;
            },
            600s))
      throw std::runtime_error("intacct-sandbox did not start; see " + workdir + "/sandbox.log");
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
        static_cast<double>(status_kb(sandbox.pid(), "VmRSS")) / 1024, o.drift * 100,
        o.concurrency);
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
    Child service(
        {o.service_binary, "serve", "--config", config}, workdir + "/service.log",
        {"BENCH_ADMIN_TOKEN=" + admin_token, "BENCH_TENANT_TOKEN=" + tenant_token,
         "BENCH_SENDER_PASSWORD=" + sender_password, "BENCH_USER_PASSWORD=" + user_password});
    if (!wait_until(
            [&] {
              return HttpClient(public_port).request(http::verb::get, "/healthz").status == 200;
            },
            60s))
      throw std::runtime_error("intacct-sync did not start; see " + workdir + "/service.log");

    Bench bench(o, admin_port, admin_token, control_port, service.pid(), sandbox.pid(),
                redis.pid());
    // The start-up run imports the whole company into the empty mirror.
    auto imported = Bench::figures(bench.wait_report(bench.start_run()));
    imported.wall_s = std::chrono::duration<double>(Steady::now() - import_start).count();
    imported.peak_rss_kb = status_kb(service.pid(), "VmHWM");
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

    // Median, min and max over the drifted runs.
    const auto stat = [&](const char* name, const char* unit, auto get) {
      std::vector<double> v;
      for (const auto& f : drifted) v.push_back(get(f));
      std::sort(v.begin(), v.end());
      std::printf("  %-22s median %.1f%s (min %.1f, max %.1f)\n", name, v[v.size() / 2], unit,
                  v.front(), v.back());
    };
    std::printf("\nover the %d drifted runs:\n", o.repeat);
    stat("wall time", " s", [](const RunFigures& f) { return f.wall_s; });
    stat("service peak RSS", " MiB",
         [](const RunFigures& f) { return static_cast<double>(f.peak_rss_kb) / 1024; });
    stat("records listed/s", "",
         [](const RunFigures& f) { return static_cast<double>(f.listed) / f.wall_s; });
    stat("API calls", "", [](const RunFigures& f) { return static_cast<double>(f.api_calls); });
    stat("  their bound", "", [](const RunFigures& f) { return static_cast<double>(f.bound); });
    stat("CPU s of the service", "", [](const RunFigures& f) { return f.cpu_service; });
    stat("CPU s of the sandbox", "", [](const RunFigures& f) { return f.cpu_sandbox; });
    stat("CPU s of redis-server", "", [](const RunFigures& f) { return f.cpu_redis; });
    if (!o.smoke) {
      std::vector<double> walls;
      long rss = 0;
      for (const auto& f : drifted) {
        walls.push_back(f.wall_s);
        rss = std::max(rss, f.peak_rss_kb);
      }
      std::sort(walls.begin(), walls.end());
      const bool goals = walls[walls.size() / 2] <= 30 && rss <= 256 * 1024;
      std::printf("goals (median wall time <= 30 s, peak RSS <= 256 MiB): %s\n",
                  goals ? "met" : "NOT MET");
    }
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
    service.stop();
    sandbox.stop();
    return ok ? 0 : 3;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-reconcile: %s\n", e.what());
    return 1;
  }
}
