// CompanyState — everything a Company holds, behind one mutex. Internal.
#pragma once

#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "sandbox/detail/model.hpp"

namespace isync::sandbox::detail {

struct CompanyState {
  struct Session {
    std::string location_id;
    std::int64_t expires_ms = 0;
  };
  // A readByQuery result set: the matching RECORDNOs taken at the first call
  // (PROTOCOL.md §3: "resultId keeps pages on one snapshot").
  struct ResultSet {
    std::string object;
    std::vector<std::string> fields;  // empty = *
    std::vector<std::int64_t> recordnos;
    std::size_t next = 0;
    std::int64_t pagesize = 100;
    std::int64_t expires_ms = 0;
  };
  // A request whose writes land later (Faults::land_later): its body is run
  // again at `due_ms` with the RECORDNOs reserved when it arrived.
  struct Landing {
    std::int64_t due_ms = 0;
    std::string body;
    std::map<std::string, std::deque<std::int64_t>> reserved;
  };

  CompanyState(Options o, Clock& c)
      : options(std::move(o)),
        clock(c),
        fault_rng(options.seed),
        drop_rng(options.seed ^ 0x5bd1e995d1b54a32ULL) {}

  mutable std::mutex mu;
  Options options;
  Clock& clock;
  Data data;
  std::unordered_map<std::string, Session> sessions;
  std::unordered_map<std::string, ResultSet> result_sets;
  // Function controlids of writes that ran (for uniqueid=true replays):
  // bounded by count and age.
  std::unordered_map<std::string, std::int64_t> executed;
  std::deque<std::pair<std::string, std::int64_t>> executed_order;
  std::vector<Landing> landings;
  Faults faults;
  Stats stats;
  std::int64_t last_purge_ms = 0;
  std::vector<std::function<void(const Change&)>> listeners;
  std::mt19937_64 rng{std::random_device{}()};
  std::mt19937_64 fault_rng;  // the random faults' draws, seeded with options.seed
  // drop_events_ratio's draws: apart from fault_rng, so switching event drops
  // on does not change which requests the other ratios hit.
  std::mt19937_64 drop_rng;
  DroppedEvents dropped;

  // Counts an injected fault, in total and by name.
  void count_fault(const char* name) {
    ++stats.faults_injected;
    ++stats.faults_by_name[name];
  }
  // Takes one from `counter` when it is positive, else draws against
  // `ratio` (no draw when it is 0); true = inject the fault (counted).
  bool take_fault(int& counter, double ratio, const char* name) {
    return take_fault(counter, ratio, name, fault_rng);
  }
  bool take_fault(int& counter, double ratio, const char* name, std::mt19937_64& draws) {
    bool hit = false;
    if (counter > 0) {
      --counter;
      hit = true;
    } else if (ratio > 0) {
      // 53 random bits as a double in [0, 1): ratio 1 always hits.
      hit = static_cast<double>(draws() >> 11) * 0x1.0p-53 < ratio;
    }
    if (hit) count_fault(name);
    return hit;
  }

  std::int64_t now_ms() const { return clock.now_ms(); }
  std::string random_token(std::size_t length);
  void remember_executed(const std::string& controlid, std::int64_t now);
  bool was_executed(const std::string& controlid, std::int64_t now);
};

inline constexpr std::size_t kMaxExecutedControlIds = 100000;
inline constexpr std::int64_t kExecutedControlIdTtlMs = 24LL * 3600 * 1000;

}  // namespace isync::sandbox::detail
