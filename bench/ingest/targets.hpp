// The HTTP servers bench-ingest measures, each started on a free loopback
// port and ready (GET /healthz answered, or for beast-noop any answer) when
// returned; stopped when destroyed. Logs go to `<workdir>/<name>.log`.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "bench/common/process.hpp"

namespace isync::bench::ingest {

struct Target {
  std::string name;
  std::uint16_t port = 0;
  std::unique_ptr<Child> child;
};

// intacct-sync serve: one tenant "bench" (token kToken), the no-op route on,
// queue.workers = `workers`, log level warn.
Target start_service(const std::string& binary, const std::string& workdir,
                     std::uint16_t redis_port, int workers);

// bench/peers/beast-noop.
Target start_beast_noop(const std::string& binary, const std::string& workdir);

// bench/peers/node: `node <dir>/server.js` (its node_modules installed by
// `npm ci` in `dir`), tenant "bench", token kToken.
Target start_node_peer(const std::string& dir, const std::string& workdir,
                       std::uint16_t redis_port);

// Posts one event (record `n`) to `target` on a fresh connection: true when
// it is answered 2xx.
bool post_one(std::uint16_t port, const std::string& target, std::uint64_t n);

}  // namespace isync::bench::ingest
