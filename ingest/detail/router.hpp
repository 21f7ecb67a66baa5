// Route tables of the two listeners. Matching looks at the method and the
// path only (no query), so 404 and 405 are decided before anything else.
#pragma once

// <ostream> first: Boost 1.81's string_view header uses std::ostream without
// including it, and beast/http/verb.hpp reaches it directly.
#include <ostream>
// clang-format off
#include <boost/beast/http/verb.hpp>
// clang-format on
#include <string>
#include <string_view>

namespace isync::ingest::detail {

enum class RouteId {
  none,             // no such path: 404
  events,           // POST /v1/intacct/{tenant}/events
  noop,             // POST /v1/noop/{tenant}/events (benchmark only)
  stripe,           // POST /v1/payments/{tenant}/stripe
  triggers,         // POST /v1/intacct/{tenant}/triggers
  healthz,          // GET /healthz
  readyz,           // GET /readyz
  metrics,          // GET /metrics (admin)
  mirror_record,    // GET /v1/tenants/{tenant}/{collection}/{recordno} (admin)
  mirror_find,      // GET /v1/tenants/{tenant}/{collection}?by=id&id=X (admin)
  status,           // GET /v1/admin/status (admin)
  reconcile_start,  // POST /v1/admin/reconcile (admin)
  reconcile_runs,   // GET /v1/admin/reconcile/runs?tenant=T (admin)
  reconcile_run,    // GET /v1/admin/reconcile/runs/{run_id} (admin)
  // On-call (admin), passed to Options::events_api: GET /v1/admin/events,
  // GET /v1/admin/events/{id}, POST /v1/admin/events/replay|discard,
  // GET /v1/admin/jobs, GET|DELETE /v1/admin/jobs/{id}, GET /v1/admin/activity.
  events_api,
  // The console (admin listener, console/console.hpp).
  console_page,     // GET /console (the HTML shell; no auth)
  console_asset,    // GET /console/assets/{name} (no auth)
  console_login,    // POST /console/login
  console_session,  // GET /console/session
  console_logout,   // POST /console/logout
};

struct RouteMatch {
  RouteId id = RouteId::none;
  std::string_view route = "unmatched";  // template, the metrics label
  bool method_allowed = false;
  std::string_view allow;  // the Allow header when !method_allowed
  std::string tenant;      // raw path segment, not yet validated
  std::string collection;  // customers | invoices | payments
  std::string recordno;    // raw path segment
  std::string run_id;      // raw path segment
};

RouteMatch match_public(boost::beast::http::verb method, std::string_view path, bool noop_route);
RouteMatch match_admin(boost::beast::http::verb method, std::string_view path);

}  // namespace isync::ingest::detail
