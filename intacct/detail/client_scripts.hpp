// Lua scripts and key names of the Intacct client's shared state in Redis.
// Every key of a tenant carries the {tenant} hash tag, so each script touches
// one cluster slot.
#pragma once

#include <string>
#include <string_view>

#include "redis/redis.hpp"

namespace isync::intacct::detail {

// isync:{tenant}:intacct:<suffix>
std::string client_key(std::string_view tenant, std::string_view suffix);

// KEYS: slots, circuit, probe-lock, session.
// ARGV: now_ms, limit, lease_ms, slot_token, fingerprint, probe_interval_ms, probe_token,
//       background (0|1: a slot only while fewer than limit − 1 are held, or limit = 1).
// → {"open", reason} | {"busy", running} |
//   {"ok"|"probe"|"closed", running, session id, endpoint, expires_ms, session fingerprint}
const redis::Script& begin_script();

// KEYS: session, session-lock, circuit.
// ARGV: now_ms, margin_ms, fingerprint, lock_token, lock_ttl_ms, stale_id, probing (0|1).
// → {"session", id, endpoint, expires_ms} | {"lock"} | {"wait"} | {"open"}
const redis::Script& session_script();

// KEYS: session, session-lock, circuit, probe-lock.
// ARGV: id, endpoint, expires_ms, fingerprint, lock_token, ttl_ms, probing (0|1).
// → 1 when a probe closed the circuit, else 0.
const redis::Script& store_session_script();

// KEYS: session. ARGV: id, expires_ms, ttl_ms. Moves the expiry of that id only.
const redis::Script& touch_session_script();

// KEYS: session. ARGV: id. Deletes the session only while it is still that id.
const redis::Script& drop_session_script();

// KEYS: lock. ARGV: token. Compare-and-delete.
const redis::Script& unlock_script();

// KEYS: circuit, probe-lock, session. ARGV: fingerprint, now_ms, reason,
// probe_interval_ms, probe_token. → 1 when newly opened, 0 when already open.
const redis::Script& open_circuit_script();

// KEYS: counter, warn-marker, limit-marker. ARGV: n, ttl_s, warn_at, limit.
// → {total, level}: level 1 = warn threshold crossed now, 2 = limit crossed now.
const redis::Script& budget_script();

}  // namespace isync::intacct::detail
