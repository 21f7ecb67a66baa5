// The Redis keys of reconcile runs (reconcile.hpp).
#include "queue/queue.hpp"
#include "reconcile/reconcile.hpp"

namespace isync::reconcile {

std::string lock_key(std::string_view tenant) { return queue::key(tenant, "reconcile:lock"); }
std::string runs_key(std::string_view tenant) { return queue::key(tenant, "reconcile:runs"); }
std::string run_key(std::string_view tenant, std::string_view run_id) {
  return queue::key(tenant, "reconcile:run:" + std::string(run_id));
}
std::string stats_key(std::string_view tenant) { return queue::key(tenant, "reconcile:stats"); }
std::string since_key(std::string_view tenant) { return queue::key(tenant, "reconcile:since"); }

}  // namespace isync::reconcile
