// The fence of a reconcile run, as handlers' write steps take it: a run holds
// a Redis lock whose value is its fencing token, and every write made on its
// behalf checks, in the same script, that the lock still holds that token —
// so a run that lost its lock (expired while it was stalled) writes nothing.
#pragma once

#include <string>

namespace isync::handlers {

struct Fence {
  std::string lock_key;  // isync:{t}:reconcile:lock
  std::string token;     // the run's token; "" = not fenced (every write goes through)
};

}  // namespace isync::handlers
