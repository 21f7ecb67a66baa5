// Jobs: an action by filter is stored as a job of the ids it matched, which
// JobRunner advances (runner.cpp); listing, reading and cancelling them.
#include <algorithm>

#include "oncall/detail/engine_parts.hpp"
#include "oncall/detail/lua.hpp"
#include "oncall/detail/support.hpp"
#include "queue/queue.hpp"

namespace isync::oncall {

using namespace detail;

namespace detail {

namespace {

// Pushes the ids in chunks (the list expires until the job is created, so
// a creation cut short leaves nothing for long), then creates the job.
struct Create : std::enable_shared_from_this<Create> {
  Context ctx;
  ActionRequest req;
  std::string job_id, list;
  std::vector<std::string> ids;
  std::size_t pushed = 0;
  std::function<void(Result<ActionAnswer>)> done;

  Create(Context c, ActionRequest r, std::function<void(Result<ActionAnswer>)> d)
      : ctx(std::move(c)), req(std::move(r)), done(std::move(d)) {}

  void push() {
    if (pushed >= ids.size()) return create();
    const std::size_t end = std::min(ids.size(), pushed + 1000);
    std::vector<std::string> cmd = {"RPUSH", list};
    cmd.insert(cmd.end(), ids.begin() + static_cast<std::ptrdiff_t>(pushed),
               ids.begin() + static_cast<std::ptrdiff_t>(end));
    pushed = end;
    ctx.conn->command(
        std::move(cmd), [self = shared_from_this()](boost::system::error_code ec, redis::Reply r) {
          if (ec || r.is_error()) return self->done(unavailable("create a job", ec, r));
          self->ctx.conn->command({"EXPIRE", self->list, "3600"},
                                  [self](boost::system::error_code e2, redis::Reply r2) {
                                    if (e2 || r2.is_error()) {
                                      return self->done(unavailable("create a job", e2, r2));
                                    }
                                    self->push();
                                  });
        });
  }

  void create() {
    const std::string now = std::to_string(ctx.clock.now_ms());
    const bool empty = ids.empty();
    std::vector<std::string> args = {prefix(req.tenant),
                                     job_id,
                                     now,
                                     "id",
                                     job_id,
                                     "tenant",
                                     req.tenant,
                                     "action",
                                     action_name(req.action),
                                     "state",
                                     empty ? "done" : "running",
                                     "reason",
                                     req.reason,
                                     "actor",
                                     req.actor,
                                     "filter",
                                     filter_json(req.filter),
                                     "settled_by_hand",
                                     req.settled_by_hand ? "1" : "0",
                                     "matched",
                                     std::to_string(ids.size()),
                                     "position",
                                     "0",
                                     "processed",
                                     "0",
                                     "acted",
                                     "0",
                                     "skipped",
                                     "0",
                                     "skipped_samples",
                                     "[]",
                                     "created_at",
                                     now,
                                     "updated_at",
                                     now,
                                     "finished_at",
                                     empty ? now : "0"};
    ctx.conn->eval(create_job_script(), {job_key(req.tenant, job_id)}, std::move(args),
                   [self = shared_from_this()](boost::system::error_code ec, redis::Reply r) {
                     if (ec || r.is_error()) return self->done(unavailable("create a job", ec, r));
                     ActionAnswer a;
                     a.matched = static_cast<std::int64_t>(self->ids.size());
                     a.job_id = self->job_id;
                     self->done(std::move(a));
                   });
  }
};

}  // namespace

void act_filter(const Context& ctx, ActionRequest r,
                std::function<void(Result<ActionAnswer>)> done) {
  if (r.tenant.empty()) {
    return done(make_error("invalid_field", "tenant: an action by filter needs the tenant"));
  }
  if (auto ok = check_filter(r.filter); !ok) return done(ok.error());
  auto conn = ctx.conn;
  const std::string tenant = r.tenant;
  const queue::EventFilter filter = r.filter;
  collect(conn, tenant, filter,
          [ctx, r = std::move(r), done = std::move(done)](Result<Matched> m) mutable {
            if (!m) return done(m.error());
            if (r.dry_run) {
              ActionAnswer a;
              a.dry_run = true;
              a.matched = static_cast<std::int64_t>(m->ids.size());
              a.samples = std::move(m->first);
              return done(std::move(a));
            }
            auto c = std::make_shared<Create>(ctx, std::move(r), std::move(done));
            c->job_id = make_ulid(ctx.clock.now_ms());
            c->list = job_key(c->req.tenant, c->job_id) + ":ids";
            c->ids = std::move(m->ids);
            c->push();
          });
}

}  // namespace detail

namespace {

Error job_not_found(const std::string& id, std::chrono::milliseconds retention) {
  return make_error("not_found", "job " + id + " not found (finished jobs are kept for " +
                                     std::to_string(retention.count() / 3'600'000) + " hours)");
}

// The job `id` in whichever tenant has it.
void find_job(std::shared_ptr<redis::Connection> conn, const std::vector<std::string>& tenants,
              const std::string& id, std::function<void(Result<std::optional<Job>>)> done) {
  std::vector<std::vector<std::string>> cmds;
  for (const auto& t : tenants) cmds.push_back({"HGETALL", job_key(t, id)});
  gather(*conn, std::move(cmds), [done = std::move(done)](Result<std::vector<redis::Reply>> r) {
    if (!r) return done(r.error());
    for (const auto& rep : *r) {
      if (auto j = parse_job(rep)) return done(std::optional<Job>(std::move(*j)));
    }
    done(std::optional<Job>());
  });
}

}  // namespace

void Engine::jobs(std::string tenant, std::function<void(Result<std::vector<Job>>)> done) {
  if (!tenant.empty() && !known(tenants_, tenant)) {
    return done(make_error("invalid_field",
                           "tenant: '" + shorten(tenant, 64) + "' is not a configured tenant"));
  }
  std::vector<std::string> tenants = tenant.empty() ? tenants_ : std::vector{tenant};
  std::vector<std::vector<std::string>> cmds;
  for (const auto& t : tenants) cmds.push_back({"ZREVRANGE", queue::key(t, "jobs"), "0", "99"});
  auto conn = conn_;
  gather(*conn_, std::move(cmds),
         [conn, tenants, done = std::move(done)](Result<std::vector<redis::Reply>> r) {
           if (!r) return done(r.error());
           std::vector<std::vector<std::string>> reads;
           for (std::size_t i = 0; i < tenants.size(); ++i) {
             for (const auto& e : (*r)[i].elements) {
               reads.push_back({"HGETALL", job_key(tenants[i], e.str)});
             }
           }
           gather(*conn, std::move(reads), [done](Result<std::vector<redis::Reply>> r2) {
             if (!r2) return done(r2.error());
             std::vector<Job> out;
             for (const auto& rep : *r2) {
               if (auto j = parse_job(rep)) out.push_back(std::move(*j));
             }
             std::stable_sort(out.begin(), out.end(), [](const Job& a, const Job& b) {
               return a.created_at_ms > b.created_at_ms;
             });
             done(std::move(out));
           });
         });
}

void Engine::job(std::string id, std::function<void(Result<Job>)> done) {
  if (!valid_id(id)) {
    return done(make_error("invalid_field", "id: '" + shorten(id, 64) + "' is not a job id"));
  }
  find_job(conn_, tenants_, id,
           [id, retention = options_.job_retention,
            done = std::move(done)](Result<std::optional<Job>> r) {
             if (!r) return done(r.error());
             if (!*r) return done(job_not_found(id, retention));
             done(std::move(**r));
           });
}

void Engine::cancel(std::string id, std::function<void(Result<Job>)> done) {
  if (!valid_id(id)) {
    return done(make_error("invalid_field", "id: '" + shorten(id, 64) + "' is not a job id"));
  }
  auto conn = conn_;
  find_job(
      conn_, tenants_, id,
      [conn, id, retention = options_.job_retention, now = clock_.now_ms(),
       done = std::move(done)](Result<std::optional<Job>> r) {
        if (!r) return done(r.error());
        if (!*r) return done(job_not_found(id, retention));
        const std::string tenant = (*r)->tenant;
        conn->eval(
            cancel_script(), {job_key(tenant, id)}, {prefix(tenant), id, std::to_string(now)},
            [conn, tenant, id, retention, done](boost::system::error_code ec, redis::Reply rep) {
              if (ec || rep.is_error()) {
                return done(unavailable("cancel job " + id, ec, rep));
              }
              conn->command({"HGETALL", job_key(tenant, id)},
                            [id, retention, done](boost::system::error_code e2, redis::Reply r2) {
                              if (e2 || r2.is_error()) {
                                return done(unavailable("read job " + id, e2, r2));
                              }
                              auto j = parse_job(r2);
                              if (!j) return done(job_not_found(id, retention));
                              done(std::move(*j));
                            });
            });
      });
}

}  // namespace isync::oncall
