// The Engine's parts, split by file: actions by id(s) and set (acts.cpp),
// jobs (jobs.cpp). Internal to oncall/.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "oncall/oncall.hpp"

namespace isync::oncall::detail {

struct Context {
  std::shared_ptr<redis::Connection> conn;
  std::vector<std::string> tenants;
  Options options;
  Clock& clock;
};

// The first of `tenants` keeping a document for `id` (doc nullopt: none).
struct Found {
  std::string tenant;
  std::optional<queue::EventDoc> doc;
};
void find_event(std::shared_ptr<redis::Connection> conn, std::vector<std::string> tenants,
                std::string id, std::function<void(Result<Found>)> done);

// Validated by Engine::act: reason, actor, tenant.
void act_ids(const Context& ctx, ActionRequest r, std::function<void(Result<ActionAnswer>)> done);
void act_set(const Context& ctx, ActionRequest r, std::function<void(Result<ActionAnswer>)> done);
void act_filter(const Context& ctx, ActionRequest r,
                std::function<void(Result<ActionAnswer>)> done);

}  // namespace isync::oncall::detail
