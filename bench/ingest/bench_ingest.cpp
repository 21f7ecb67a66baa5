// bench-ingest: open-loop HTTP load against intacct-sync's events route and
// its no-op route (same server, same checks and parsing, no Redis), on the
// ordinary disk with appendfsync always. Prints the disk's fsync latency, the
// peak rate with zero non-2xx for each route over 32 keep-alive connections,
// p50/p99 at the peak and at half of it, and the ratio of the two peaks.
//
// Open loop: request k is due at start + k/rate whatever happened before, and
// its latency counts from that due time, so a slow server shows up as latency
// (no coordinated omission). A step passes when every request got a 2xx and
// the last response arrived within kDrainLimit of the step's end (no backlog
// building up: past saturation open-loop latency grows without bound).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr auto kDrainLimit = 250ms;          // a backlog left after a step makes it fail
constexpr std::uint64_t kMaxRate = 200'000;  // requests/s: the search never goes beyond
constexpr const char* kToken = "bench-token-0123456789abcdef";

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// ---- fsync latency ------------------------------------------------------------------

struct FsyncFigures {
  double p50_ms = 0, p99_ms = 0;
};

FsyncFigures measure_fsync(const std::string& dir) {
  const std::string path = dir + "/fsync-probe";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) throw std::runtime_error("cannot create " + path);
  std::array<char, 4096> block{};
  block.fill('x');
  std::vector<double> ms;
  for (int i = 0; i < 200; ++i) {
    auto t0 = Clock::now();
    if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()) ||
        ::fdatasync(fd) != 0) {
      ::close(fd);
      throw std::runtime_error("write/fdatasync failed in " + dir);
    }
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  ::close(fd);
  std::filesystem::remove(path);
  return {percentile(ms, 0.50), percentile(ms, 0.99)};
}

// ---- child processes ----------------------------------------------------------------

std::uint16_t free_port() {
  asio::io_context ioc;
  tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
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
  bool running() { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  pid_t pid_ = -1;
};

// One request/response on a fresh connection; for readiness probes.
int probe(std::uint16_t port, const std::string& raw_request, std::string_view expect) {
  try {
    asio::io_context ioc;
    tcp::socket s(ioc);
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    asio::write(s, asio::buffer(raw_request));
    std::array<char, 8192> buf{};
    auto n = s.read_some(asio::buffer(buf));
    return std::string_view(buf.data(), n).find(expect) != std::string_view::npos ? 1 : 0;
  } catch (const std::exception&) {
    return 0;
  }
}

bool wait_until(const std::function<bool()>& pred, std::chrono::seconds limit) {
  auto until = Clock::now() + limit;
  while (Clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

// ---- load generator -----------------------------------------------------------------

struct StepResult {
  std::uint64_t target_rate = 0;
  std::uint64_t sent = 0, ok = 0, non2xx = 0, errors = 0;
  double achieved = 0;  // responses/s over the step
  double p50_ms = 0, p99_ms = 0;
  bool late = false;
  bool pass() const { return non2xx == 0 && errors == 0 && !late && ok == sent; }
};

class Load {
 public:
  Load(std::uint16_t port, std::string target, int connections, std::uint64_t& next_record)
      : port_(port), target_(std::move(target)), next_record_(next_record) {
    for (int i = 0; i < connections; ++i) conns_.push_back(std::make_unique<Conn>(ioc_));
  }

  StepResult run(std::uint64_t rate, std::chrono::milliseconds duration) {
    StepResult r;
    r.target_rate = rate;
    result_ = &r;
    latencies_.clear();
    latencies_.reserve(
        static_cast<std::size_t>(rate * static_cast<std::uint64_t>(duration.count()) / 1000 + 16));
    const std::uint64_t total = rate * static_cast<std::uint64_t>(duration.count()) / 1000;
    start_ = Clock::now();
    issued_ = 0;
    outstanding_ = 0;
    asio::steady_timer tick(ioc_);
    std::function<void()> schedule = [&] {
      auto now = Clock::now();
      auto due = static_cast<std::uint64_t>(std::chrono::duration<double>(now - start_).count() *
                                            static_cast<double>(rate));
      due = std::min(due, total);
      while (issued_ < due) {
        auto when = start_ + std::chrono::nanoseconds(static_cast<std::int64_t>(
                                 static_cast<double>(issued_) * 1e9 / static_cast<double>(rate)));
        auto& c = *conns_[issued_ % conns_.size()];
        c.due.push_back(when);
        ++issued_;
        ++outstanding_;
        ++r.sent;
        if (!c.busy) send_next(c);
      }
      if (issued_ < total) {
        tick.expires_after(500us);
        tick.async_wait([&](boost::system::error_code ec) {
          if (!ec) schedule();
        });
      }
    };
    schedule();
    const auto end = start_ + duration;
    // Run until every response arrived, or the drain limit passed.
    while (true) {
      ioc_.run_for(10ms);
      ioc_.restart();
      if (issued_ == total && outstanding_ == 0) break;
      if (Clock::now() > end + kDrainLimit) {
        r.late = true;
        break;
      }
    }
    if (Clock::now() > end + kDrainLimit) r.late = true;
    auto elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    r.achieved = static_cast<double>(r.ok + r.non2xx) / std::max(elapsed, 1e-9);
    r.p50_ms = percentile(latencies_, 0.50);
    r.p99_ms = percentile(latencies_, 0.99);
    if (r.late) {
      // Abandon what is still in flight: fresh connections for the next step.
      r.errors += outstanding_;
      abandon();
    }
    result_ = nullptr;
    return r;
  }

 private:
  struct Conn {
    explicit Conn(asio::io_context& ioc) : socket(ioc) {}
    tcp::socket socket;
    bool connected = false;
    bool busy = false;
    std::deque<Clock::time_point> due;
    std::string request;
    boost::beast::flat_buffer buffer;
    std::optional<http::response_parser<http::string_body>> parser;
  };

  std::string make_request() {
    auto n = ++next_record_;
    // Every event unique: recordno and whenmodified both move.
    int sec = static_cast<int>(n % 60), min = static_cast<int>((n / 60) % 60),
        hour = static_cast<int>((n / 3600) % 24), day = static_cast<int>(1 + (n / 86400) % 28);
    char when[32];
    std::snprintf(when, sizeof when, "06/%02d/2024 %02d:%02d:%02d", day, hour, min, sec);
    std::string body = "object=CUSTOMER\naction=set\nrecordno=" + std::to_string(n) +
                       "\nwhenmodified=" + when + "\nCUSTOMERID=C" + std::to_string(n) +
                       "\nNAME=Bench customer";
    return "POST " + target_ + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + kToken +
           "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }

  void send_next(Conn& c) {
    if (c.due.empty()) {
      c.busy = false;
      return;
    }
    c.busy = true;
    if (!c.connected) {
      boost::system::error_code ec;
      c.socket = tcp::socket(ioc_);
      c.socket.connect({asio::ip::make_address("127.0.0.1"), port_}, ec);
      if (ec) return fail(c);
      c.socket.set_option(tcp::no_delay(true));
      c.connected = true;
    }
    c.request = make_request();
    asio::async_write(c.socket, asio::buffer(c.request),
                      [this, &c](boost::system::error_code ec, std::size_t) {
                        if (ec) return fail(c);
                        c.parser.emplace();
                        c.parser->body_limit(64 * 1024);
                        http::async_read(c.socket, c.buffer, *c.parser,
                                         [this, &c](boost::system::error_code ec2, std::size_t) {
                                           if (ec2) return fail(c);
                                           done(c, c.parser->get());
                                         });
                      });
  }

  void done(Conn& c, const http::response<http::string_body>& res) {
    if (abandoning_) {
      c.busy = false;
      return;
    }
    auto ms = std::chrono::duration<double, std::milli>(Clock::now() - c.due.front()).count();
    c.due.pop_front();
    --outstanding_;
    if (result_) {
      auto status = res.result_int();
      if (status >= 200 && status < 300) {
        ++result_->ok;
        latencies_.push_back(ms);
      } else {
        ++result_->non2xx;
      }
    }
    if (!res.keep_alive()) {
      boost::system::error_code ignored;
      c.socket.close(ignored);
      c.connected = false;
    }
    send_next(c);
  }

  // Closes every connection and waits for their handlers, so no handler is
  // left pointing into a step that has ended.
  void abandon() {
    abandoning_ = true;
    for (auto& c : conns_) {
      boost::system::error_code ignored;
      c->socket.close(ignored);
      c->connected = false;
    }
    auto until = Clock::now() + 5s;
    while (Clock::now() < until &&
           std::any_of(conns_.begin(), conns_.end(), [](const auto& c) { return c->busy; })) {
      ioc_.run_for(10ms);
      ioc_.restart();
    }
    for (auto& c : conns_) c->due.clear();
    outstanding_ = 0;
    abandoning_ = false;
  }

  void fail(Conn& c) {
    if (abandoning_) {
      c.busy = false;
      return;
    }
    boost::system::error_code ignored;
    c.socket.close(ignored);
    c.connected = false;
    c.due.pop_front();
    --outstanding_;
    if (result_) ++result_->errors;
    send_next(c);
  }

  asio::io_context ioc_;
  std::uint16_t port_;
  std::string target_;
  std::uint64_t& next_record_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<double> latencies_;
  StepResult* result_ = nullptr;
  Clock::time_point start_;
  std::uint64_t issued_ = 0;
  std::uint64_t outstanding_ = 0;
  bool abandoning_ = false;
};

struct RouteFigures {
  std::string name;
  StepResult peak, half;
};

void print_step(const std::string& route, const StepResult& r) {
  std::printf(
      "  %-7s %8llu/s  sent %7llu  2xx %7llu  non-2xx %4llu  errors %4llu%s  p50 %7.2f ms  p99 "
      "%7.2f ms  %s\n",
      route.c_str(), static_cast<unsigned long long>(r.target_rate),
      static_cast<unsigned long long>(r.sent), static_cast<unsigned long long>(r.ok),
      static_cast<unsigned long long>(r.non2xx), static_cast<unsigned long long>(r.errors),
      r.late ? " late" : "", r.p50_ms, r.p99_ms, r.pass() ? "pass" : "FAIL");
  std::fflush(stdout);
}

// Doubles the rate until a step fails, then bisects; returns the peak's
// figures and the figures at half the peak.
RouteFigures find_peak(const std::string& name, Load& load, std::uint64_t start_rate,
                       std::chrono::milliseconds step, Clock::time_point deadline,
                       const std::function<void()>& reset) {
  std::uint64_t good = 0, bad = 0;
  StepResult best;
  for (std::uint64_t rate = start_rate; rate <= kMaxRate && Clock::now() < deadline; rate *= 2) {
    reset();
    auto r = load.run(rate, step);
    print_step(name, r);
    if (!r.pass()) {
      bad = rate;
      break;
    }
    good = rate;
    best = r;
  }
  for (int i = 0; i < 3 && bad > good + good / 16 && good > 0 && Clock::now() < deadline; ++i) {
    auto mid = (good + bad) / 2;
    reset();
    auto r = load.run(mid, step);
    print_step(name, r);
    if (r.pass()) {
      good = mid;
      best = r;
    } else {
      bad = mid;
    }
  }
  RouteFigures f{name, best, {}};
  if (good > 0) {
    reset();
    f.half = load.run(std::max<std::uint64_t>(1, good / 2), step);
    print_step(name, f.half);
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"bench-ingest: peak accepted events/s vs the HTTP ceiling"};
  std::string binary =
#ifdef ISYNC_BINARY
      ISYNC_BINARY;
#else
      "intacct-sync";
#endif
  std::string workdir = "var/bench";
  int connections = 32;
  int step_ms = 3000;
  int budget_s = 170;
  std::uint64_t start_rate = 500;
  int workers = 4;
  cli.add_option("--binary", binary, "the intacct-sync executable");
  cli.add_option("--workdir", workdir, "Redis data and logs (on the disk under test, not tmpfs)");
  cli.add_option("--connections", connections, "keep-alive connections")
      ->check(CLI::Range(1, 1024));
  cli.add_option("--step-ms", step_ms, "length of each rate step")->check(CLI::Range(500, 60000));
  cli.add_option("--budget-seconds", budget_s, "stop searching after this long")
      ->check(CLI::Range(10, 3600));
  cli.add_option("--start-rate", start_rate, "first rate tried (requests/s)")
      ->check(CLI::Range(1, 100000));
  cli.add_option("--workers", workers,
                 "queue.workers of the service: 0 measures a listener-only process (workers in "
                 "another process), 4 the default process that also applies every event")
      ->check(CLI::Range(0, 64));
  CLI11_PARSE(cli, argc, argv);

  try {
    const auto deadline = Clock::now() + std::chrono::seconds(budget_s);
    std::filesystem::remove_all(workdir + "/redis");
    std::filesystem::create_directories(workdir + "/redis");
    workdir = std::filesystem::canonical(workdir).string();

    auto fsync = measure_fsync(workdir + "/redis");
    std::printf(
        "fsync latency of %s (4 KiB write + fdatasync, 200 times): p50 %.2f ms, p99 %.2f ms\n",
        workdir.c_str(), fsync.p50_ms, fsync.p99_ms);

    const auto redis_port = free_port();
    Child redis({"redis-server", "--port", std::to_string(redis_port), "--bind", "127.0.0.1",
                 "--dir", workdir + "/redis", "--save", "", "--appendonly", "yes", "--appendfsync",
                 "always", "--maxmemory-policy", "noeviction", "--daemonize", "no"},
                workdir + "/redis.log");
    if (!wait_until([&] { return probe(redis_port, "PING\r\n", "+PONG") == 1; }, 10s))
      throw std::runtime_error("redis-server did not start; see " + workdir + "/redis.log");

    const auto public_port = free_port();
    const auto admin_port = free_port();
    const std::string config = workdir + "/bench.toml";
    std::ofstream(config) << "[server]\npublic_listen = \"127.0.0.1:" << public_port
                          << "\"\nadmin_listen = \"127.0.0.1:" << admin_port
                          << "\"\nnoop_route = true\n[redis]\nurl = \"redis://127.0.0.1:"
                          << redis_port << "/0\"\n[queue]\nworkers = " << workers
                          << "\n[log]\nlevel = \"warn\"\n[[tenant]]\nid = \"bench\"\n"
                             "token = \"env:BENCH_TENANT_TOKEN\"\n";
    Child service({binary, "serve", "--config", config}, workdir + "/service.log",
                  {std::string("BENCH_TENANT_TOKEN=") + kToken});
    if (!wait_until(
            [&] {
              return probe(public_port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", " 200 ") == 1;
            },
            20s))
      throw std::runtime_error("intacct-sync did not start; see " + workdir + "/service.log");

    std::uint64_t record = 0;
    Load events(public_port, "/v1/intacct/bench/events", connections, record);
    Load noop(public_port, "/v1/noop/bench/events", connections, record);
    const std::chrono::milliseconds step(step_ms);
    // Split the budget so the second route always gets its turn.
    auto mid = Clock::now() + (deadline - Clock::now()) / 2;
    std::printf(
        "\nsearching the peak (%d connections, %d ms steps, open loop, queue.workers = %d):\n",
        connections, step_ms, workers);
    // Every step starts from the same Redis: with --workers 0 nothing drains
    // the stream, and a growing data set makes Redis rewrite its AOF (a fork
    // on busy cores) in the middle of later steps. FLUSHALL would also drop
    // the workers' consumer group, so with workers the AOF is only compacted.
    auto reset = [&] {
      if (workers == 0) probe(redis_port, "FLUSHALL\r\n", "+OK");
      probe(redis_port, "BGREWRITEAOF\r\n", "ackground");
      wait_until(
          [&] {
            return probe(redis_port, "INFO persistence\r\n", "aof_rewrite_in_progress:0") == 1;
          },
          60s);
    };
    auto ev = find_peak("events", events, start_rate, step, mid, reset);
    auto np = find_peak("noop", noop, start_rate, step, deadline, reset);
    service.stop();
    redis.stop();

    std::printf("\n%-28s %12s %10s %10s %12s %10s %10s\n", "route", "peak ev/s", "p50 ms", "p99 ms",
                "half ev/s", "p50 ms", "p99 ms");
    for (const auto* f : {&ev, &np}) {
      std::printf("%-28s %12llu %10.2f %10.2f %12llu %10.2f %10.2f\n",
                  f == &ev ? "POST /v1/intacct/{t}/events" : "POST /v1/noop/{t}/events",
                  static_cast<unsigned long long>(f->peak.target_rate), f->peak.p50_ms,
                  f->peak.p99_ms, static_cast<unsigned long long>(f->half.target_rate),
                  f->half.p50_ms, f->half.p99_ms);
    }
    double ratio = np.peak.target_rate ? static_cast<double>(ev.peak.target_rate) /
                                             static_cast<double>(np.peak.target_rate)
                                       : 0;
    std::printf(
        "\nratio events peak / no-op peak: %.2f (goal >= 0.5); events p99 at half peak: "
        "%.2f ms (goal <= 5 ms)\n",
        ratio, ev.half.p99_ms);
    std::printf("fsync p50 %.2f ms, p99 %.2f ms; appendfsync always; Redis data in %s\n",
                fsync.p50_ms, fsync.p99_ms, (workdir + "/redis").c_str());
    std::printf("reproduce: ./bench/ingest/run.sh --workers %d\n", workers);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-ingest: %s\n", e.what());
    return 1;
  }
}
