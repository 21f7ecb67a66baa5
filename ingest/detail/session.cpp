#include "ingest/detail/session.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "ingest/detail/smart_event.hpp"

namespace isync::ingest::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;

namespace {

constexpr std::string_view kUnauthorizedTenant =
    "the tenant is unknown or the token is missing or wrong; send Authorization: Bearer <token> "
    "or ?token=<token>";
// One answer for an unknown tenant, a tenant without Stripe secrets and a
// wrong signature, so tenants cannot be probed.
constexpr std::string_view kStripeNoMatch = "Stripe-Signature: no v1 signature matches";
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// Paths quoted in 404 messages are cut: they come from the client.
std::string shown_path(std::string_view path) { return shorten(path, 128); }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto x = static_cast<unsigned char>(a[i]);
    auto y = static_cast<unsigned char>(b[i]);
    if (std::tolower(x) != std::tolower(y)) return false;
  }
  return true;
}

unsigned status_of(const std::string& code) {
  if (code == "unsupported_media_type") return 415;
  return 400;
}

}  // namespace

Session::Session(asio::ip::tcp::socket socket, std::shared_ptr<ServerState> state,
                 ListenerKind listener)
    : stream_(std::move(socket)), state_(std::move(state)), listener_(listener) {
  beast::error_code ec;
  auto ep = stream_.socket().remote_endpoint(ec);
  if (!ec) peer_ = normalise(ep.address());
}

Session::~Session() {
  state_->remove_session(this);
  state_->release();
}

void Session::start() {
  state_->add_session(this, weak_from_this());
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read_header(); });
}

void Session::drain() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    if (!self->busy_) self->close();
  });
}

void Session::force_close() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] { self->close(); });
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  beast::error_code ec;
  stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  stream_.close();
}

void Session::do_read_header() {
  if (closed_) return;
  if (state_->draining()) return close();
  busy_ = false;
  close_after_ = false;
  retry_after_.clear();
  allow_.clear();
  route_ = RouteMatch{};
  stripe_signature_.reset();
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(state_->options().header_limit));
  // No body limit while reading the header: Beast would otherwise fail the
  // header read on a large Content-Length, answering 413 before 404/401.
  parser_->body_limit(boost::none);
  stream_.expires_after(state_->options().read_timeout);
  http::async_read_header(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read_header(ec); });
}

void Session::on_read_header(beast::error_code ec) {
  if (ec) {
    // End of stream, a timeout (slowloris), a close by drain: nothing to answer.
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || closed_ || buffer_.size() == 0) {
      return close();
    }
    started_ = std::chrono::steady_clock::now();
    busy_ = true;
    close_after_ = true;
    if (ec == http::error::header_limit) {
      return respond_error(431, "header_too_large",
                           "the request header is larger than " +
                               std::to_string(state_->options().header_limit) + " bytes");
    }
    return respond_error(400, "malformed_request", "the request is not valid HTTP/1.1");
  }
  started_ = std::chrono::steady_clock::now();
  busy_ = true;
  route_request();
}

void Session::route_request() {
  const auto& req = parser_->get();
  auto target = split_target(req.target());
  bool has_body = !parser_->is_done();
  // A body we do not read would be taken for the next request: close instead.
  close_after_ = has_body;
  const Options& opts = state_->options();
  route_ = listener_ == ListenerKind::public_listener
               ? match_public(req.method(), target.path, opts.noop_route)
               : match_admin(req.method(), target.path);
  if (route_.id == RouteId::none) {
    return respond_error(404, "not_found", "no route for " + shown_path(target.path));
  }
  if (!route_.method_allowed) {
    allow_ = std::string(route_.allow);
    return respond_error(405, "method_not_allowed",
                         "method " + std::string(req.method_string().substr(0, 16)) +
                             " is not allowed here; use " + allow_);
  }
  switch (route_.id) {
    case RouteId::healthz:
      return respond(200, R"({"status":"ok"})");
    case RouteId::readyz: {
      if (state_->draining()) {
        retry_after_ = std::to_string(opts.retry_after.count());
        return respond(503, R"({"status":"unavailable","reason":"draining"})");
      }
      state_->probe_writable([self = shared_from_this()](bool ok, std::string why) {
        asio::post(self->stream_.get_executor(), [self, ok, why = std::move(why)] {
          if (ok) return self->respond(200, R"({"status":"ok"})");
          self->retry_after_ = std::to_string(self->state_->options().retry_after.count());
          std::string body = R"({"status":"unavailable","reason":)";
          append_json_string(body, why);
          body += '}';
          self->respond(503, std::move(body));
        });
      });
      return;
    }
    case RouteId::events:
    case RouteId::noop: {
      if (!tenant_authorized(req, target.query)) {
        return respond_error(401, "unauthorized", kUnauthorizedTenant);
      }
      auto content_type = req[http::field::content_type];
      if (!body_encoding(content_type)) {
        std::string shown(content_type.substr(0, 64));
        return respond_error(415, "unsupported_media_type",
                             content_type.empty()
                                 ? std::string("the Content-Type header is missing; send "
                                               "application/x-www-form-urlencoded, "
                                               "application/json or application/xml")
                                 : "Content-Type \"" + shown +
                                       "\" is not accepted; send "
                                       "application/x-www-form-urlencoded, application/json "
                                       "or application/xml");
      }
      auto length = parser_->content_length();
      if (length && *length > opts.body_limit) {
        return respond_error(413, "payload_too_large",
                             "the body is larger than " + std::to_string(opts.body_limit) +
                                 " bytes (Content-Length " + std::to_string(*length) + ")");
      }
      return do_read_body();
    }
    case RouteId::stripe:
      return route_stripe();
    case RouteId::metrics:
    case RouteId::status:
    case RouteId::mirror_record:
    case RouteId::mirror_find:
    case RouteId::reconcile_start:
    case RouteId::reconcile_runs:
    case RouteId::reconcile_run:
      return route_admin();
    case RouteId::none:
      break;
  }
  respond_error(404, "not_found", "no route for " + shown_path(target.path));
}

// Stripe signs the body, so this route authenticates only after reading it:
// here the header's form is checked (before the tenant is looked up, so the
// answer does not depend on the tenant) and the declared length; the
// signature, the timestamp and the rest follow in handle_stripe_body. Reading
// the body first is why an oversized body is 413 even when it is unsigned.
void Session::route_stripe() {
  const auto& req = parser_->get();
  const Options& opts = state_->options();
  auto header = req.find("Stripe-Signature");
  if (header == req.end()) {
    return respond_error(401, "unauthorized", "Stripe-Signature header is missing");
  }
  if (req.count("Stripe-Signature") > 1) {
    return respond_error(401, "unauthorized",
                         "Stripe-Signature header is malformed: it appears more than once");
  }
  auto signature = parse_stripe_signature(header->value());
  if (!signature) {
    return respond_error(401, signature.error().code, signature.error().message);
  }
  stripe_signature_ = std::move(*signature);
  auto length = parser_->content_length();
  if (length && *length > opts.body_limit) {
    return respond_error(413, "payload_too_large",
                         "the body is larger than " + std::to_string(opts.body_limit) +
                             " bytes (Content-Length " + std::to_string(*length) + ")");
  }
  do_read_body();
}

bool Session::tenant_authorized(const Request& req, std::string_view query) const {
  std::string_view token = bearer_token(req[http::field::authorization]);
  std::optional<std::string> from_query;
  if (token.empty()) {
    from_query = query_param(query, "token");
    if (from_query) token = *from_query;
  }
  const TenantAuth* tenant = state_->tenant(route_.tenant);
  if (!tenant) {
    // Same work as a known tenant, so timing does not tell tenants apart.
    (void)constant_time_equal(token, token);
    return false;
  }
  if (token.empty() || !constant_time_equal(token, tenant->token)) return false;
  if (tenant->allow.empty()) return true;
  auto client = client_address(peer_, req["X-Forwarded-For"], state_->trusted_proxies());
  return client && any_contains(tenant->allow, *client);
}

void Session::do_read_body() {
  const auto& req = parser_->get();
  parser_->body_limit(body_limit());
  close_after_ = false;
  auto read = [self = shared_from_this()] {
    self->stream_.expires_after(self->state_->options().read_timeout);
    http::async_read(self->stream_, self->buffer_, *self->parser_,
                     [self](beast::error_code ec, std::size_t) { self->on_read_body(ec); });
  };
  if (iequals(req[http::field::expect], "100-continue")) {
    stream_.expires_after(state_->options().write_timeout);
    asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                      [self = shared_from_this(), read](beast::error_code ec, std::size_t) {
                        if (ec) return self->close();
                        read();
                      });
    return;
  }
  read();
}

void Session::on_read_body(beast::error_code ec) {
  if (ec) {
    close_after_ = true;
    if (ec == http::error::body_limit) {
      return respond_error(413, "payload_too_large",
                           "the body is larger than " + std::to_string(body_limit()) + " bytes");
    }
    if (ec == beast::error::timeout || ec == asio::error::operation_aborted || closed_ ||
        ec == http::error::end_of_stream || ec == http::error::partial_message) {
      return close();
    }
    return respond_error(400, "malformed_body", "the request body framing is not valid HTTP/1.1");
  }
  if (route_.id == RouteId::stripe) return handle_stripe_body();
  if (route_.id == RouteId::reconcile_start) return handle_reconcile_start();
  handle_events_body();
}

void Session::handle_stripe_body() {
  const auto& req = parser_->get();
  const Options& opts = state_->options();
  static const std::vector<std::string> kNoSecrets;
  const TenantAuth* tenant = state_->tenant(route_.tenant);
  if (!stripe_signature_matches(*stripe_signature_, req.body(),
                                tenant ? tenant->stripe_secrets : kNoSecrets)) {
    return respond_error(401, "unauthorized", kStripeNoMatch);
  }
  auto now_ms = state_->clock().now_ms();
  if (!stripe_timestamp_fresh(stripe_signature_->timestamp, now_ms / 1000,
                              opts.stripe_tolerance.count())) {
    return respond_error(401, "signature_expired",
                         "Stripe-Signature timestamp is outside the tolerance of " +
                             std::to_string(opts.stripe_tolerance.count()) + " s");
  }
  auto content_type = req[http::field::content_type];
  if (body_encoding(content_type) != BodyEncoding::json) {
    return respond_error(415, "unsupported_media_type",
                         content_type.empty()
                             ? std::string("the Content-Type header is missing; send "
                                           "application/json")
                             : "Content-Type \"" + std::string(content_type.substr(0, 64)) +
                                   "\" is not accepted; send application/json");
  }
  auto parsed = parse_stripe_event(req.body(), opts.redact_fields);
  if (!parsed) return respond_error(400, parsed.error().code, parsed.error().message);
  queue::Envelope env = std::move(parsed->envelope);
  env.event_id = make_ulid(now_ms);
  env.tenant = route_.tenant;
  env.received_at_ms = now_ms;
  env.content_type = std::string(content_type);
  state_->producer().accept(env, "stripe:" + parsed->id, opts.dedup_window,
                            [self = shared_from_this()](Result<queue::AcceptResult> result) {
                              asio::post(self->stream_.get_executor(),
                                         [self, result = std::move(result)]() mutable {
                                           self->on_accepted(std::move(result));
                                         });
                            });
}

void Session::handle_events_body() {
  const auto& req = parser_->get();
  auto content_type = req[http::field::content_type];
  auto parsed = parse_smart_event(content_type, req.body());
  if (!parsed) {
    return respond_error(status_of(parsed.error().code), parsed.error().code,
                         parsed.error().message);
  }
  auto now_ms = state_->clock().now_ms();
  if (route_.id == RouteId::noop) {
    return respond(202, R"({"event_id":")" + make_ulid(now_ms) + R"(","duplicate":false})");
  }
  queue::Envelope env;
  env.v = 1;
  env.event_id = make_ulid(now_ms);
  env.source = "intacct";
  env.tenant = route_.tenant;
  env.object = std::move(parsed->object);
  env.action = std::move(parsed->action);
  env.key = std::move(parsed->recordno);
  env.version = parsed->version;
  env.whenmodified = std::move(parsed->whenmodified);
  env.snapshot = std::move(parsed->snapshot);
  env.received_at_ms = now_ms;
  env.content_type = std::string(content_type);
  // The body is not read again (respond() looks at the header only).
  env.raw = std::move(parser_->get().body());
  auto dedup = queue::smart_event_dedup_key(env);
  state_->producer().accept(env, dedup, state_->options().dedup_window,
                            [self = shared_from_this()](Result<queue::AcceptResult> result) {
                              asio::post(self->stream_.get_executor(),
                                         [self, result = std::move(result)]() mutable {
                                           self->on_accepted(std::move(result));
                                         });
                            });
}

void Session::on_accepted(Result<queue::AcceptResult> result) {
  if (!result) {
    state_->log().warn("event not queued",
                       LogLine().str("tenant", route_.tenant).str("error", result.error().code));
    retry_after_ = std::to_string(state_->options().retry_after.count());
    return respond_error(503, "unavailable",
                         "the event queue is unavailable; the event was not accepted, retry "
                         "later");
  }
  std::string body = "{\"event_id\":";
  append_json_string(body, result->event_id);
  body += result->duplicate ? ",\"duplicate\":true}" : ",\"duplicate\":false}";
  respond(202, std::move(body));
}

void Session::respond_error(unsigned status, std::string_view code, std::string_view message) {
  respond(status, error_body(code, message));
}

void Session::respond(unsigned status, std::string body, std::string_view content_type) {
  if (closed_) return;
  const auto& req = parser_->get();
  bool keep_alive = !close_after_ && !state_->draining() && req.keep_alive();
  res_ = {};
  res_.result(status);
  res_.version(req.version() == 10 ? 10 : 11);
  res_.set(http::field::content_type, content_type);
  res_.set(http::field::cache_control, "no-store");
  if (!allow_.empty()) res_.set(http::field::allow, allow_);
  if (!retry_after_.empty()) res_.set(http::field::retry_after, retry_after_);
  res_.body() = std::move(body);
  res_.keep_alive(keep_alive);
  res_.prepare_payload();
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  state_->record(listener_, route_.route, status, seconds);
  stream_.expires_after(state_->options().write_timeout);
  http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
    self->on_write(ec);
  });
}

void Session::on_write(beast::error_code ec) {
  busy_ = false;
  if (ec) return close();
  if (!res_.keep_alive()) return linger_close();
  do_read_header();
}

void Session::linger_close() {
  if (closed_) return;
  // Half-close, then read and drop what the client still sends (an unread
  // body) for a short while: closing with unread bytes makes the kernel send
  // a reset, which can destroy our answer before the client has read it.
  beast::error_code ec;
  stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  if (ec) return close();
  lingered_ = 0;
  stream_.expires_after(
      std::min<std::chrono::milliseconds>(state_->options().read_timeout, std::chrono::seconds(2)));
  do_discard();
}

void Session::do_discard() {
  stream_.async_read_some(asio::buffer(discard_),
                          [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                            self->lingered_ += n;
                            if (ec || self->closed_ || self->lingered_ > kMaxLinger) {
                              return self->close();
                            }
                            self->do_discard();
                          });
}

}  // namespace isync::ingest::detail
