// Shared by the benchmarks: the Redis floors, what Redis alone allows on the
// same machine, disk and settings as the service's run (use the same
// BenchRedis, back to back with the service's measurements). Each floor is a
// `redis-benchmark` run (redis-tools) from an emptied Redis whose AOF was
// just rewritten, with Redis's CPU per event = Δ(used_cpu_user +
// used_cpu_sys) / events. Each checks that Redis did what was measured and
// throws std::runtime_error otherwise (a floor of the wrong work is worse
// than none). `requests` is rounded up to a multiple of clients x pipeline
// (redis-benchmark sends whole pipelines); FloorResult::events says how many ran.
//
//   accept_floor     the service's accept script (its text from the binary:
//                    script_text(binary, "accept")) by EVALSHA, with keys and
//                    args shaped like a real accept; unique dedup keys from
//                    __rand_int__ (two per key, -r 2147483647: above INT_MAX
//                    redis-benchmark leaves __rand_int__ as it is, and every
//                    call would then be a duplicate). Fails unless the stream
//                    grew by exactly `requests`.
//   xadd_floor       XADD <stream> * e <value> a 0 f 0, as the accept script
//                    adds. Fails unless the stream grew by `requests`.
//   xack_xdel_floor  a script that takes its own entry (XREADGROUP … COUNT 1)
//                    then XACKs and XDELs it, over a stream pre-filled with
//                    `requests` entries of `value`. Fails unless the stream
//                    is empty after and nothing is pending.
#pragma once

#include <cstdint>
#include <string>

#include "bench/common/redis.hpp"

namespace isync::bench {

// What one accept sends, with __rand_int__ where a real accept has a unique
// value. KEYS: dedup key, stream. ARGV: event id, window seconds, envelope.
struct AcceptShape {
  std::string script;     // the accept script's text
  std::string dedup_key;  // e.g. isync:{t}:dedup:<hex>__rand_int____rand_int__
  std::string stream;     // e.g. isync:{t}:events
  std::string event_id;
  std::string window = "86400";
  std::string envelope;
};

struct FloorRun {
  int clients = 32;
  int pipeline = 1;
  std::uint64_t requests = 100000;
};

struct FloorResult {
  std::string name;  // e.g. "accept EVALSHA -c 32 -P 1"
  double rate = 0;   // requests/s, as redis-benchmark reports it
  double p50_ms = 0, p99_ms = 0;
  std::uint64_t events = 0;
  double redis_cpu_us_per_event = 0;
  double memory_bytes_per_event = 0;  // Δused_memory / events (0 when not measured)
  std::string command;                // reproduces the redis-benchmark run (shell syntax)
};

// The shape of the one accept Redis holds (after exactly one event was
// accepted into an emptied Redis): its dedup key, stream, event id, the
// dedup key's TTL as the window, and the envelope, with the last 24
// characters of the dedup key and event id replaced by two __rand_int__
// (same lengths), also inside the envelope. Throws when Redis does not hold
// exactly one accept.
AcceptShape capture_accept_shape(BenchRedis& redis, const std::string& script);

// The text `<binary> debug script <name>` prints. Throws when it fails.
std::string script_text(const std::string& binary, const std::string& name);

FloorResult accept_floor(BenchRedis& redis, const AcceptShape& shape, const FloorRun& run);
FloorResult xadd_floor(BenchRedis& redis, const std::string& stream, const std::string& value,
                       const FloorRun& run);
FloorResult xack_xdel_floor(BenchRedis& redis, const std::string& stream, const std::string& value,
                            const FloorRun& run);

// The script xack_xdel_floor runs. KEYS: 1 stream. ARGV: 1 group, 2 consumer.
extern const char* const kXackXdelLua;

}  // namespace isync::bench
