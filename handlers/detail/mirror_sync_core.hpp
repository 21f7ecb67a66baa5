// What MirrorSync's parts share. Internal to handlers/.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "handlers/mirror_sync.hpp"

namespace isync::handlers {

// Immutable after construction; callbacks hold it, so it outlives them.
struct MirrorSync::Core {
  Core(std::shared_ptr<redis::Connection> c, MirrorOptions o, Clock& cl, Log& l)
      : conn(std::move(c)), options(o), clock(cl), log(l) {}
  std::shared_ptr<redis::Connection> conn;
  MirrorOptions options;
  Clock& clock;
  Log& log;
};

namespace detail {

// Error{"invalid_argument"} unless `tenant` is a valid tenant id.
std::optional<Error> check_tenant(const std::string& tenant);

// The back-fill step of MirrorSync::backfill_step, for the background loop too.
void backfill_step(std::shared_ptr<const MirrorSync::Core> core, std::string tenant,
                   std::function<void(Result<BackfillStatus>)> done);

// The state of MirrorSync::run_backfill (handlers/mirror_backfill.cpp).
std::shared_ptr<MirrorSync::Backfill> make_backfill(boost::asio::any_io_executor ex,
                                                    std::shared_ptr<const MirrorSync::Core> core);

}  // namespace detail
}  // namespace isync::handlers
