// bench-thin's parts: the options, the records changed and each change's
// life (made, delivered, answered), the driver that makes the changes and
// delivers their events (driver.cpp), the check of the mirror against the
// changes (mirror_check.cpp) and the figures (report.cpp). The driver
// thread's only, but for Driver::run, which runs its own threads and joins
// them; every wait has a deadline.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "bench/common/http_client.hpp"
#include "bench/common/redis.hpp"

namespace isync::bench::thin {

using Steady = std::chrono::steady_clock;

// The deadline of each HTTP request the bench makes.
inline constexpr std::chrono::seconds kRequestTimeout{10};

struct Options {
  std::string service_binary, sandbox_binary, workdir = "var/bench-thin";
  int deliveries = 10000;
  double redeliver = 0.30;  // share of all deliveries that are redeliveries
  double late = 0.10;       // share of first deliveries held back
  double rate = 300;        // changes per second
  std::uint64_t seed = 1;
  int post_threads = 8;
  int workers = 4;
  int concurrency = 2;        // tenant.concurrency: Intacct calls in flight
  int read_batch_window = 0;  // ms; 0 = the service's default
  bool read_at_once = false;  // intacct.read_after_settle = false
  int customers = 500, invoices = 2000;
  int drain_seconds = 120;
};

struct Target {
  std::string object;  // CUSTOMER | ARINVOICE
  std::int64_t recordno = 0;
};

// Which field a change sets: unique per change, so the mirror shows which
// change it holds.
const char* changed_field(const std::string& object);

struct Change {
  std::size_t target = 0;
  std::string value;
  bool late = false;
  bool redelivered = false;
  // Filled by the change thread.
  bool made = false;
  std::int64_t t_ms = 0;  // system clock just before the PATCH was sent
  std::string whenmodified;
  std::int64_t version = 0;
  std::string body;
  // Filled by the first delivery.
  int status = 0;
  bool duplicate = false;
  std::string event_id;
};

struct Task {
  Steady::time_point due;
  std::size_t change = 0;
  bool redelivery = false;
  bool operator>(const Task& o) const { return due > o.due; }
};

struct Counts {
  std::int64_t deliveries = 0, accepted = 0, errors = 0;
  std::int64_t first_duplicate = 0;  // a first delivery answered "duplicate":true
  std::int64_t redeliveries = 0, redelivery_duplicate = 0;
  std::int64_t late = 0;
  std::int64_t patch_errors = 0;
};

class Driver {
 public:
  Driver(const Options& o, std::vector<Target> targets, std::uint16_t control_port,
         std::uint16_t public_port, std::string tenant_token)
      : o_(o),
        targets_(std::move(targets)),
        control_port_(control_port),
        public_port_(public_port),
        tenant_token_(std::move(tenant_token)) {}

  // Draws the changes, which of them are redelivered or late, and the delays:
  // a seed fixes the whole plan.
  void plan();

  // Makes the changes at the rate and delivers their events; returns when
  // every delivery got its answer.
  void run();

  const std::vector<Change>& changes() const { return changes_; }
  const std::vector<Target>& targets() const { return targets_; }
  const Counts& counts() const { return counts_; }
  double elapsed() const { return elapsed_; }
  double change_elapsed() const { return change_elapsed_; }

 private:
  void change_loop();
  void post_loop();

  const Options& o_;
  std::vector<Target> targets_;
  std::uint16_t control_port_, public_port_;
  std::string tenant_token_;
  std::vector<Change> changes_;
  std::vector<std::chrono::milliseconds> late_delay_, redelivery_delay_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<Task, std::vector<Task>, std::greater<>> tasks_;
  bool changes_done_ = false;
  int in_flight_ = 0;
  Counts counts_;
  Steady::time_point start_, changes_end_;
  double elapsed_ = 0, change_elapsed_ = 0;
};

// Every record of `object` in the sandbox (paged through the control API);
// draft invoices are left out, since the mirror does not keep drafts.
std::vector<Target> list_records(HttpClient& control, const std::string& object);

// The tenant's Redis key with `suffix` ("events", "rec:CUSTOMER:7", …).
std::string rkey(const std::string& suffix);

struct QueueState {
  long long stream = 0, pending = 0, retry = 0, parked = 0, dead = 0;
  long long recheck = 0;  // records whose (deferred) read is still due
  bool drained() const { return stream == 0 && pending == 0 && retry == 0 && recheck == 0; }
};

QueueState queue_state(RedisClient& redis);

// What the mirror holds against the changes made: the records whose last
// change is not in the mirror, and each change's change-to-mirror latency
// from the audit trail (see mirror_check.cpp).
struct MirrorCheck {
  std::size_t records = 0;  // records changed
  std::int64_t made = 0;    // changes made
  std::int64_t mismatches = 0, mismatch_same_second = 0, mismatch_dup = 0;
  std::vector<std::string> mismatch_lines;  // the first 5
  std::vector<double> latency_ms, latency_on_time_ms, latency_late_ms, latency_dup_ms;
  std::int64_t dup_changes = 0, dup_not_seen = 0;
  std::int64_t not_seen = 0, same_second_changes = 0;
};

// Reads every changed record and its audit trail back from Redis; one line
// per change into `<workdir>/changes.tsv`.
MirrorCheck check_mirror(const Driver& driver, RedisClient& redis, const std::string& workdir);

// What the queue and the mirror ended as.
struct Outcome {
  bool drained = false;
  double drain_s = 0;
  QueueState q;
};

// The figures: deliveries, reads (sandbox /v1/stats and the service's
// /metrics), latency and mismatches, and the line that reproduces the run.
void print_report(const Options& o, const Counts& counts, const MirrorCheck& check,
                  const Outcome& outcome, HttpClient& control, std::uint16_t admin_port,
                  const std::string& admin_token);

}  // namespace isync::bench::thin
