// app — the intacct-sync executable's wiring: config in, modules started,
// signals handled, graceful shutdown. It owns no logic of its own.
//
// Contract:
//  * `serve(config, log)` runs the service until SIGTERM or SIGINT, then stops
//    accepting, drains in-flight requests (their Redis acks), stops the
//    workers, and returns 0. Every stage is bounded by drain_timeout plus a
//    small margin; past that the io threads are stopped regardless.
//  * Before anything listens it checks Redis (PRODUCT.md §2): unreachable ->
//    returns kExitUnavailable; AOF off or maxmemory-policy other than
//    noeviction -> returns kExitRefused with a message naming the setting;
//    appendfsync other than always -> a warning.
//  * Secrets are never logged: the start line carries the redacted Redis URL.
//  * REQUIRES: called from the main thread, once; it installs the signal
//    handlers for the duration of the call.
//  * `status(...)` is the on-call view of PRODUCT.md §6 for the CLI; the
//    running service answers the same document on GET /v1/admin/status.
#pragma once

#include <ostream>

#include "config/config.hpp"
#include "core/core.hpp"

namespace isync::app {

inline constexpr int kExitOk = 0;
inline constexpr int kExitUnavailable = 1;  // Redis unreachable, listener could not bind
inline constexpr int kExitRefused = 2;      // configuration or Redis requirements not met

int serve(const config::Config& config, Log& log);

// `intacct-sync status`: connects to the configured Redis (no listener, no
// Intacct call), reads handlers::read_status for every configured tenant and
// prints it on `out` as text, or as JSON when `json`. Returns kExitOk;
// kExitUnavailable when Redis cannot be reached or read within
// connect_timeout + 2 x command_timeout (the reason on `err`, the URL
// redacted); kExitRefused for a redis.url that is not a redis:// URL.
int status(const config::Config& config, bool json, std::ostream& out, std::ostream& err);

}  // namespace isync::app
