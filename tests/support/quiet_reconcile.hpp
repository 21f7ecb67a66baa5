// Test support: keeps `serve`'s reconcile scheduler out of a test that does
// not test it. A fresh tenant's first serve reconciles at once (its last
// success is older than a day) and every day at reconcile_at; a test that
// counts Intacct calls or ledger steps would meet such a run by chance.
#pragma once

#include <cstdio>
#include <ctime>
#include <string>

#include "core/core.hpp"
#include "tests/support/redis_server.hpp"

namespace isync::testing {

// Records a reconcile success just now for `tenant`: no start-up run.
inline void recent_reconcile(RedisServer& redis, const std::string& tenant) {
  redis.cmd({"SET", "isync:{" + tenant + "}:reconcile:last_success",
             std::to_string(SystemClock().now_ms())});
}

// A tenant config line putting the daily run 12 hours from now (UTC).
inline std::string far_reconcile_at() {
  const auto t = static_cast<std::time_t>(std::time(nullptr) + 12 * 3600);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char line[64];
  std::snprintf(line, sizeof line, "reconcile_at = \"%02d:%02d\"\n", tm.tm_hour, tm.tm_min);
  return line;
}

}  // namespace isync::testing
