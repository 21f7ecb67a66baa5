// bench-apply's own plumbing (the shared pieces are in bench/common): the
// HTTP load (closed loop to fill the queue, open loop at a fixed rate) and
// the service's /metrics.
#pragma once

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
#include <iterator>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace isync::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

inline constexpr const char* kToken = "bench-token-0123456789abcdef";
inline constexpr const char* kAdminToken = "bench-admin-token-0123456789abcdef";

// A process's CPU time so far (user + system), seconds; 0 when unknown.
inline double process_cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  // Fields 3.. after the name: state is 3, utime 14, stime 15.
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::strtod(field.c_str(), nullptr);
    if (i == 15) stime = std::strtod(field.c_str(), nullptr);
  }
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// A smart event's body: CUSTOMER `n`, a snapshot of a few fields, a
// WHENMODIFIED that moves with n (every event unique). revision 1: the same
// record a year later, every field named again and STATUS changed.
inline std::string event_body(std::uint64_t n, int revision = 0) {
  int sec = static_cast<int>(n % 60), min = static_cast<int>((n / 60) % 60),
      hour = static_cast<int>((n / 3600) % 24), day = static_cast<int>(1 + (n / 86400) % 28);
  char when[32];
  std::snprintf(when, sizeof when, "06/%02d/%d %02d:%02d:%02d", day, 2024 + revision, hour, min,
                sec);
  return "object=CUSTOMER\naction=set\nrecordno=" + std::to_string(n) + "\nwhenmodified=" + when +
         "\nCUSTOMERID=C" + std::to_string(n) + "\nNAME=Bench customer " + std::to_string(n) +
         "\nSTATUS=" + (revision ? "inactive" : "active") +
         "\nCURRENCY=USD\nTERMNAME=Net 30\nEMAIL1=ap" + std::to_string(n) + "@example.com";
}

// HTTP load on `connections` keep-alive connections, one thread each.
// rate 0: closed loop (each connection posts as soon as the last answer
// came); else open loop, request k due at start + k / rate (a late one is
// sent at once). A 503 is sent again (counted in *unavailable_out). Returns
// the 2xx count; any other answer or error throws.
inline std::uint64_t post_events(std::uint16_t port, int connections, std::uint64_t first,
                                 std::uint64_t count, double rate,
                                 std::uint64_t* unavailable_out = nullptr, int revision = 0) {
  std::atomic<std::uint64_t> next{0}, ok{0}, unavailable{0};
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
        // A 503 (the queue unavailable for a moment: not accepted) is sent
        // again, as Intacct would; anything else that is not 2xx fails.
        for (int attempt = 0;; ++attempt) {
          http::request<http::string_body> req{http::verb::post, "/v1/intacct/bench/events", 11};
          req.set(http::field::host, "127.0.0.1");
          req.set(http::field::authorization, std::string("Bearer ") + kToken);
          req.set(http::field::content_type, "application/x-www-form-urlencoded");
          req.body() = event_body(first + k, revision);
          req.prepare_payload();
          stream.expires_after(30s);
          http::write(stream, req);
          http::response<http::string_body> res;
          http::read(stream, buffer, res);
          if (res.result_int() == 503 && attempt < 100) {
            ++unavailable;
            std::this_thread::sleep_for(100ms);
            continue;
          }
          if (res.result_int() / 100 != 2)
            throw std::runtime_error("answer " + std::to_string(res.result_int()) + ": " +
                                     res.body());
          break;
        }
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
  if (unavailable_out) *unavailable_out = unavailable;
  return ok;
}

// GET `target` from 127.0.0.1:`port` (with a bearer token when given); the
// body, or "" on any failure.
inline std::string http_get(std::uint16_t port, const std::string& target,
                            const std::string& bearer = {}) {
  try {
    asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
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

}  // namespace isync::bench
