// Actions by id(s), and `set` on one payment event (oncall.hpp).
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <map>
#include <set>

#include "oncall/detail/engine_parts.hpp"
#include "oncall/detail/lua.hpp"
#include "oncall/detail/support.hpp"
#include "queue/queue.hpp"

namespace isync::oncall::detail {

void find_event(std::shared_ptr<redis::Connection> conn, std::vector<std::string> tenants,
                std::string id, std::function<void(Result<Found>)> done) {
  if (tenants.empty()) return done(Found{});
  const std::string tenant = tenants.front();
  tenants.erase(tenants.begin());
  auto& c = *conn;
  queue::read_event(c, tenant, id,
                    [conn = std::move(conn), tenants = std::move(tenants), id, tenant,
                     done = std::move(done)](Result<std::optional<queue::EventDoc>> r) mutable {
                      if (!r) return done(r.error());
                      if (*r) return done(Found{tenant, std::move(*r)});
                      find_event(std::move(conn), std::move(tenants), std::move(id),
                                 std::move(done));
                    });
}

namespace {

// Acts over the tenants in turn: the ids a tenant does not know go on to
// the next one.
struct IdsRun : std::enable_shared_from_this<IdsRun> {
  Context ctx;
  ActionRequest req;
  ActInputs in;
  std::vector<std::string> tenants;
  std::size_t next_tenant = 0;
  std::vector<std::string> left;
  std::map<std::string, Verdict> verdicts;
  std::function<void(Result<ActionAnswer>)> done;

  IdsRun(Context c, ActionRequest r, std::function<void(Result<ActionAnswer>)> d)
      : ctx(std::move(c)), req(std::move(r)), done(std::move(d)) {}

  void step() {
    if (left.empty() || next_tenant >= tenants.size()) return finish();
    const std::string tenant = tenants[next_tenant++];
    act_on(*ctx.conn, tenant, left, in, ctx.clock.now_ms(),
           [self = shared_from_this()](Result<std::vector<Verdict>> r) {
             if (!r) return self->done(r.error());
             std::vector<std::string> still;
             for (std::size_t i = 0; i < r->size(); ++i) {
               if ((*r)[i].code == "not_found") {
                 still.push_back(self->left[i]);
               } else {
                 self->verdicts[self->left[i]] = std::move((*r)[i]);
               }
             }
             self->left = std::move(still);
             self->step();
           });
  }

  void finish() {
    ActionAnswer a;
    for (const auto& id : req.ids) {
      auto it = verdicts.find(id);
      if (it == verdicts.end()) {
        a.skipped.push_back({id, "", "not_found"});
        continue;
      }
      ++a.matched;
      if (it->second.code.empty()) {
        ++a.acted;
      } else {
        a.skipped.push_back({id, it->second.state, it->second.code});
      }
    }
    if (req.ids.size() == 1 && !a.skipped.empty() && a.skipped[0].code != "already_pending") {
      return done(refusal(req.ids[0], a.skipped[0].code, a.skipped[0].state, req.action));
    }
    done(std::move(a));
  }
};

// A dry run by ids: what would be acted on (documents found), nothing written.
void dry_ids(const Context& ctx, std::vector<std::string> tenants, std::vector<std::string> ids,
             std::function<void(Result<ActionAnswer>)> done) {
  std::vector<std::vector<std::string>> cmds;
  for (const auto& t : tenants) {
    for (const auto& id : ids) cmds.push_back({"HGETALL", queue::key(t, "ev:" + id)});
  }
  gather(*ctx.conn, std::move(cmds),
         [tenants, ids, done = std::move(done)](Result<std::vector<redis::Reply>> r) {
           if (!r) return done(r.error());
           ActionAnswer a;
           a.dry_run = true;
           std::set<std::string> seen;
           for (std::size_t ti = 0; ti < tenants.size(); ++ti) {
             for (std::size_t i = 0; i < ids.size(); ++i) {
               const auto& rep = (*r)[ti * ids.size() + i];
               if (rep.elements.size() < 2 || seen.count(ids[i]) != 0) continue;
               seen.insert(ids[i]);
               queue::EventDoc doc;
               for (std::size_t k = 0; k + 1 < rep.elements.size(); k += 2) {
                 doc[rep.elements[k].str] = rep.elements[k + 1].str;
               }
               ++a.matched;
               if (a.samples.size() < 5) a.samples.push_back(queue::summarize(tenants[ti], doc));
             }
           }
           for (const auto& id : ids) {
             if (seen.count(id) == 0) a.skipped.push_back({id, "", "not_found"});
           }
           done(std::move(a));
         });
}

bool settable_type(const std::string& action) {
  return action == "payment_intent.succeeded" || action == "charge.succeeded";
}

std::string object_json(const std::vector<std::pair<std::string, std::string>>& kv,
                        const std::vector<bool>* present = nullptr) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  for (std::size_t i = 0; i < kv.size(); ++i) {
    w.Key(kv[i].first.data(), static_cast<rapidjson::SizeType>(kv[i].first.size()));
    if (present != nullptr && !(*present)[i]) {
      w.Null();
    } else {
      w.String(kv[i].second.data(), static_cast<rapidjson::SizeType>(kv[i].second.size()));
    }
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

Result<void> check_set(const ActionRequest& r) {
  if (r.action != Action::replay) {
    return make_error("invalid_field", "set: only a replay corrects an event");
  }
  if (r.ids.size() != 1) {
    return make_error("invalid_field", r.ids.empty()
                                           ? "set: takes exactly one event id, not a filter"
                                           : "set: takes exactly one event id");
  }
  std::set<std::string> names;
  for (const auto& [name, value] : r.set) {
    if (name != "INVOICE" && name != "CUSTOMER") {
      return make_error("invalid_field", "set: " + shorten(name, 32) +
                                             " cannot be set; only INVOICE and CUSTOMER can");
    }
    if (!names.insert(name).second) {
      return make_error("invalid_field", "set: " + name + " given twice");
    }
    const bool printable = std::all_of(value.begin(), value.end(), [](char c) {
      return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
    });
    if (value.empty() || value.size() > kMaxSetValue || !printable) {
      return make_error("invalid_field", "set: " + name +
                                             " must be 1 to 255 printable characters (its "
                                             "RECORDNO or RECORDID)");
    }
  }
  return {};
}

}  // namespace

void act_ids(const Context& ctx, ActionRequest r, std::function<void(Result<ActionAnswer>)> done) {
  if (r.ids.size() > kMaxIds) {
    return done(make_error("invalid_field", "ids: at most " + std::to_string(kMaxIds) +
                                                " per request; act on more with a filter"));
  }
  std::vector<std::string> ids;
  std::set<std::string> seen;
  for (const auto& id : r.ids) {
    if (!valid_id(id)) {
      return done(make_error("invalid_field", "ids: '" + shorten(id, 64) + "' is not an event id"));
    }
    if (seen.insert(id).second) ids.push_back(id);
  }
  r.ids = ids;
  std::vector<std::string> tenants = r.tenant.empty() ? ctx.tenants : std::vector{r.tenant};
  if (r.dry_run) return dry_ids(ctx, std::move(tenants), std::move(ids), std::move(done));
  auto run = std::make_shared<IdsRun>(ctx, std::move(r), std::move(done));
  run->in.action = run->req.action;
  run->in.actor = run->req.actor;
  run->in.reason = run->req.reason;
  run->in.settled_by_hand = run->req.settled_by_hand;
  run->in.lease_ms = ctx.options.lease.count();
  run->in.owner = random_owner();
  run->tenants = std::move(tenants);
  run->left = std::move(ids);
  run->step();
}

void act_set(const Context& ctx, ActionRequest r, std::function<void(Result<ActionAnswer>)> done) {
  if (auto ok = check_set(r); !ok) return done(ok.error());
  const std::string id = r.ids[0];
  if (!valid_id(id)) {
    return done(make_error("invalid_field", "ids: '" + shorten(id, 64) + "' is not an event id"));
  }
  std::vector<std::string> tenants = r.tenant.empty() ? ctx.tenants : std::vector{r.tenant};
  auto conn = ctx.conn;
  Clock& clock = ctx.clock;
  find_event(
      conn, std::move(tenants), id,
      [conn, &clock, r = std::move(r), id, done = std::move(done)](Result<Found> f) mutable {
        if (!f) return done(f.error());
        if (!f->doc) return done(refusal(id, "not_found", "", Action::replay));
        auto& doc = *f->doc;
        const std::string state = doc["state"];
        if (state != "dead") {
          return done(make_error("invalid_state", "event " + id + " is " + state +
                                                      ": set corrects a dead payment event only"));
        }
        const std::string stored = doc["envelope"];
        auto env = queue::decode(stored);
        if (!env) {
          return done(make_error(
              "invalid_field",
              "set: event " + id + "'s envelope cannot be read: " + env.error().message));
        }
        if (env->source != "stripe" || !settable_type(env->action)) {
          return done(make_error("invalid_field",
                                 "set: applies to a payment_intent.succeeded or "
                                 "charge.succeeded event; event " +
                                     id + " is " + env->source + " " + env->action));
        }
        std::vector<bool> had;
        std::vector<std::pair<std::string, std::string>> was;
        for (const auto& [name, value] : r.set) {
          auto it = std::find_if(env->snapshot.begin(), env->snapshot.end(),
                                 [&](const auto& p) { return p.first == name; });
          had.push_back(it != env->snapshot.end());
          was.emplace_back(name, it != env->snapshot.end() ? it->second : std::string());
          if (it != env->snapshot.end()) {
            it->second = value;
          } else {
            env->snapshot.emplace_back(name, value);
          }
        }
        std::sort(env->snapshot.begin(), env->snapshot.end());
        if (r.dry_run) {
          ActionAnswer a;
          a.dry_run = true;
          a.matched = 1;
          a.samples.push_back(queue::summarize(f->tenant, doc));
          return done(std::move(a));
        }
        const std::string tenant = f->tenant;
        conn->eval(set_script(), {queue::key(tenant, "ev:" + id)},
                   {prefix(tenant), id, std::to_string(clock.now_ms()), r.actor, r.reason, stored,
                    queue::encode(*env), object_json(r.set), object_json(was, &had)},
                   [id, done = std::move(done)](boost::system::error_code ec, redis::Reply rep) {
                     if (ec || rep.is_error() || rep.elements.size() != 2) {
                       return done(unavailable("set on event " + id, ec, rep));
                     }
                     const std::string code = rep.elements[0].str;
                     if (code == "changed") {
                       return done(make_error("unavailable",
                                              "event " + id +
                                                  " changed while it was being corrected; try "
                                                  "again"));
                     }
                     if (!code.empty()) {
                       return done(refusal(id, code, rep.elements[1].str, Action::replay));
                     }
                     ActionAnswer a;
                     a.matched = 1;
                     a.acted = 1;
                     done(std::move(a));
                   });
      });
}

}  // namespace isync::oncall::detail
