// bench-ingest's open-loop HTTP load: unique form-encoded smart events over
// keep-alive connections, and the search for the peak rate.
//
// Open loop: request k is due at start + k/rate whatever happened before, and
// its latency counts from that due time, so a slow server shows up as latency
// (no coordinated omission). A step passes when every request got a 2xx, the
// last response arrived within kDrainLimit of the step's end (no backlog
// building up: past saturation open-loop latency grows without bound) and
// no hook vetoed it.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace isync::bench::ingest {

using Clock = std::chrono::steady_clock;

constexpr const char* kToken = "bench-token-0123456789abcdef";

struct StepResult {
  std::uint64_t target_rate = 0;
  std::uint64_t sent = 0, ok = 0, non2xx = 0, errors = 0;
  double achieved = 0;  // responses/s over the step
  double p50_ms = 0, p99_ms = 0;
  bool late = false;
  std::string veto;  // set by a hook: why the step does not count
  // Filled by hooks where they apply (0 = not measured).
  double redis_cpu_us_per_event = 0;
  double redis_cpu_share = 0;  // Redis CPU seconds per second of the step (1 = a core)
  double redis_bytes_per_event = 0;
  double backlog_s = 0;
  std::string first_non2xx;  // status and body of the first non-2xx answer
  bool pass() const { return non2xx == 0 && errors == 0 && !late && ok == sent && veto.empty(); }
};

// The request of event `n`: POST `target` with a form body whose recordno and
// whenmodified move with n (every event unique).
std::string event_request(const std::string& target, std::uint64_t n);

// One io thread's share of the load: its connections, at its share of the rate.
class LoadShard {
 public:
  LoadShard(std::uint16_t port, std::string target, int connections,
            std::atomic<std::uint64_t>& next_record);
  // Requests due from `start` (a common start for every shard).
  StepResult run(std::uint64_t rate, std::chrono::milliseconds duration, Clock::time_point start);
  const std::vector<double>& latencies() const { return latencies_; }

 private:
  struct Conn {
    explicit Conn(boost::asio::io_context& ioc) : socket(ioc) {}
    boost::asio::ip::tcp::socket socket;
    bool connected = false;
    bool busy = false;
    std::deque<Clock::time_point> due;
    std::string request;
    boost::beast::flat_buffer buffer;
    std::optional<boost::beast::http::response_parser<boost::beast::http::string_body>> parser;
  };

  void send_next(Conn& c);
  void done(Conn& c, const boost::beast::http::response<boost::beast::http::string_body>& res);
  void abandon();
  void fail(Conn& c);

  boost::asio::io_context ioc_;
  std::uint16_t port_;
  std::string target_;
  std::atomic<std::uint64_t>& next_record_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<double> latencies_;
  StepResult* result_ = nullptr;
  Clock::time_point start_;
  std::uint64_t issued_ = 0;
  std::uint64_t outstanding_ = 0;
  bool abandoning_ = false;
};

// The load over `connections` split across `threads` shards, each on its
// own thread and io_context (the rate split alike); a step's figures merged.
class Load {
 public:
  Load(std::uint16_t port, const std::string& target, int connections,
       std::atomic<std::uint64_t>& next_record, int threads);
  StepResult run(std::uint64_t rate, std::chrono::milliseconds duration);

 private:
  std::vector<std::unique_ptr<LoadShard>> shards_;
};

struct StepHooks {
  std::function<void()> before;            // e.g. reset Redis
  std::function<void(StepResult&)> after;  // e.g. Redis CPU, backlog (may veto)
};

struct PeakFigures {
  std::string name;
  StepResult peak, half;
  bool found() const { return peak.target_rate > 0; }
};

// Doubles the rate from `start_rate` until a step fails, then bisects (3
// times at most); then measures at half the peak. `smoke`: one step at
// start_rate and one at half of it, whatever they give.
PeakFigures find_peak(const std::string& name, Load& load, std::uint64_t start_rate,
                      std::chrono::milliseconds step, Clock::time_point deadline,
                      const StepHooks& hooks, bool smoke);

}  // namespace isync::bench::ingest
