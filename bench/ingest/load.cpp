#include "bench/ingest/load.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <thread>

#include "bench/common/stats.hpp"

namespace isync::bench::ingest {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr auto kDrainLimit = 250ms;          // a backlog left after a step makes it fail
constexpr std::uint64_t kMaxRate = 400'000;  // requests/s: the search never goes beyond

}  // namespace

std::string event_request(const std::string& target, std::uint64_t n) {
  // Every event unique: recordno and whenmodified both move.
  int sec = static_cast<int>(n % 60), min = static_cast<int>((n / 60) % 60),
      hour = static_cast<int>((n / 3600) % 24), day = static_cast<int>(1 + (n / 86400) % 28);
  char when[32];
  std::snprintf(when, sizeof when, "06/%02d/2024 %02d:%02d:%02d", day, hour, min, sec);
  std::string body = "object=CUSTOMER\naction=set\nrecordno=" + std::to_string(n) +
                     "\nwhenmodified=" + when + "\nCUSTOMERID=C" + std::to_string(n) +
                     "\nNAME=Bench customer";
  return "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + kToken +
         "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

LoadShard::LoadShard(std::uint16_t port, std::string target, int connections,
                     std::atomic<std::uint64_t>& next_record)
    : port_(port), target_(std::move(target)), next_record_(next_record) {
  for (int i = 0; i < connections; ++i) conns_.push_back(std::make_unique<Conn>(ioc_));
}

StepResult LoadShard::run(std::uint64_t rate, std::chrono::milliseconds duration,
                          Clock::time_point start) {
  StepResult r;
  r.target_rate = rate;
  result_ = &r;
  latencies_.clear();
  const std::uint64_t total = rate * static_cast<std::uint64_t>(duration.count()) / 1000;
  latencies_.reserve(static_cast<std::size_t>(total + 16));
  std::this_thread::sleep_until(start);
  start_ = start;
  issued_ = 0;
  outstanding_ = 0;
  asio::steady_timer tick(ioc_);
  std::function<void()> schedule = [&] {
    auto now = Clock::now();
    // Request k is due at k / rate: by now, floor(elapsed * rate) + 1 of them.
    auto due = static_cast<std::uint64_t>(std::chrono::duration<double>(now - start_).count() *
                                          static_cast<double>(rate)) +
               1;
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

void LoadShard::send_next(Conn& c) {
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
  c.request = event_request(target_, ++next_record_);
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

void LoadShard::done(Conn& c, const http::response<http::string_body>& res) {
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
      if (result_->first_non2xx.empty())
        result_->first_non2xx = std::to_string(status) + " " + res.body().substr(0, 200);
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
void LoadShard::abandon() {
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

void LoadShard::fail(Conn& c) {
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

Load::Load(std::uint16_t port, const std::string& target, int connections,
           std::atomic<std::uint64_t>& next_record, int threads) {
  threads = std::max(1, std::min(threads, connections));
  for (int i = 0; i < threads; ++i) {
    int share = connections / threads + (i < connections % threads ? 1 : 0);
    shards_.push_back(std::make_unique<LoadShard>(port, target, share, next_record));
  }
}

StepResult Load::run(std::uint64_t rate, std::chrono::milliseconds duration) {
  const auto n = static_cast<std::uint64_t>(shards_.size());
  std::vector<StepResult> parts(shards_.size());
  const auto start = Clock::now() + 2ms;
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    const std::uint64_t share = rate / n + (i < rate % n ? 1 : 0);
    threads.emplace_back([&, i, share] {
      if (share > 0) parts[i] = shards_[i]->run(share, duration, start);
    });
  }
  for (auto& t : threads) t.join();
  StepResult r;
  r.target_rate = rate;
  std::vector<double> latencies;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& p = parts[i];
    r.sent += p.sent;
    r.ok += p.ok;
    r.non2xx += p.non2xx;
    r.errors += p.errors;
    r.achieved += p.achieved;
    r.late = r.late || p.late;
    if (r.first_non2xx.empty()) r.first_non2xx = p.first_non2xx;
    const auto& l = shards_[i]->latencies();
    latencies.insert(latencies.end(), l.begin(), l.end());
  }
  r.p50_ms = percentile(latencies, 0.50);
  r.p99_ms = percentile(latencies, 0.99);
  return r;
}

namespace {

void print_step(const std::string& name, const StepResult& r) {
  std::printf(
      "  %-10s %8llu/s  sent %7llu  2xx %7llu  non-2xx %4llu  errors %4llu%s  p50 %7.2f ms  p99 "
      "%7.2f ms",
      name.c_str(), static_cast<unsigned long long>(r.target_rate),
      static_cast<unsigned long long>(r.sent), static_cast<unsigned long long>(r.ok),
      static_cast<unsigned long long>(r.non2xx), static_cast<unsigned long long>(r.errors),
      r.late ? " late" : "", r.p50_ms, r.p99_ms);
  if (r.redis_cpu_us_per_event > 0)
    std::printf("  Redis %.1f us/event, %.0f%% of a core", r.redis_cpu_us_per_event,
                r.redis_cpu_share * 100);
  if (r.backlog_s > 0) std::printf("  backlog %.2f s", r.backlog_s);
  std::printf("  %s%s%s\n", r.pass() ? "pass" : "FAIL", r.veto.empty() ? "" : ": ", r.veto.c_str());
  if (!r.first_non2xx.empty()) std::printf("    first non-2xx: %s\n", r.first_non2xx.c_str());
  std::fflush(stdout);
}

StepResult step(const std::string& name, Load& load, std::uint64_t rate,
                std::chrono::milliseconds length, const StepHooks& hooks) {
  if (hooks.before) hooks.before();
  auto r = load.run(rate, length);
  if (hooks.after) hooks.after(r);
  print_step(name, r);
  return r;
}

}  // namespace

PeakFigures find_peak(const std::string& name, Load& load, std::uint64_t start_rate,
                      std::chrono::milliseconds length, Clock::time_point deadline,
                      const StepHooks& hooks, bool smoke) {
  PeakFigures f{name, {}, {}};
  if (smoke) {
    f.peak = step(name, load, start_rate, length, hooks);
    f.half = step(name, load, std::max<std::uint64_t>(1, start_rate / 2), length, hooks);
    return f;
  }
  std::uint64_t good = 0, bad = 0;
  for (std::uint64_t rate = start_rate; rate <= kMaxRate && Clock::now() < deadline; rate *= 2) {
    auto r = step(name, load, rate, length, hooks);
    if (!r.pass()) {
      bad = rate;
      break;
    }
    good = rate;
    f.peak = r;
  }
  for (int i = 0; i < 3 && bad > good + good / 16 && good > 0 && Clock::now() < deadline; ++i) {
    auto mid = (good + bad) / 2;
    auto r = step(name, load, mid, length, hooks);
    if (r.pass()) {
      good = mid;
      f.peak = r;
    } else {
      bad = mid;
    }
  }
  if (good > 0) f.half = step(name, load, std::max<std::uint64_t>(1, good / 2), length, hooks);
  return f;
}

}  // namespace isync::bench::ingest
