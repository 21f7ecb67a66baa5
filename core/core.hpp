// core — the vocabulary every other module shares.
//
// Contract:
//  * `Error` / `Result<T>`: errors as values at module boundaries. `code` is a
//    stable machine-readable word (it becomes the API's error code where the
//    error reaches a client); `message` says what happened, which field or
//    record, and what to do. Messages never carry secrets.
//  * `Clock`: the only source of "now" in the service, passed in so that
//    backoff, windows and schedules are testable without sleeping.
//  * `make_ulid`: time-ordered unique ids for events (thread-safe).
//  * `parse_whenmodified`: Intacct date/time text -> UTC epoch seconds; every
//    form accepted is listed on the function, anything else is an error.
//  * `local_date`: the date of an instant in a named time zone, from the
//    system's time zone database (never a hand-kept table of offsets).
//  * `Metrics`: a thread-safe Prometheus registry. Handles returned by
//    counter()/gauge()/histogram() stay valid for the registry's lifetime and
//    may be used from any thread without locking.
//  * `Log`: one JSON object per line on stderr (or a sink given in tests).
//    Thread-safe. Callers pass only non-secret fields.
//  * `make_strand_executor`: a new strand on an executor, as an any_io_executor.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/system/result.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace isync {

// A failure crossing a module boundary.
struct Error {
  std::string code;     // stable word, e.g. "malformed_body", "redis_io"
  std::string message;  // for humans: what, which, what to do
};

[[noreturn]] void throw_exception_from_error(const Error& e, const boost::source_location& loc);

// "code: message" — for test output and logs.
std::ostream& operator<<(std::ostream& os, const Error& e);

template <class T>
using Result = boost::system::result<T, Error>;

inline Error make_error(std::string code, std::string message) {
  return Error{std::move(code), std::move(message)};
}

// A secret value (token, password, key). Printing it shows `***`, so a
// Secret can sit in any struct that is logged or rendered without leaking;
// only reveal() gives the value.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  const std::string& reveal() const { return value_; }
  bool empty() const { return value_.empty(); }
  friend std::ostream& operator<<(std::ostream& os, const Secret&) { return os << "***"; }

 private:
  std::string value_;
};

// ---- Clock -----------------------------------------------------------------

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch, wall clock.
  virtual std::int64_t now_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::int64_t now_ms() const override;
};

// A clock tests move by hand. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t start_ms) : now_(start_ms) {}
  std::int64_t now_ms() const override { return now_.load(); }
  void set(std::int64_t ms) { now_.store(ms); }
  void advance(std::int64_t ms) { now_.fetch_add(ms); }

 private:
  std::atomic<std::int64_t> now_;
};

// ---- Ids -------------------------------------------------------------------

// A ULID (26 Crockford base32 characters): 48-bit millisecond time then 80
// random bits. Ids minted by one process within one millisecond are strictly
// increasing, so ids sort by acceptance time.
std::string make_ulid(std::int64_t now_ms);

// Tenant ids are [a-z0-9_-]{1,64}; they appear in URLs and Redis hash tags.
bool valid_tenant_id(std::string_view id);

// Lower-case hex SHA-256 / SHA-1 of `data`.
std::string sha256_hex(std::string_view data);
std::string sha1_hex(std::string_view data);

// `text` cut to at most `max_chars` bytes, with "..." appended when cut: for
// quoting client-supplied values in messages without echoing megabytes. The
// cut never splits a UTF-8 sequence (it backs off up to 3 bytes).
std::string shorten(std::string_view text, std::size_t max_chars);

// Constant-time equality (length leaks, content does not).
bool constant_time_equal(std::string_view a, std::string_view b);

// A new strand on `ex`. When `ex` is an io_context's executor the strand is
// built on that concrete type: strand<io_context::executor_type> fits inside
// an any_io_executor, whereas strand<any_io_executor> is heap-allocated on
// every copy and prefer() — several times per async operation.
boost::asio::any_io_executor make_strand_executor(const boost::asio::any_io_executor& ex);

// ---- Intacct dates -----------------------------------------------------------

// Parses a WHENMODIFIED value into UTC epoch seconds. Accepted forms:
//   MM/DD/YYYY HH:MM:SS   (what Intacct returns; no zone, taken as UTC)
//   MM/DD/YYYY            (midnight UTC)
//   YYYY-MM-DD            (midnight UTC)
//   YYYY-MM-DDTHH:MM:SS[.fraction][Z|+HH:MM|-HH:MM|+HHMM]  (no zone = UTC)
// Fields are range-checked (month 1-12, day within the month, hour < 24,
// minute < 60, second < 60). Anything else is an error naming the value.
Result<std::int64_t> parse_whenmodified(std::string_view text);

// Formats epoch seconds as Intacct's `MM/DD/YYYY HH:MM:SS` (UTC).
std::string format_whenmodified(std::int64_t epoch_seconds);

// The proleptic Gregorian calendar (H. Hinnant's algorithms): days since
// 1970-01-01 of a date, and back; month 1-12, day 1-31, not range-checked.
struct CivilDay {
  std::int64_t year = 1970;
  unsigned month = 1, day = 1;
};
std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day);
CivilDay civil_from_days(std::int64_t days);

// True when `tz` names a zone of the system's time zone database
// (/usr/share/zoneinfo, package tzdata): "UTC", "America/New_York".
// Thread-safe; the first call reads the database's zone list.
bool valid_timezone(std::string_view tz);

// The calendar date of `epoch_s` in zone `tz`, as Intacct writes dates:
// "MM/DD/YYYY". Error{"invalid_timezone", "unknown time zone '<tz>'"} for an
// unknown zone. Thread-safe.
Result<std::string> local_date(std::int64_t epoch_s, std::string_view tz);

// ---- Metrics -----------------------------------------------------------------

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  // For a counter that mirrors a total kept elsewhere (e.g. summed in Redis by
  // every process, read at scrape time): the exposition shows `total`. A
  // counter is either counted here (inc) or mirrored (set), never both; a
  // total that goes down (the source was reset) reads as a counter reset.
  void set(std::uint64_t total) { value_.store(total, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Cumulative histogram with fixed upper bounds (seconds, by convention).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // Snapshot for exposition: per-bound cumulative counts, then +Inf count and sum.
  void snapshot(std::vector<std::uint64_t>& cumulative, std::uint64_t& count, double& sum) const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // one per bound, plus +Inf
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Default latency buckets in seconds: 100 µs .. 10 s.
std::vector<double> latency_buckets();

class Metrics {
 public:
  Metrics() = default;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // `name` is the full metric name; `help` its HELP text. The same
  // name+labels returns the same handle.
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help, const Labels& labels = {},
                       std::vector<double> bounds = latency_buckets());

  // Called at each scrape before rendering (e.g. to refresh queue gauges).
  void on_scrape(std::function<void()> hook);

  // Prometheus text exposition format 0.0.4.
  std::string render() const;

 private:
  enum class Kind { counter, gauge, histogram };
  struct Family {
    Kind kind;
    std::string help;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Gauge>> gauges;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
  };
  Family& family(const std::string& name, const std::string& help, Kind kind);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
  std::vector<std::function<void()>> hooks_;
};

// ---- Logging -----------------------------------------------------------------

// A JSON log line's fields, in order. Values are strings or integers.
class LogLine {
 public:
  LogLine& str(std::string_view key, std::string_view value);
  LogLine& num(std::string_view key, std::int64_t value);
  const std::string& body() const { return body_; }

 private:
  std::string body_;  // `"k":v` pairs, comma-separated
};

enum class Level { debug, info, warn, error };

class Log {
 public:
  using Sink = std::function<void(std::string_view line)>;
  // Writes to stderr through spdlog (thread-safe, UTC timestamps) when
  // `sink` is empty; tests pass a sink to capture lines.
  explicit Log(Level min = Level::info, Sink sink = {});
  ~Log();
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;
  // Emits {"ts":"…","level":"…","msg":"…",<fields>}.
  void write(Level level, std::string_view msg, const LogLine& fields = {});
  void info(std::string_view msg, const LogLine& f = {}) { write(Level::info, msg, f); }
  void warn(std::string_view msg, const LogLine& f = {}) { write(Level::warn, msg, f); }
  void error(std::string_view msg, const LogLine& f = {}) { write(Level::error, msg, f); }

 private:
  struct Impl;
  Level min_;
  std::unique_ptr<Impl> impl_;
};

// JSON string escaping (RFC 8259), for hand-built lines.
void append_json_string(std::string& out, std::string_view s);

}  // namespace isync
