// Per-minute activity counters (queue/activity.hpp).
#include "queue/activity.hpp"

#include <atomic>
#include <charconv>
#include <memory>
#include <set>
#include <utility>

namespace isync::queue {

namespace {

char kind_letter(ActivityKind k) {
  switch (k) {
    case ActivityKind::handled:
      return 'h';
    case ActivityKind::failed:
      return 'f';
    case ActivityKind::dead:
      return 'd';
  }
  return 'f';
}

std::int64_t minute_start(std::int64_t ms) { return ms - ms % kActivityMinuteMs; }

bool parse_int(std::string_view s, std::int64_t& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

}  // namespace

ActivityKind activity_kind(Outcome::Kind k) {
  switch (k) {
    case Outcome::Kind::done:
      return ActivityKind::handled;
    case Outcome::Kind::dead:
      return ActivityKind::dead;
    case Outcome::Kind::retry:
    case Outcome::Kind::park:
    case Outcome::Kind::unknown:
      return ActivityKind::failed;
  }
  return ActivityKind::failed;
}

std::string activity_key(const std::string& tenant, std::int64_t ms) {
  return key(tenant, "activity:" + std::to_string(ms / kActivityHourMs));
}

std::string activity_field(std::int64_t ms, ActivityKind kind) {
  std::string f = std::to_string(ms / kActivityMinuteMs);
  f += ':';
  f += kind_letter(kind);
  return f;
}

void ActivityCounter::add(const std::string& tenant, ActivityKind kind, std::int64_t now_ms,
                          std::int64_t n) {
  std::lock_guard lock(mu_);
  counts_[Cell{tenant, minute_start(now_ms), kind}] += n;
}

std::size_t ActivityCounter::pending() const {
  std::lock_guard lock(mu_);
  return counts_.size();
}

void ActivityCounter::flush(redis::Connection& conn, std::int64_t now_ms,
                            std::function<void()> done) {
  std::map<Cell, std::int64_t> taken;
  {
    std::lock_guard lock(mu_);
    taken.swap(counts_);
  }
  const std::int64_t oldest = now_ms - std::chrono::milliseconds(kActivityTtl).count();
  std::vector<std::pair<Cell, std::int64_t>> cells;
  std::set<std::string> keys;
  for (auto& [cell, n] : taken) {
    if (std::get<1>(cell) < oldest || n == 0) continue;
    keys.insert(activity_key(std::get<0>(cell), std::get<1>(cell)));
    cells.emplace_back(cell, n);
  }
  if (cells.empty()) return done();
  auto left = std::make_shared<std::atomic<std::size_t>>(cells.size() + keys.size());
  auto finish = [left, done = std::move(done)] {
    if (left->fetch_sub(1) == 1) done();
  };
  for (const auto& [cell, n] : cells) {
    const auto& [tenant, minute, kind] = cell;
    conn.command(
        {"HINCRBY", activity_key(tenant, minute), activity_field(minute, kind), std::to_string(n)},
        [this, cell = cell, n = n, finish](boost::system::error_code ec, redis::Reply) {
          // Not run at all: kept for the next flush.
          if (ec && !redis::may_have_run(ec)) {
            std::lock_guard lock(mu_);
            counts_[cell] += n;
          }
          finish();
        });
  }
  const std::string ttl = std::to_string(kActivityTtl.count());
  for (const auto& k : keys) {
    conn.command({"EXPIRE", k, ttl},
                 [finish](boost::system::error_code, redis::Reply) { finish(); });
  }
}

void read_activity(redis::Connection& conn, const std::string& tenant, std::int64_t now_ms,
                   std::function<void(Result<Activity>)> done) {
  struct Read {
    Activity activity;
    std::map<std::int64_t, ActivityMinute> minutes;
    std::size_t left = 0;
    bool failed = false;
    std::string why;
    std::mutex mu;
  };
  auto read = std::make_shared<Read>();
  read->activity.to_ms = minute_start(now_ms) + kActivityMinuteMs;
  read->activity.from_ms = read->activity.to_ms - kActivityWindowMs;
  const std::int64_t first_hour = read->activity.from_ms / kActivityHourMs;
  const std::int64_t last_hour = (read->activity.to_ms - 1) / kActivityHourMs;
  read->left = static_cast<std::size_t>(last_hour - first_hour + 1);
  auto shared_done = std::make_shared<std::function<void(Result<Activity>)>>(std::move(done));
  for (std::int64_t hour = first_hour; hour <= last_hour; ++hour) {
    conn.command({"HGETALL", activity_key(tenant, hour * kActivityHourMs)},
                 [read, shared_done](boost::system::error_code ec, redis::Reply r) {
                   std::unique_lock lock(read->mu);
                   if (ec || r.is_error()) {
                     read->failed = true;
                     if (read->why.empty()) read->why = ec ? ec.message() : r.str;
                   } else {
                     for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) {
                       const std::string& field = r.elements[i].str;
                       auto colon = field.find(':');
                       std::int64_t minute = 0, n = 0;
                       if (colon == std::string::npos || colon + 2 != field.size() ||
                           !parse_int(std::string_view(field).substr(0, colon), minute) ||
                           !parse_int(r.elements[i + 1].str, n)) {
                         continue;
                       }
                       const std::int64_t t = minute * kActivityMinuteMs;
                       if (t < read->activity.from_ms || t >= read->activity.to_ms) continue;
                       auto& m = read->minutes[t];
                       m.t_ms = t;
                       switch (field.back()) {
                         case 'h':
                           m.handled += n;
                           break;
                         case 'f':
                           m.failed += n;
                           break;
                         case 'd':
                           m.dead += n;
                           break;
                         default:
                           break;
                       }
                     }
                   }
                   if (--read->left > 0) return;
                   lock.unlock();
                   if (read->failed) {
                     return (*shared_done)(make_error("unavailable", "activity: " + read->why));
                   }
                   for (auto& [t, m] : read->minutes) {
                     if (m.handled != 0 || m.failed != 0 || m.dead != 0)
                       read->activity.minutes.push_back(m);
                   }
                   (*shared_done)(std::move(read->activity));
                 });
  }
}

}  // namespace isync::queue
