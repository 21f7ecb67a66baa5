// The triggers route of a Session (public listener): Intacct Platform Trigger
// webhooks, signed with an HS256 token, from the header's checks to the Redis
// acknowledgement. Check order and answers: ingest.hpp and
// detail/trigger_token.hpp.
#include <boost/asio/post.hpp>

#include "ingest/detail/session.hpp"
#include "ingest/detail/smart_event.hpp"
#include "ingest/detail/text.hpp"

namespace isync::ingest::detail {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

// One answer per status for everyone (unknown tenant, no secrets, a wrong
// token, another company…): which check failed is in the log and the metric.
constexpr std::string_view kUnauthorized =
    "the trigger could not be authenticated: send a token signed (HS256) with the OAuth client "
    "secret of the trigger's client ID, in X-IA-Sage-Signature or Authorization: Bearer";
constexpr std::string_view kExpired =
    "the trigger's token has expired or is not valid yet (exp/iat); check the clock of the sender";
constexpr std::string_view kSignatureHeader = "X-IA-Sage-Signature";
constexpr std::string_view kContextHeader = "X-ClientContext";
// The idempotency key's two spellings in Sage's documents.
constexpr std::string_view kIdempotencyHeaders[] = {"X-IdempotencyKey", "Idempotency-Key"};
// Label of refusals for a tenant that is not configured: never the path's
// text (a label per probe would grow the registry without bound).
constexpr std::string_view kUnknownTenant = "(unknown)";

bool contains_ci(std::string_view text, std::string_view word) {
  if (word.size() > text.size()) return false;
  for (std::size_t i = 0; i + word.size() <= text.size(); ++i) {
    if (iequals(text.substr(i, word.size()), word)) return true;
  }
  return false;
}

// Why no token was found, from what X-IA-Sage-Signature was.
std::string no_token_detail(std::string_view signature_header) {
  std::string what = signature_header == "absent" ? "there is no X-IA-Sage-Signature"
                     : signature_header == "envelope_null_jwt"
                         ? "X-IA-Sage-Signature is an envelope whose jwtData is null"
                     : signature_header == "envelope_empty_jwt"
                         ? "X-IA-Sage-Signature is an envelope whose jwtData is empty"
                     : signature_header == "envelope_no_jwt"
                         ? "X-IA-Sage-Signature is an envelope without jwtData"
                     : signature_header == "envelope_bad_jwt"
                         ? "X-IA-Sage-Signature is an envelope whose jwtData is not a string"
                         : "X-IA-Sage-Signature is neither a base64 JSON envelope nor a JWT";
  return what + ", and there is no Authorization: Bearer token";
}

// The X-ClientContext fields of a log line, when the header decodes.
void add_context(LogLine& line, const ClientContext& ctx) {
  line.str("context_company", ctx.company)
      .str("context_object", ctx.object_name)
      .str("context_event", ctx.event)
      .str("context_timestamp", ctx.timestamp);
}

}  // namespace

void Session::refuse_trigger(unsigned status, std::string_view code, std::string_view reason,
                             std::string_view detail) {
  const auto& req = parser_->get();
  const bool known = state_->tenant(route_.tenant) != nullptr;
  const std::string tenant = known ? route_.tenant : std::string(kUnknownTenant);
  state_->metrics()
      .counter("isync_trigger_rejections_total",
               "Intacct trigger webhooks refused, by the check that failed",
               {{"tenant", tenant}, {"reason", std::string(reason)}})
      .inc();
  LogLine line;
  line.str("tenant", known ? route_.tenant : shorten(route_.tenant, 64))
      .num("status", status)
      .str("code", code)
      .str("reason", reason)
      .str("detail", detail)
      .str("token_from", token_source_name(trigger_ ? trigger_->token_from : TokenSource::none))
      .str("signature_header", trigger_ ? trigger_->signature_header : std::string("absent"));
  if (auto ctx = req.find(kContextHeader); ctx != req.end()) {
    auto decoded = decode_client_context(ctx->value());
    if (decoded) add_context(line, *decoded);
  }
  state_->log().warn("trigger refused", line);
  respond_error(status, code,
                status == 401 ? (code == "signature_expired" ? kExpired : kUnauthorized) : detail);
}

// Everything up to the body: find the token, check it, then the media type
// and the declared length. Only a verified request gets its body read.
void Session::route_triggers() {
  const auto& req = parser_->get();
  const Options& opts = state_->options();
  // From a value, not emplace(): clang finds the nested struct not default
  // constructible (its initializers are parsed after std::optional asked).
  trigger_.emplace(TriggerRequest{});
  std::optional<std::string_view> signature;
  if (auto it = req.find(kSignatureHeader); it != req.end()) signature = it->value();
  if (req.count(kSignatureHeader) > 1) {
    trigger_->signature_header = "repeated";
    return refuse_trigger(401, "unauthorized", "malformed_token",
                          "X-IA-Sage-Signature appears more than once");
  }
  FoundToken found = find_trigger_token(signature, req[http::field::authorization]);
  trigger_->token_from = found.source;
  trigger_->signature_header = found.signature_header;
  if (found.source == TokenSource::none) {
    return refuse_trigger(401, "unauthorized", "no_token", no_token_detail(found.signature_header));
  }
  const TenantAuth* tenant = state_->tenant(route_.tenant);
  TokenRules rules;
  rules.secrets = tenant ? &tenant->trigger_secrets : nullptr;
  rules.now_ms = state_->clock().now_ms();
  rules.leeway_ms = static_cast<std::int64_t>(opts.trigger_leeway.count()) * 1000;
  if (tenant) rules.client_id = tenant->trigger_client_id;
  rules.envelope_client_id = &found.client_id;
  TokenCheck check = verify_trigger_token(found.token, rules);
  if (!check.ok()) {
    std::string detail = check.detail;
    if (!tenant && check.reason == "signature") detail = "the tenant is not configured";
    return refuse_trigger(401, check.time_refusal() ? "signature_expired" : "unauthorized",
                          check.reason, detail);
  }
  trigger_->claims = std::move(check.claims);
  trigger_->secret_index = check.secret_index;

  auto content_type = req[http::field::content_type];
  auto media = trigger_media(content_type);
  if (media == TriggerMedia::refused) {
    return refuse_trigger(415, "unsupported_media_type", "content_type",
                          "Content-Type \"" + shorten(content_type, 64) +
                              "\" is a form; a trigger's body is its JSON document template: "
                              "send application/json");
  }
  trigger_->unusual_media = media == TriggerMedia::unusual;
  auto length = parser_->content_length();
  if (length && *length > opts.body_limit) {
    return refuse_trigger(413, "payload_too_large", "payload_too_large",
                          "the body is larger than " + std::to_string(opts.body_limit) +
                              " bytes (Content-Length " + std::to_string(*length) + ")");
  }
  do_read_body();
}

void Session::handle_trigger_body() {
  const auto& req = parser_->get();
  const Options& opts = state_->options();
  const TenantAuth* tenant = state_->tenant(route_.tenant);
  if (!tenant || !trigger_) {
    // Cannot happen: route_triggers verified the token against this tenant.
    return refuse_trigger(401, "unauthorized", "signature", "the tenant is not configured");
  }
  const std::string& body = req.body();
  if (auto why = check_payload_signature(trigger_->claims, body); !why.empty()) {
    return refuse_trigger(401, "unauthorized", "payload_signature", why);
  }
  std::vector<std::string_view> keys;
  for (auto name : kIdempotencyHeaders) {
    for (auto [it, end] = req.equal_range(name); it != end; ++it) keys.push_back(it->value());
  }
  auto idempotency = idempotency_key(keys);
  if (!idempotency) {
    return refuse_trigger(400, "invalid_field", "idempotency_key", idempotency.error().message);
  }
  auto parsed = parse_trigger_body(body);
  if (!parsed) {
    return refuse_trigger(400, parsed.error().code, parsed.error().code, parsed.error().message);
  }
  if (parsed->company && !iequals(*parsed->company, tenant->company_id)) {
    return refuse_trigger(
        401, "unauthorized", "company",
        "the body's company \"" + shorten(*parsed->company, 64) + "\" is not the tenant's " +
            (tenant->company_id.empty() ? std::string("(no company_id is configured)")
                                        : "company_id \"" + tenant->company_id + "\""));
  }
  SmartEvent& ev = parsed->event;
  auto content_type = req[http::field::content_type];
  if (trigger_->unusual_media) {
    state_->log().warn("trigger content type is not JSON; read as JSON",
                       LogLine()
                           .str("tenant", route_.tenant)
                           .str("content_type", shorten(content_type, 64))
                           .str("object", ev.object)
                           .str("recordno", ev.recordno));
  }
  // X-ClientContext is not signed: it only tells the log what Intacct says it
  // sent, and never fills or changes a field.
  if (auto ctx = req.find(kContextHeader); ctx != req.end()) {
    auto decoded = decode_client_context(ctx->value());
    if (!decoded) {
      state_->log().warn("trigger context unreadable; ignored",
                         LogLine()
                             .str("tenant", route_.tenant)
                             .str("object", ev.object)
                             .str("recordno", ev.recordno)
                             .str("detail", decoded.error().message));
    } else {
      bool object_differs =
          !decoded->object_name.empty() && !iequals(decoded->object_name, ev.object);
      bool delete_differs = !decoded->event.empty() &&
                            contains_ci(decoded->event, "delete") != (ev.action == "delete");
      if (object_differs || delete_differs) {
        LogLine line;
        line.str("tenant", route_.tenant)
            .str("object", ev.object)
            .str("action", ev.action)
            .str("recordno", ev.recordno);
        add_context(line, *decoded);
        state_->log().warn("trigger context disagrees with the signed body; the body is used",
                           line);
      }
    }
  }

  auto now_ms = state_->clock().now_ms();
  queue::Envelope env;
  env.v = 1;
  env.event_id = make_ulid(now_ms);
  env.source = "intacct";
  env.channel = "trigger";
  env.tenant = route_.tenant;
  env.object = std::move(ev.object);
  env.action = std::move(ev.action);
  env.key = std::move(ev.recordno);
  env.version = ev.version;
  env.whenmodified = std::move(ev.whenmodified);
  env.snapshot = std::move(ev.snapshot);
  env.received_at_ms = now_ms;
  env.content_type = std::string(content_type);
  // The body is not read again (respond() looks at the header only).
  env.raw = std::move(parser_->get().body());
  // The idempotency key first: a retry whose body differs is still the same
  // delivery. The content key also catches the same change sent as a smart
  // event.
  std::vector<std::string> dedup;
  if (*idempotency) dedup.push_back("trigger-idempotency:" + **idempotency);
  dedup.push_back(queue::smart_event_dedup_key(env));
  state_->log().write(Level::debug, "trigger verified",
                      LogLine()
                          .str("tenant", route_.tenant)
                          .str("object", env.object)
                          .str("action", env.action)
                          .str("recordno", env.key)
                          .str("token_from", token_source_name(trigger_->token_from))
                          .num("secret", static_cast<std::int64_t>(trigger_->secret_index))
                          .str("exp_unit", trigger_->claims.exp_was_ms ? "ms" : "s")
                          .str("iat_unit", trigger_->claims.iat_was_ms ? "ms" : "s")
                          .str("idempotency_key", *idempotency ? **idempotency : "(none)"));
  state_->producer().accept(env, dedup, opts.dedup_window,
                            [self = shared_from_this()](Result<queue::AcceptResult> result) {
                              asio::post(self->stream_.get_executor(),
                                         [self, result = std::move(result)]() mutable {
                                           self->on_accepted(std::move(result), 200);
                                         });
                            });
}

}  // namespace isync::ingest::detail
