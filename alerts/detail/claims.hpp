// Internal to alerts/: the Redis keys and the claim scripts that make N
// processes send one message (alerts.hpp, "Across processes").
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/core.hpp"
#include "redis/redis.hpp"

namespace isync::alerts::detail {

// isync:{t}:alerts:<suffix>
std::string alerts_key(std::string_view tenant, std::string_view suffix);

// Crossing alerts (threshold, circuit): records `state` observed at
// `observed_ms` in the hash `key` (fields state, at). Calls back true when
// this call changed the recorded state, i.e. this process sends the alert.
// The first observation ever is recorded silently when it equals
// `initial` (under, closed): nothing to recover from. An observation older
// than the recorded one is ignored. Redis trouble: Error{"unavailable"}.
void claim_crossing(redis::Connection& conn, const std::string& key, const std::string& state,
                    std::int64_t observed_ms, const std::string& initial,
                    std::function<void(Result<bool>)> done);

// Budget: raises the level recorded in `key` (expiring after `ttl_s`) to
// `level`; true when it was lower (this process sends the alert).
void claim_level(redis::Connection& conn, const std::string& key, int level, std::int64_t ttl_s,
                 std::function<void(Result<bool>)> done);

// The digest's cursor (ms): the highest dead-letter score already reported.
// Set to `now_ms` when the tenant has none yet.
void digest_cursor(redis::Connection& conn, const std::string& tenant, std::int64_t now_ms,
                   std::function<void(Result<std::int64_t>)> done);

// Moves the cursor from `from` to `to` and opens the window (a key living
// `window_ms`), unless the window is open or another process moved the
// cursor first. True when this process sends the digest.
void claim_digest(redis::Connection& conn, const std::string& tenant, std::int64_t from,
                  std::int64_t to, std::int64_t window_ms, std::function<void(Result<bool>)> done);

// True when the digest's window of `tenant` is open (a digest went out
// less than the window ago).
void digest_window_open(redis::Connection& conn, const std::string& tenant,
                        std::function<void(Result<bool>)> done);

// One key per reconcile run (SET NX PX `ttl_ms`): true for the first caller.
void claim_run(redis::Connection& conn, const std::string& tenant, const std::string& run_id,
               std::int64_t ttl_ms, std::function<void(Result<bool>)> done);

}  // namespace isync::alerts::detail
