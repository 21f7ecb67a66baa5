// Failed authentications per client address on the admin listener (a wrong
// Bearer token, a wrong console login). Internal to ingest/.
//
// Contract:
//  * An address that failed `limit` times within `window` of its first
//    failure is refused until that window ends, whatever it sends (the right
//    token too, so the refusal tells nothing about what it tried). Then it
//    starts afresh. limit <= 0 turns the throttle off.
//  * At most `max_addresses` are remembered: a new address then takes the
//    place of one whose window has ended, else of the one whose window began
//    first. Memory stays bounded whatever the number of addresses trying.
//  * Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace isync::ingest::detail {

class AuthThrottle {
 public:
  AuthThrottle(int limit, std::chrono::milliseconds window, std::size_t max_addresses = 4096);

  // Milliseconds until `address` may try again; 0 = it may now.
  std::int64_t blocked_ms(const std::string& address, std::int64_t now_ms);
  // Records a failure of `address`; true when this one reached the limit.
  bool failed(const std::string& address, std::int64_t now_ms);

  std::size_t tracked() const;

 private:
  struct Entry {
    std::int64_t start_ms = 0;  // the window's first failure
    int failures = 0;
  };
  // REQUIRES: mu_ held. Room for one more address.
  void make_room(std::int64_t now_ms);

  const int limit_;
  const std::int64_t window_ms_;
  const std::size_t max_addresses_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace isync::ingest::detail
