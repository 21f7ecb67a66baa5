// The admin listener's routes of a Session: /metrics, /v1/admin/status,
// mirror reads, reconcile and the on-call routes. Every one checks the Bearer
// token first.
#include <boost/asio/post.hpp>

#include "console/console.hpp"
#include "ingest/detail/mirror_routes.hpp"
#include "ingest/detail/reconcile_routes.hpp"
#include "ingest/detail/session.hpp"

namespace isync::ingest::detail {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

constexpr std::string_view kUnauthorizedAdmin =
    "the admin token is missing or wrong; send Authorization: Bearer <admin token>";

}  // namespace

void Session::route_admin() {
  const auto& req = parser_->get();
  const bool mirror = route_.id == RouteId::mirror_record || route_.id == RouteId::mirror_find;
  // Only a Bearer token can be guessed: a request with one is refused while
  // its address is throttled, whatever the token; one that opens nothing
  // counts. Without one (a console cookie, checked by its MAC, or nothing)
  // neither.
  const bool bearer = !bearer_token(req[http::field::authorization]).empty();
  if (bearer && refuse_throttled(req)) return;
  std::string session;
  const AdminAuth auth = admin_auth(req, mirror, session);
  if (auth == AdminAuth::none) {
    if (bearer) auth_failed(req);
    return respond_error(401, "unauthorized",
                         mirror ? "the token is missing or wrong; send Authorization: Bearer "
                                  "<admin token or the tenant's read token>"
                                : kUnauthorizedAdmin);
  }
  // A browser sends the cookie by itself: a state-changing request made with
  // it must also prove it comes from the console's page.
  const bool changes = req.method() == http::verb::post || req.method() == http::verb::delete_;
  if (auth == AdminAuth::console_session && changes &&
      !console::csrf_valid(state_->console_key(), session, req[console::kCsrfHeader])) {
    return respond_error(403, "csrf_failed", kCsrfFailed);
  }
  auto target = split_target(req.target());
  switch (route_.id) {
    case RouteId::metrics:
      return handle_metrics();
    case RouteId::status:
      return handle_status();
    case RouteId::mirror_record:
    case RouteId::mirror_find:
      return handle_mirror();
    case RouteId::reconcile_start: {
      auto length = parser_->content_length();
      if (auto refused = check_reconcile_header(
              req[http::field::content_type],
              length ? std::optional<std::uint64_t>(*length) : std::nullopt)) {
        return respond_admin(std::move(*refused));
      }
      return do_read_body();
    }
    case RouteId::reconcile_runs:
      return list_reconcile_runs(state_->options(), target.query, admin_reply());
    case RouteId::reconcile_run:
      return get_reconcile_run(state_->options(), route_.run_id, target.query, admin_reply());
    case RouteId::events_api: {
      if (req.method() != http::verb::post) return handle_events_api();
      auto length = parser_->content_length();
      if (auto refused = check_json_header(
              req[http::field::content_type],
              length ? std::optional<std::uint64_t>(*length) : std::nullopt, kEventsBodyLimit)) {
        return respond_admin(std::move(*refused));
      }
      return do_read_body();
    }
    default:
      break;
  }
  respond_error(404, "not_found", "no route for " + shorten(target.path, 128));
}

void Session::handle_reconcile_start() {
  start_reconcile(state_->options(), parser_->get().body(), admin_reply());
}

void Session::handle_events_api() {
  const auto& hook = state_->options().events_api;
  auto reply = admin_reply();
  if (!hook) {
    return reply(
        {503, error_body("unavailable", "the on-call API is not available in this process"), true});
  }
  auto& req = parser_->get();
  auto target = split_target(req.target());
  EventsCall call{std::string(req.method_string()), std::string(target.path),
                  std::string(target.query),
                  req.method() == http::verb::post ? std::move(req.body()) : std::string()};
  hook(std::move(call), [reply](unsigned status, std::string body, bool retry_after) {
    reply({status, std::move(body), retry_after});
  });
}

std::function<void(AdminAnswer)> Session::admin_reply() {
  return [self = shared_from_this()](AdminAnswer answer) {
    asio::post(self->stream_.get_executor(), [self, answer = std::move(answer)]() mutable {
      self->respond_admin(std::move(answer));
    });
  };
}

void Session::respond_admin(AdminAnswer answer) {
  if (answer.retry_after) retry_after_ = std::to_string(state_->options().retry_after.count());
  respond(answer.status, std::move(answer.body));
}

std::size_t Session::body_limit() const {
  if (route_.id == RouteId::reconcile_start) return kReconcileBodyLimit;
  if (route_.id == RouteId::events_api) return kEventsBodyLimit;
  if (route_.id == RouteId::console_login) return kConsoleLoginLimit;
  return state_->options().body_limit;
}

Session::AdminAuth Session::admin_auth(const Request& req, bool allow_read_token,
                                       std::string& session) const {
  std::string_view token = bearer_token(req[http::field::authorization]);
  if (!token.empty()) {
    const std::string& admin = state_->options().admin_token;
    if (!admin.empty() && constant_time_equal(token, admin)) return AdminAuth::admin_token;
    if (allow_read_token) {
      const TenantAuth* tenant = state_->tenant(route_.tenant);
      if (tenant && !tenant->read_token.empty() && constant_time_equal(token, tenant->read_token)) {
        return AdminAuth::read_token;
      }
    }
  }
  session = console_session(req);
  return session.empty() ? AdminAuth::none : AdminAuth::console_session;
}

std::string Session::client_key(const Request& req) const {
  auto client = client_address(peer_, req["X-Forwarded-For"], state_->trusted_proxies());
  return (client ? *client : peer_).to_string();
}

bool Session::refuse_throttled(const Request& req) {
  const std::int64_t ms =
      state_->admin_throttle().blocked_ms(client_key(req), state_->clock().now_ms());
  if (ms <= 0) return false;
  const std::string seconds = std::to_string((ms + 999) / 1000);
  retry_after_ = seconds;
  respond_error(429, "too_many_failures",
                "too many failed authentications from this address; retry after " + seconds + " s");
  return true;
}

void Session::auth_failed(const Request& req) {
  const std::string client = client_key(req);
  if (state_->admin_throttle().failed(client, state_->clock().now_ms())) {
    state_->log().warn("admin authentication: too many failures, refusing the address",
                       LogLine()
                           .str("client", client)
                           .num("failures", state_->options().admin_auth_failures)
                           .num("window_ms", state_->options().admin_auth_window.count()));
  }
}

void Session::handle_metrics() {
  auto render = [self = shared_from_this()] {
    asio::post(self->stream_.get_executor(), [self] {
      self->respond(200, self->state_->metrics().render(), "text/plain; version=0.0.4");
    });
  };
  const auto& hook = state_->options().before_metrics;
  if (hook) {
    hook(render);
  } else {
    render();
  }
}

void Session::handle_status() {
  const auto& hook = state_->options().status;
  auto answer = [self = shared_from_this()](Result<std::string> r) {
    asio::post(self->stream_.get_executor(), [self, r = std::move(r)]() mutable {
      if (r) return self->respond(200, std::move(*r));
      self->retry_after_ = std::to_string(self->state_->options().retry_after.count());
      self->respond_error(503, "unavailable",
                          "the status cannot be read right now (Redis unavailable); retry later");
    });
  };
  if (!hook) return answer(make_error("unavailable", "no status in this process"));
  hook(std::move(answer));
}

void Session::handle_mirror() {
  auto target = split_target(parser_->get().target());
  bool known = state_->tenant(route_.tenant) != nullptr;
  read_mirror(known ? state_->mirror() : nullptr, known, route_, target.query,
              [self = shared_from_this()](MirrorAnswer answer) {
                asio::post(self->stream_.get_executor(), [self, answer = std::move(answer)] {
                  if (answer.status == 503) {
                    self->retry_after_ =
                        std::to_string(self->state_->options().retry_after.count());
                  }
                  self->respond(answer.status, answer.body);
                });
              });
}

}  // namespace isync::ingest::detail
