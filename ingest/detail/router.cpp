#include "ingest/detail/router.hpp"

#include <array>

namespace isync::ingest::detail {

namespace http = boost::beast::http;

namespace {

constexpr std::size_t kMaxSegments = 6;

// Splits "/a/b/c" into segments; false for a path that is not absolute, has
// an empty segment or more than kMaxSegments (none of ours do).
bool split_path(std::string_view path, std::array<std::string_view, kMaxSegments>& out,
                std::size_t& n) {
  n = 0;
  if (path.empty() || path.front() != '/') return false;
  path.remove_prefix(1);
  while (true) {
    auto slash = path.find('/');
    auto seg = path.substr(0, slash);
    if (seg.empty() || n == kMaxSegments) return false;
    out[n++] = seg;
    if (slash == std::string_view::npos) return true;
    path.remove_prefix(slash + 1);
  }
}

RouteMatch make(RouteId id, std::string_view route, http::verb method, http::verb wanted,
                std::string_view allow) {
  RouteMatch m;
  m.id = id;
  m.route = route;
  m.method_allowed = method == wanted;
  m.allow = allow;
  return m;
}

}  // namespace

RouteMatch match_public(http::verb method, std::string_view path, bool noop_route) {
  if (path == "/healthz") return make(RouteId::healthz, "/healthz", method, http::verb::get, "GET");
  if (path == "/readyz") return make(RouteId::readyz, "/readyz", method, http::verb::get, "GET");
  std::array<std::string_view, kMaxSegments> seg{};
  std::size_t n = 0;
  if (!split_path(path, seg, n) || n != 4 || seg[0] != "v1") return {};
  RouteMatch m;
  if (seg[1] == "payments" && seg[3] == "stripe") {
    m = make(RouteId::stripe, "/v1/payments/{tenant}/stripe", method, http::verb::post, "POST");
  } else if (seg[1] == "intacct" && seg[3] == "triggers") {
    m = make(RouteId::triggers, "/v1/intacct/{tenant}/triggers", method, http::verb::post, "POST");
  } else if (seg[3] != "events") {
    return {};
  } else if (seg[1] == "intacct") {
    m = make(RouteId::events, "/v1/intacct/{tenant}/events", method, http::verb::post, "POST");
  } else if (seg[1] == "noop" && noop_route) {
    m = make(RouteId::noop, "/v1/noop/{tenant}/events", method, http::verb::post, "POST");
  } else {
    return {};
  }
  m.tenant = std::string(seg[2]);
  return m;
}

RouteMatch match_admin(http::verb method, std::string_view path) {
  if (path == "/metrics") return make(RouteId::metrics, "/metrics", method, http::verb::get, "GET");
  if (path == "/v1/admin/status") {
    return make(RouteId::status, "/v1/admin/status", method, http::verb::get, "GET");
  }
  if (path == "/v1/admin/reconcile") {
    return make(RouteId::reconcile_start, "/v1/admin/reconcile", method, http::verb::post, "POST");
  }
  if (path == "/v1/admin/reconcile/runs") {
    return make(RouteId::reconcile_runs, "/v1/admin/reconcile/runs", method, http::verb::get,
                "GET");
  }
  if (path == "/v1/admin/events") {
    return make(RouteId::events_api, "/v1/admin/events", method, http::verb::get, "GET");
  }
  if (path == "/v1/admin/jobs") {
    return make(RouteId::events_api, "/v1/admin/jobs", method, http::verb::get, "GET");
  }
  if (path == "/v1/admin/activity") {
    return make(RouteId::events_api, "/v1/admin/activity", method, http::verb::get, "GET");
  }
  if (path == "/console" || path == "/console/") {
    return make(RouteId::console_page, "/console", method, http::verb::get, "GET");
  }
  if (path == "/console/login") {
    return make(RouteId::console_login, "/console/login", method, http::verb::post, "POST");
  }
  if (path == "/console/session") {
    return make(RouteId::console_session, "/console/session", method, http::verb::get, "GET");
  }
  if (path == "/console/logout") {
    return make(RouteId::console_logout, "/console/logout", method, http::verb::post, "POST");
  }
  if (path.substr(0, 16) == "/console/assets/" && path.size() > 16) {
    return make(RouteId::console_asset, "/console/assets/{name}", method, http::verb::get, "GET");
  }
  std::array<std::string_view, kMaxSegments> seg{};
  std::size_t n = 0;
  if (!split_path(path, seg, n)) return {};
  if (n == 4 && seg[0] == "v1" && seg[1] == "admin" && seg[2] == "events") {
    if (seg[3] == "replay") {
      return make(RouteId::events_api, "/v1/admin/events/replay", method, http::verb::post, "POST");
    }
    if (seg[3] == "discard") {
      return make(RouteId::events_api, "/v1/admin/events/discard", method, http::verb::post,
                  "POST");
    }
    return make(RouteId::events_api, "/v1/admin/events/{id}", method, http::verb::get, "GET");
  }
  if (n == 4 && seg[0] == "v1" && seg[1] == "admin" && seg[2] == "jobs") {
    RouteMatch m =
        make(RouteId::events_api, "/v1/admin/jobs/{id}", method, http::verb::get, "GET, DELETE");
    m.method_allowed = method == http::verb::get || method == http::verb::delete_;
    return m;
  }
  if (n == 5 && seg[0] == "v1" && seg[1] == "admin" && seg[2] == "reconcile" && seg[3] == "runs") {
    RouteMatch m = make(RouteId::reconcile_run, "/v1/admin/reconcile/runs/{run_id}", method,
                        http::verb::get, "GET");
    m.run_id = std::string(seg[4]);
    return m;
  }
  if ((n != 4 && n != 5) || seg[0] != "v1" || seg[1] != "tenants") {
    return {};
  }
  if (seg[3] != "customers" && seg[3] != "invoices" && seg[3] != "payments") return {};
  RouteMatch m = n == 5
                     ? make(RouteId::mirror_record, "/v1/tenants/{tenant}/{collection}/{recordno}",
                            method, http::verb::get, "GET")
                     : make(RouteId::mirror_find, "/v1/tenants/{tenant}/{collection}", method,
                            http::verb::get, "GET");
  m.tenant = std::string(seg[2]);
  m.collection = std::string(seg[3]);
  if (n == 5) m.recordno = std::string(seg[4]);
  return m;
}

}  // namespace isync::ingest::detail
