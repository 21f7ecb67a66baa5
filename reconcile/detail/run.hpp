// One reconcile run of one tenant. Internal to reconcile/: Reconciler starts
// it after taking the lock; everything it does runs on its strand.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "handlers/mirror_sync.hpp"
#include "handlers/payment_settle.hpp"
#include "reconcile/detail/gate.hpp"
#include "reconcile/detail/report.hpp"
#include "reconcile/reconcile.hpp"

namespace isync::reconcile::detail {

struct RunDeps {
  std::shared_ptr<redis::Connection> conn;
  std::shared_ptr<handlers::MirrorSync> mirror;
  std::shared_ptr<handlers::PaymentSettler> payments;
  std::shared_ptr<intacct::Client> client;
  Options options;
  TenantPlan plan;
  Metrics* metrics = nullptr;
  Clock* clock = nullptr;
  Log* log = nullptr;
};

// A row of the listing.
struct Listed {
  std::int64_t recordno = 0;
  std::string key;  // RECORDNO text
  std::int64_t version = 0;
  std::string whenmodified, state, totaldue;
  bool draft = false;
};

class Run : public std::enable_shared_from_this<Run> {
 public:
  using Strand = boost::asio::strand<boost::asio::any_io_executor>;
  Run(Strand strand, RunDeps deps, RunRequest request, std::string run_id, std::string fence_value);
  // Runs to the end; `done` gets the final report.
  void begin(std::function<void(const Report&)> done);
  void stop();
  const std::string& run_id() const { return report_.run_id; }

 private:
  // Lifecycle.
  void load_since();
  void next_object();
  void end_object();
  void payments();
  void finish(std::string state, std::string failure = {});
  bool halted();  // stop asked or lock lost: finishes and returns true
  void write_progress(std::function<void()> then = {});
  void renew_lock();
  void on_failure(const intacct::CallOutcome& outcome, const std::string& what,
                  std::function<void()> object_over);
  // Listing and comparison, in segments of RECORDNOs listed side by side:
  // the first page lists from 0; when the mirror's highest RECORDNO says much
  // is left and more than one call is allowed (parallel()), the rest is split
  // into parallel() segments, each paged by key on its own. Within a
  // segment the next page is asked for as soon as a page arrives (its key is
  // known), while the page is compared and its reads made.
  void list_page(std::size_t segment);
  void send_page(std::size_t segment, std::function<void(intacct::CallOutcome)> done);
  void prefetch_page(std::size_t segment);
  void next_page(std::size_t segment);
  void split(std::int64_t from);
  void on_page(std::size_t segment, const intacct::CallOutcome& outcome);
  void compare(std::shared_ptr<std::vector<Listed>> rows, std::size_t from, std::int64_t after,
               std::optional<std::int64_t> upto, std::function<void()> then);
  void compare_entries(const std::vector<Listed>& rows, std::size_t& i,
                       const std::vector<handlers::IndexEntry>& entries, bool last_batch);
  bool in_scope(const handlers::IndexEntry& e) const;
  // Reads and writes.
  void drain_reads(bool all, std::function<void()> then);
  // (key, kind) pairs; kind: missing | stale | gone (a confirming read).
  void read_batch(std::vector<std::pair<std::string, std::string>> batch,
                  std::function<void()> then);
  void apply_rows(std::shared_ptr<std::map<std::string, intacct::Row>> rows,
                  std::vector<std::pair<std::string, std::string>> batch, std::int64_t read_at,
                  std::function<void()> then);
  void count_decision(const std::string& key, const std::string& kind, const std::string& decision,
                      std::int64_t from_version, std::int64_t to_version);
  void flush_gone(std::function<void()> then);
  void confirm_gone();
  void apply_drafts(std::function<void()> then);

  ObjectReport& obj() { return report_.objects[object_]; }
  // Intacct calls the run keeps in flight: every slot of the tenant but one
  // (kept for live traffic), at least one.
  std::size_t parallel() const;
  std::string gone_key() const;
  handlers::Fence fence() const;

  Strand strand_;
  RunDeps deps_;
  RunRequest request_;
  std::string fence_value_;
  std::shared_ptr<Gate> gate_;
  Report report_;
  std::function<void(const Report&)> done_;
  boost::asio::steady_timer progress_timer_, lock_timer_;
  bool stopping_ = false, lock_lost_ = false, finished_ = false;
  bool object_failed_ = false;

  std::size_t object_index_ = 0;
  std::string object_;
  std::int64_t since_ = 0;
  bool first_page_ = true;
  // The next page asked for early: its outcome once it came, and who waits for it.
  struct Prefetch {
    std::optional<intacct::CallOutcome> outcome;
    std::function<void()> waiter;
  };
  struct Segment {
    std::int64_t last = 0;           // RECORDNO of its last listed row (at first: its floor)
    std::optional<std::int64_t> hi;  // its highest RECORDNO; none: open-ended
    std::shared_ptr<Prefetch> prefetch;
  };
  std::vector<Segment> segments_;
  std::size_t open_segments_ = 0;
  std::int64_t mirror_max_ = 0;  // the index's highest RECORDNO of the object (0: none)
  // Bumped by each object: callbacks of an earlier object's calls stop.
  std::uint64_t epoch_ = 0;
  // Keys to read, with why: "missing" | "stale".
  std::deque<std::pair<std::string, std::string>> to_read_;
  std::map<std::string, std::int64_t> mirror_version_;  // of stale keys, for the fix log
  std::vector<std::string> gone_batch_;                 // candidates not yet in Redis
  std::vector<Listed> drafts_;                          // listed drafts the mirror holds live
};

// Stores the final report, sums its figures into the tenant's stats (and the
// last success), and releases the lock if it still holds `fence_value`.
void finish_in_redis(const Report& report, const std::string& fence_value, const RunDeps& deps,
                     std::function<void()> then);

}  // namespace isync::reconcile::detail
