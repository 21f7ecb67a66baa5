// The console's routes of a Session (console/console.hpp): the page and its
// assets (no auth), login, the session's CSRF token and logout. Every answer
// carries the console's security headers.
#include "console/console.hpp"
#include "core/json.hpp"
#include "ingest/detail/session.hpp"

namespace isync::ingest::detail {

namespace http = boost::beast::http;

namespace {

constexpr std::string_view kNoSession =
    "no console session (missing, expired or from another admin token); log in with the admin "
    "token at POST /console/login";
constexpr std::string_view kWrongToken = "the admin token is wrong";

std::string csrf_body(std::string_view csrf) {
  std::string body = "{\"csrf\":";
  append_json_string(body, csrf);
  return body + "}";
}

// The admin token of a login body {"token":"…"}; an Error says what is wrong.
Result<std::string> login_token(std::string_view body) {
  auto doc = json::parse(body, json::kStrict);
  if (!doc) return doc.error();
  const auto invalid = [](std::string message) {
    return make_error("invalid_field", std::move(message));
  };
  if (!doc->IsObject()) return invalid("the body must be a JSON object {\"token\":\"…\"}");
  std::string token;
  bool has_token = false;
  for (const auto& m : doc->GetObject()) {
    const std::string_view name(m.name.GetString(), m.name.GetStringLength());
    if (name != "token") {
      return invalid("unknown member \"" + shorten(name, 64) + "\"; the body is {\"token\":\"…\"}");
    }
    if (!m.value.IsString()) return invalid("\"token\" must be a string");
    token.assign(m.value.GetString(), m.value.GetStringLength());
    has_token = true;
  }
  if (!has_token) return invalid("\"token\" is required");
  return Result<std::string>(boost::system::in_place_value, std::move(token));
}

}  // namespace

void Session::add_console_headers() {
  for (const auto& [name, value] : console::security_headers()) {
    headers_.emplace_back(name, value);
  }
}

std::string Session::console_session(const Request& req) const {
  std::string_view value = console::cookie_value(req[http::field::cookie], console::kCookieName);
  if (value.empty() ||
      !console::session_valid(state_->console_key(), value, state_->clock().now_ms())) {
    return {};
  }
  return std::string(value);
}

void Session::route_console() {
  const auto& req = parser_->get();
  switch (route_.id) {
    case RouteId::console_page:
    case RouteId::console_asset:
      return serve_asset();
    case RouteId::console_login: {
      if (refuse_throttled(req)) return;
      auto length = parser_->content_length();
      if (auto refused = check_json_header(
              req[http::field::content_type],
              length ? std::optional<std::uint64_t>(*length) : std::nullopt, kConsoleLoginLimit)) {
        return respond_admin(std::move(*refused));
      }
      return do_read_body();
    }
    case RouteId::console_session: {
      std::string session = console_session(req);
      if (session.empty()) return respond_error(401, "unauthorized", kNoSession);
      return respond(200, csrf_body(console::csrf_token(state_->console_key(), session)));
    }
    case RouteId::console_logout: {
      std::string session = console_session(req);
      if (session.empty()) return respond_error(401, "unauthorized", kNoSession);
      if (!console::csrf_valid(state_->console_key(), session, req[console::kCsrfHeader])) {
        return respond_error(403, "csrf_failed", kCsrfFailed);
      }
      headers_.emplace_back("Set-Cookie",
                            console::clear_cookie(state_->options().console_secure_cookie));
      return respond(200, "{}");
    }
    default:
      break;
  }
  respond_error(404, "not_found", "no route for " + shorten(split_target(req.target()).path, 128));
}

void Session::serve_asset() {
  const auto& req = parser_->get();
  auto found = console::asset(split_target(req.target()).path);
  if (!found) {
    return respond_error(404, "not_found",
                         "no console asset " + shorten(split_target(req.target()).path, 128));
  }
  if (route_.id == RouteId::console_asset) {
    // Assets may be kept, but are checked again each time (they change with
    // the binary); the shell is never stored.
    cache_control_ = "no-cache";
    headers_.emplace_back("ETag", std::string(found->etag));
    if (req[http::field::if_none_match] == found->etag) {
      return respond(304, {}, found->content_type);
    }
  }
  respond(200, std::string(found->body), found->content_type);
}

void Session::handle_console_login() {
  auto token = login_token(parser_->get().body());
  if (!token) return respond_error(400, token.error().code, token.error().message);
  const std::string& admin = state_->options().admin_token;
  const bool right = !admin.empty() && constant_time_equal(*token, admin);
  if (!right) {
    state_->log().warn("console login refused", LogLine().str("peer", peer_.to_string()));
    auth_failed(parser_->get());
    return respond_error(401, "unauthorized", kWrongToken);
  }
  const Options& opts = state_->options();
  auto session = console::make_session(state_->console_key(), state_->clock().now_ms(),
                                       opts.console_session_ttl);
  if (!session) {
    retry_after_ = std::to_string(opts.retry_after.count());
    return respond_error(503, "unavailable", session.error().message);
  }
  state_->log().info("console login", LogLine().str("peer", peer_.to_string()));
  headers_.emplace_back("Set-Cookie", console::session_cookie(*session, opts.console_session_ttl,
                                                              opts.console_secure_cookie));
  respond(200, csrf_body(console::csrf_token(state_->console_key(), *session)));
}

}  // namespace isync::ingest::detail
