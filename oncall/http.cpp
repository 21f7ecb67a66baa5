// serve_http: the on-call routes of the admin API, from a parsed request to
// the Engine and back (oncall/http.hpp).
#include "oncall/http.hpp"

#include <memory>
#include <utility>

namespace isync::oncall {

namespace {

constexpr std::string_view kEvents = "/v1/admin/events";
constexpr std::string_view kJobs = "/v1/admin/jobs";
constexpr std::string_view kActivity = "/v1/admin/activity";
constexpr const char* kActor = "admin-api";

std::string error_json(std::string_view code, std::string_view message) {
  std::string body = "{\"error\":{\"code\":";
  append_json_string(body, code);
  body += ",\"message\":";
  append_json_string(body, message);
  return body + "}}";
}

HttpAnswer answer_error(const Error& e) {
  if (e.code == "invalid_field" || e.code == "malformed_body") {
    return {400, error_json(e.code, e.message), false};
  }
  if (e.code == "not_found") return {404, error_json(e.code, e.message), false};
  if (e.code == "invalid_state" || e.code == "payment_unsettled" ||
      e.code == "payment_in_progress" || e.code == "payment_abandoned" ||
      e.code == "payment_may_be_posted") {
    return {409, error_json(e.code, e.message), false};
  }
  if (e.code == "unavailable") return {503, error_json(e.code, e.message), true};
  return {503, error_json("unavailable", e.message + " (" + e.code + "); retry later"), true};
}

HttpAnswer not_allowed(std::string_view method, std::string_view allow) {
  return {405,
          error_json("method_not_allowed", "method " + shorten(method, 16) +
                                               " is not allowed here; use " + std::string(allow)),
          false};
}

HttpAnswer bad_id(std::string_view what, std::string_view id) {
  return {400,
          error_json("invalid_field", "\"" + shorten(id, 64) + "\" is not " + std::string(what) +
                                          " (1 to 128 of A-Z a-z 0-9 _ . : -)"),
          false};
}

template <class T, class ToJson>
std::function<void(Result<T>)> reply(std::function<void(HttpAnswer)> done, unsigned status,
                                     ToJson to) {
  return [done = std::move(done), status, to](Result<T> r) {
    if (!r) return done(answer_error(r.error()));
    done({status, to(*r), false});
  };
}

void list(Engine& engine, const HttpCall& call, std::function<void(HttpAnswer)> done) {
  auto q = parse_list_query(call.query, engine.tenants());
  if (!q) return done(answer_error(q.error()));
  engine.list(q->tenant, q->filter, q->limit, q->cursor,
              reply<queue::EventPage>(std::move(done), 200,
                                      [](const queue::EventPage& p) { return to_json(p); }));
}

void show(Engine& engine, const HttpCall& call, const std::string& id,
          std::function<void(HttpAnswer)> done) {
  if (!plausible_id(id)) return done(bad_id("an event id", id));
  auto tenant = parse_tenant_query(call.query, engine.tenants());
  if (!tenant) return done(answer_error(tenant.error()));
  engine.show(*tenant, id, reply<EventDetail>(std::move(done), 200, [](const EventDetail& d) {
    return to_json(d);
  }));
}

void act(Engine& engine, const HttpCall& call, Action action,
         std::function<void(HttpAnswer)> done) {
  auto request = parse_action_body(call.body, action, engine.tenants());
  if (!request) return done(answer_error(request.error()));
  request->actor = kActor;
  engine.act(std::move(*request), [done = std::move(done), action](Result<ActionAnswer> r) {
    if (!r) return done(answer_error(r.error()));
    done({r->job_id.empty() ? 200u : 202u, to_json(*r, action), false});
  });
}

}  // namespace

void serve_http(Engine& engine, HttpCall call, std::function<void(HttpAnswer)> done) {
  const std::string_view path = call.path;
  const std::string& method = call.method;
  if (path == kEvents) {
    if (method != "GET") return done(not_allowed(method, "GET"));
    return list(engine, call, std::move(done));
  }
  if (path == kJobs) {
    if (method != "GET") return done(not_allowed(method, "GET"));
    auto tenant = parse_tenant_query(call.query, engine.tenants());
    if (!tenant) return done(answer_error(tenant.error()));
    return engine.jobs(
        *tenant, reply<std::vector<Job>>(std::move(done), 200, [](const std::vector<Job>& jobs) {
          return to_json(jobs);
        }));
  }
  if (path == kActivity) {
    if (method != "GET") return done(not_allowed(method, "GET"));
    auto tenant = parse_tenant_query(call.query, engine.tenants());
    if (!tenant) return done(answer_error(tenant.error()));
    if (tenant->empty()) {
      return done({400,
                   error_json("invalid_field",
                              "\"tenant\" is required: GET /v1/admin/activity?tenant=<tenant>"),
                   false});
    }
    return engine.activity(*tenant, reply<queue::Activity>(std::move(done), 200,
                                                           [t = *tenant](const queue::Activity& a) {
                                                             return to_json(t, a);
                                                           }));
  }
  const auto under = [&](std::string_view prefix) {
    return path.size() > prefix.size() + 1 && path.substr(0, prefix.size()) == prefix &&
           path[prefix.size()] == '/';
  };
  if (under(kEvents)) {
    const std::string rest(path.substr(kEvents.size() + 1));
    if (rest == "replay" || rest == "discard") {
      if (method != "POST") return done(not_allowed(method, "POST"));
      return act(engine, call, rest == "replay" ? Action::replay : Action::discard,
                 std::move(done));
    }
    if (rest.find('/') != std::string::npos) {
      return done({404, error_json("not_found", "no route for " + shorten(path, 128)), false});
    }
    if (method != "GET") return done(not_allowed(method, "GET"));
    return show(engine, call, rest, std::move(done));
  }
  if (under(kJobs)) {
    const std::string id(path.substr(kJobs.size() + 1));
    if (id.find('/') != std::string::npos) {
      return done({404, error_json("not_found", "no route for " + shorten(path, 128)), false});
    }
    if (method != "GET" && method != "DELETE") return done(not_allowed(method, "GET, DELETE"));
    if (!plausible_id(id)) return done(bad_id("a job id", id));
    auto to = [](const Job& j) { return to_json(j); };
    if (method == "GET") return engine.job(id, reply<Job>(std::move(done), 200, to));
    return engine.cancel(id, reply<Job>(std::move(done), 200, to));
  }
  done({404, error_json("not_found", "no route for " + shorten(path, 128)), false});
}

}  // namespace isync::oncall
