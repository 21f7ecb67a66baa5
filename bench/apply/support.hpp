// bench-apply's plumbing: child processes, a blocking Redis client, the
// HTTP load (closed loop to fill the queue, open loop at a fixed rate), the
// service's /metrics and the figures' summaries.
#pragma once

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

inline constexpr const char* kToken = "bench-token-0123456789abcdef";

inline std::uint16_t free_port() {
  asio::io_context ioc;
  tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

inline bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
  auto until = Clock::now() + limit;
  while (Clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

class Child {
 public:
  Child(std::vector<std::string> args, const std::string& log_path,
        const std::vector<std::string>& extra_env = {}) {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> envp, argv;
    for (auto& s : env) envp.push_back(s.data());
    envp.push_back(nullptr);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    int rc = posix_spawnp(&pid_, argv[0], &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot start " + args[0]);
  }
  ~Child() { stop(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }

  // The process's peak resident set (VmHWM), KiB; 0 when unknown.
  long peak_rss_kib() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("VmHWM:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    }
    return 0;
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 300; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(100ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

class Redis {
 public:
  explicit Redis(std::uint16_t port) {
    timeval tv{30, 0};
    ctx_ = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (ctx_ == nullptr || ctx_->err) throw std::runtime_error("cannot connect to redis-server");
    redisSetTimeout(ctx_, tv);
  }
  ~Redis() {
    if (ctx_) redisFree(ctx_);
  }
  Redis(const Redis&) = delete;
  Redis& operator=(const Redis&) = delete;

  struct Reply {
    int type = REDIS_REPLY_NIL;
    long long integer = 0;
    std::string str;
    std::vector<Reply> elements;
  };

  Reply cmd(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(ctx_, static_cast<int>(args.size()), argv.data(), lens.data()));
    if (r == nullptr) throw std::runtime_error("redis-server did not answer " + args.front());
    Reply out = convert(r);
    freeReplyObject(r);
    if (out.type == REDIS_REPLY_ERROR)
      throw std::runtime_error("redis-server answered " + args.front() + ": " + out.str);
    return out;
  }

  // One field of INFO <section>, as a number.
  double info(const std::string& section, const std::string& field) {
    auto text = cmd({"INFO", section}).str;
    auto at = text.find("\n" + field + ":");
    if (at == std::string::npos) return 0;
    return std::strtod(text.c_str() + at + field.size() + 2, nullptr);
  }

  // Redis's own CPU time, user + system, seconds.
  double cpu_seconds() { return info("cpu", "used_cpu_user") + info("cpu", "used_cpu_sys"); }

 private:
  static Reply convert(const redisReply* r) {
    Reply out;
    out.type = r->type;
    out.integer = r->integer;
    if (r->str) out.str.assign(r->str, r->len);
    for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
    return out;
  }
  redisContext* ctx_ = nullptr;
};

// Runs a command line, returns its standard output; throws when it fails.
inline std::string run_capture(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) throw std::runtime_error("cannot run: " + command);
  char buf[4096];
  while (auto n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  if (::pclose(p) != 0) throw std::runtime_error("failed: " + command + "\n" + out);
  return out;
}

// A smart event's body: CUSTOMER `n`, a snapshot of a few fields, a
// WHENMODIFIED that moves with n (every event unique).
inline std::string event_body(std::uint64_t n) {
  int sec = static_cast<int>(n % 60), min = static_cast<int>((n / 60) % 60),
      hour = static_cast<int>((n / 3600) % 24), day = static_cast<int>(1 + (n / 86400) % 28);
  char when[32];
  std::snprintf(when, sizeof when, "06/%02d/2024 %02d:%02d:%02d", day, hour, min, sec);
  return "object=CUSTOMER\naction=set\nrecordno=" + std::to_string(n) + "\nwhenmodified=" + when +
         "\nCUSTOMERID=C" + std::to_string(n) + "\nNAME=Bench customer " + std::to_string(n) +
         "\nSTATUS=active\nCURRENCY=USD\nTERMNAME=Net 30\nEMAIL1=ap" + std::to_string(n) +
         "@example.com";
}

// HTTP load on `connections` keep-alive connections, one thread each.
// rate 0: closed loop (each connection posts as soon as the last answer
// came); else open loop, request k due at start + k / rate (a late one is
// sent at once). Returns the 2xx count; any other answer or error throws.
inline std::uint64_t post_events(std::uint16_t port, int connections, std::uint64_t first,
                                 std::uint64_t count, double rate) {
  std::atomic<std::uint64_t> next{0}, ok{0};
  std::atomic<bool> failed{false};
  std::string why;
  std::mutex why_mu;
  const auto start = Clock::now();
  auto worker = [&] {
    try {
      asio::io_context ioc;
      beast::tcp_stream stream(ioc);
      stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
      stream.socket().set_option(tcp::no_delay(true));
      beast::flat_buffer buffer;
      while (!failed) {
        auto k = next.fetch_add(1);
        if (k >= count) break;
        if (rate > 0) {
          auto due = start + std::chrono::nanoseconds(
                                 static_cast<std::int64_t>(static_cast<double>(k) * 1e9 / rate));
          std::this_thread::sleep_until(due);
        }
        http::request<http::string_body> req{http::verb::post, "/v1/intacct/bench/events", 11};
        req.set(http::field::host, "127.0.0.1");
        req.set(http::field::authorization, std::string("Bearer ") + kToken);
        req.set(http::field::content_type, "application/x-www-form-urlencoded");
        req.body() = event_body(first + k);
        req.prepare_payload();
        stream.expires_after(30s);
        http::write(stream, req);
        http::response<http::string_body> res;
        http::read(stream, buffer, res);
        if (res.result_int() / 100 != 2)
          throw std::runtime_error("answer " + std::to_string(res.result_int()) + ": " +
                                   res.body());
        ++ok;
      }
    } catch (const std::exception& e) {
      failed = true;
      std::lock_guard lock(why_mu);
      why = e.what();
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < connections; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  if (failed) throw std::runtime_error("posting events failed: " + why);
  return ok;
}

// GET `target` from 127.0.0.1:`port`; the body, or "" on any failure.
inline std::string http_get(std::uint16_t port, const std::string& target) {
  try {
    asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1");
    stream.expires_after(10s);
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    return res.result_int() == 200 ? res.body() : std::string();
  } catch (const std::exception&) {
    return {};
  }
}

// A histogram of the Prometheus text: cumulative counts per upper bound.
struct Histogram {
  std::vector<std::pair<double, double>> buckets;  // (le, cumulative count); +Inf last
  double count = 0;

  // The q-quantile, linear within its bucket (as histogram_quantile does).
  double quantile(double q) const {
    if (count <= 0 || buckets.empty()) return 0;
    const double rank = q * count;
    double lo = 0, below = 0;
    for (const auto& [le, cum] : buckets) {
      if (cum >= rank) {
        if (std::isinf(le)) return lo;
        const double in = cum - below;
        return in > 0 ? lo + (le - lo) * (rank - below) / in : le;
      }
      lo = le;
      below = cum;
    }
    return lo;
  }
};

inline Histogram parse_histogram(const std::string& metrics, const std::string& name) {
  Histogram h;
  std::istringstream in(metrics);
  std::string line;
  const std::string bucket = name + "_bucket{", total = name + "_count";
  while (std::getline(in, line)) {
    if (line.rfind(bucket, 0) == 0) {
      auto le = line.find("le=\"");
      auto end = line.find('"', le + 4);
      auto text = line.substr(le + 4, end - le - 4);
      double bound = text == "+Inf" ? INFINITY : std::strtod(text.c_str(), nullptr);
      double cum = std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
      h.buckets.emplace_back(bound, cum);
    } else if (line.rfind(total, 0) == 0) {
      h.count = std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
    }
  }
  return h;
}

// Median, min and max of one figure over the runs.
struct Spread {
  double median = 0, min = 0, max = 0;
};
inline Spread spread(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

}  // namespace bench
