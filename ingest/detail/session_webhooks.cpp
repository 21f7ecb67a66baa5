// The webhook routes of a Session (public listener): Intacct smart events
// and Stripe payments, from the header's checks to the Redis acknowledgement.
#include <boost/asio/post.hpp>

#include "ingest/detail/session.hpp"
#include "ingest/detail/smart_event.hpp"

namespace isync::ingest::detail {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

constexpr std::string_view kUnauthorizedTenant =
    "the tenant is unknown or the token is missing or wrong; send Authorization: Bearer <token> "
    "or ?token=<token>";
// One answer for an unknown tenant, a tenant without Stripe secrets and a
// wrong signature, so tenants cannot be probed.
constexpr std::string_view kStripeNoMatch = "Stripe-Signature: no v1 signature matches";

unsigned status_of(const std::string& code) {
  if (code == "unsupported_media_type") return 415;
  return 400;
}

}  // namespace

void Session::route_webhook() {
  const auto& req = parser_->get();
  auto target = split_target(req.target());
  const Options& opts = state_->options();
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

void Session::on_accepted(Result<queue::AcceptResult> result, unsigned status) {
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
  respond(status, std::move(body));
}

}  // namespace isync::ingest::detail
