// A failed read from Intacct as the queue's outcome, shared by MirrorHandler's
// event path (handlers/mirror_handler.cpp) and its rechecks
// (handlers/recheck_loop.cpp). Internal to handlers/.
#pragma once

#include <optional>

#include "intacct/intacct.hpp"
#include "queue/queue.hpp"

namespace isync::handlers::detail {

// Transient (and, for a read, ambiguous) failures are retried with backoff;
// permanent ones become dead letters carrying Intacct's errorno, description
// and correction. The message names the record, tenant and event.
queue::Outcome intacct_failure(const queue::Envelope& e,
                               const std::optional<intacct::IntacctError>& err);

}  // namespace isync::handlers::detail
