#include "ingest/detail/auth_throttle.hpp"

#include <algorithm>

namespace isync::ingest::detail {

AuthThrottle::AuthThrottle(int limit, std::chrono::milliseconds window, std::size_t max_addresses)
    : limit_(limit),
      window_ms_(std::max<std::int64_t>(1, window.count())),
      max_addresses_(std::max<std::size_t>(1, max_addresses)) {}

std::int64_t AuthThrottle::blocked_ms(const std::string& address, std::int64_t now_ms) {
  if (limit_ <= 0) return 0;
  std::lock_guard lock(mu_);
  auto it = entries_.find(address);
  if (it == entries_.end()) return 0;
  const std::int64_t end = it->second.start_ms + window_ms_;
  if (now_ms >= end) {
    entries_.erase(it);
    return 0;
  }
  return it->second.failures >= limit_ ? end - now_ms : 0;
}

bool AuthThrottle::failed(const std::string& address, std::int64_t now_ms) {
  if (limit_ <= 0) return false;
  std::lock_guard lock(mu_);
  auto it = entries_.find(address);
  if (it != entries_.end() && now_ms >= it->second.start_ms + window_ms_) {
    entries_.erase(it);
    it = entries_.end();
  }
  if (it == entries_.end()) {
    make_room(now_ms);
    it = entries_.emplace(address, Entry{now_ms, 0}).first;
  }
  return ++it->second.failures == limit_;
}

std::size_t AuthThrottle::tracked() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

void AuthThrottle::make_room(std::int64_t now_ms) {
  if (entries_.size() < max_addresses_) return;
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = now_ms >= it->second.start_ms + window_ms_ ? entries_.erase(it) : std::next(it);
  }
  if (entries_.size() < max_addresses_) return;
  auto oldest = std::min_element(
      entries_.begin(), entries_.end(),
      [](const auto& a, const auto& b) { return a.second.start_ms < b.second.start_ms; });
  entries_.erase(oldest);
}

}  // namespace isync::ingest::detail
