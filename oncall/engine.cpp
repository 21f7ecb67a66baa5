// Engine: list, show, and actions by id(s), including the correction of a
// payment event (`set`). Jobs by filter are in jobs.cpp.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <set>

#include "oncall/detail/engine_parts.hpp"
#include "oncall/detail/lua.hpp"
#include "oncall/detail/support.hpp"
#include "queue/queue.hpp"

namespace isync::oncall {

using namespace detail;

const char* action_name(Action a) { return a == Action::discard ? "discard" : "replay"; }

Engine::Engine(std::shared_ptr<redis::Connection> conn, std::vector<std::string> tenants,
               Options options, Clock& clock)
    : conn_(std::move(conn)), tenants_(std::move(tenants)), options_(options), clock_(clock) {}

void Engine::list(std::string tenant, queue::EventFilter filter, int limit, std::string cursor,
                  std::function<void(Result<queue::EventPage>)> done) {
  if (!tenant.empty() && !known(tenants_, tenant)) {
    return done(make_error("invalid_field",
                           "tenant: '" + shorten(tenant, 64) + "' is not a configured tenant"));
  }
  if (limit < 1 || limit > queue::kMaxListLimit) {
    return done(make_error("invalid_field",
                           "limit: between 1 and " + std::to_string(queue::kMaxListLimit)));
  }
  if (auto ok = check_filter(filter); !ok) return done(ok.error());
  std::vector<std::string> tenants = tenant.empty() ? tenants_ : std::vector{tenant};
  queue::list_events(*conn_, std::move(tenants), std::move(filter), limit, std::move(cursor),
                     std::move(done));
}

void Engine::show(std::string tenant, std::string id,
                  std::function<void(Result<EventDetail>)> done) {
  if (!tenant.empty() && !known(tenants_, tenant)) {
    return done(make_error("invalid_field",
                           "tenant: '" + shorten(tenant, 64) + "' is not a configured tenant"));
  }
  if (!valid_id(id)) {
    return done(make_error("invalid_field", "id: '" + shorten(id, 64) + "' is not an event id"));
  }
  std::vector<std::string> tenants = tenant.empty() ? tenants_ : std::vector{tenant};
  find_event(conn_, std::move(tenants), id,
             [conn = conn_, id, done = std::move(done)](Result<Found> f) mutable {
               if (!f) return done(f.error());
               if (!f->doc) return done(refusal(id, "not_found", "", Action::replay));
               EventDetail d;
               d.summary = queue::summarize(f->tenant, *f->doc);
               d.envelope = (*f->doc)["envelope"];
               d.attempts = (*f->doc)["attempts"];
               if (d.attempts.empty()) d.attempts = "[]";
               auto env = queue::decode(d.envelope);
               if (!env || env->source != "stripe" || env->key.empty()) return done(std::move(d));
               conn->command({"HGETALL", queue::key(f->tenant, "pay:" + env->key)},
                             [d = std::move(d), done = std::move(done)](
                                 boost::system::error_code ec, redis::Reply r) mutable {
                               if (ec || r.is_error())
                                 return done(unavailable("read the ledger", ec, r));
                               for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) {
                                 d.ledger.emplace_back(r.elements[i].str, r.elements[i + 1].str);
                               }
                               done(std::move(d));
                             });
             });
}

void Engine::act(ActionRequest request, std::function<void(Result<ActionAnswer>)> done) {
  if (request.reason.size() > kMaxReason) {
    return done(make_error("invalid_field", "reason: longer than 1000 bytes"));
  }
  if (request.action == Action::discard && request.reason.empty()) {
    return done(make_error("invalid_field", "reason: a discard needs a reason"));
  }
  if (request.actor.size() > kMaxActor) {
    return done(make_error("invalid_field", "actor: longer than 200 bytes"));
  }
  if (request.actor.empty()) request.actor = "unknown";
  if (!request.tenant.empty() && !known(tenants_, request.tenant)) {
    return done(make_error("invalid_field", "tenant: '" + shorten(request.tenant, 64) +
                                                "' is not a configured tenant"));
  }
  Context ctx{conn_, tenants_, options_, clock_};
  if (!request.set.empty()) return act_set(ctx, std::move(request), std::move(done));
  if (request.ids.empty()) return act_filter(ctx, std::move(request), std::move(done));
  act_ids(ctx, std::move(request), std::move(done));
}

void Engine::activity(std::string tenant, std::function<void(Result<queue::Activity>)> done) {
  if (std::find(tenants_.begin(), tenants_.end(), tenant) == tenants_.end()) {
    return done(make_error("invalid_field",
                           "tenant: '" + shorten(tenant, 64) + "' is not a configured tenant"));
  }
  queue::read_activity(*conn_, tenant, clock_.now_ms(), std::move(done));
}

}  // namespace isync::oncall
