// Intacct Platform Trigger webhooks: finding and checking the signed token,
// the payload signature, the idempotency key and X-ClientContext. Pure
// functions (no I/O, no logging, no clock of their own), so the route and the
// fuzz target share them.
//
// What Intacct sends (Sage's "Outbound webhooks" guide, its 2025 R1/R2 notes
// and an open-source SDK; where they disagree the choice is noted):
//  * X-IA-Sage-Signature: base64 of a JSON envelope {"clientId","dbId",
//    "userId","companyId","sessionKey","jwtData",…} whose jwtData holds the
//    JWT, or (the SDK) the bare JWT. The envelope carries a session key, so
//    neither the header nor anything decoded from it but clientId and the
//    jwtData's state is ever returned for logging.
//  * Authorization: Bearer <JWT> (listed by the guide, contents undocumented).
//  * The JWT: HS256 under the OAuth client secret. Claims iss "Sage Intacct",
//    iat and exp (seconds or milliseconds: a value >= 10^12 is taken as
//    milliseconds), tenant_id, app_id, payload_signature (hex SHA-256 of the
//    raw body, either case) and payload_signature_alg "SHA-256".
//  * X-ClientContext: base64 of an unsigned JSON object, for logs only.
//
// Check order (verify_trigger_token, then check_payload_signature once the
// body is read): three dot-separated parts whose header is a JSON object with
// "alg":"HS256" (none, HS512, RS256… refused); the HMAC under any of the
// secrets (every secret tried, compared with CRYPTO_memcmp, no early exit);
// iss; exp and iat against now ± leeway; the client id when one is
// configured. Each refusal names its reason (the metric label) and a detail
// for the log that never quotes the token, a secret or the session key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.hpp"

namespace isync::ingest::detail {

inline constexpr std::size_t kMaxTriggerToken = 8192;   // bytes of a JWT; longer is malformed
inline constexpr std::size_t kMaxIdempotencyKey = 200;  // bytes, printable ASCII
inline constexpr std::int64_t kMillisecondsFrom = 1000000000000;  // 10^12: exp/iat in ms

// Base64, standard or URL alphabet, '=' padding optional; nullopt on any
// other character, a misplaced '=' or an impossible length.
std::optional<std::string> base64_decode_lenient(std::string_view text);
// Base64url without padding (what a JWT's parts are).
std::string base64url_encode(std::string_view bytes);

enum class TokenSource {
  none,              // no token anywhere
  envelope,          // X-IA-Sage-Signature, base64 envelope with a string jwtData
  signature_header,  // X-IA-Sage-Signature as a bare JWT
  authorization,     // Authorization: Bearer
};
// "none" | "envelope" | "bare" | "authorization": the log's token_from.
std::string_view token_source_name(TokenSource source);

struct FoundToken {
  TokenSource source = TokenSource::none;
  std::string token;  // secret: never logged
  // What X-IA-Sage-Signature was: "absent", "envelope" (with a string
  // jwtData), "envelope_null_jwt", "envelope_empty_jwt", "envelope_no_jwt"
  // (member missing),
  // "envelope_bad_jwt" (neither string nor null), "bare", "unreadable"
  // (neither an envelope nor a JWT).
  std::string signature_header = "absent";
  bool envelope = false;                 // the header was an envelope (any jwtData)
  std::optional<std::string> client_id;  // the envelope's clientId, when a string
};

// Looks for the token in this order: X-IA-Sage-Signature as an envelope with
// a string jwtData; X-IA-Sage-Signature as a bare JWT (two dots); the Bearer
// token of `authorization`. `signature` is nullopt when the header is absent.
FoundToken find_trigger_token(std::optional<std::string_view> signature,
                              std::string_view authorization);

struct TriggerClaims {
  std::string iss;
  std::int64_t exp_ms = 0, iat_ms = 0;
  bool exp_was_ms = false, iat_was_ms = false;  // the value was >= 10^12
  std::optional<std::string> tenant_id;         // a string, or an integer's digits
  std::optional<std::string> app_id;
  std::optional<std::string> payload_signature;  // as sent; checked by check_payload_signature
  std::optional<std::string> payload_signature_alg;
};

struct TokenCheck {
  // "" = verified. Otherwise the failed check: malformed_token, alg,
  // signature, claims, issuer, expired, not_yet_valid, client_id.
  std::string reason;
  std::string detail;  // for the log: what was wrong (no token, no secret)
  TriggerClaims claims;
  std::size_t secret_index = 0;  // 1-based: which secret verified (0 = none)
  bool ok() const { return reason.empty(); }
  // expired and not_yet_valid answer 401 signature_expired, the rest 401
  // unauthorized.
  bool time_refusal() const { return reason == "expired" || reason == "not_yet_valid"; }
};

struct TokenRules {
  const std::vector<std::string>* secrets = nullptr;  // the tenant's; null/empty = none
  std::int64_t now_ms = 0;
  std::int64_t leeway_ms = 60000;
  // Configured trigger_client_id ("" = not checked): must equal the token's
  // tenant_id, or the envelope's clientId when there is one.
  std::string_view client_id;
  const std::optional<std::string>* envelope_client_id = nullptr;
};

// The checks of the header phase, in the order of the file comment. With no
// secrets one HMAC under a dummy key is still computed and the reason is
// "signature" (detail says the tenant has no trigger secrets), so the answer
// and its timing are those of a wrong signature.
TokenCheck verify_trigger_token(std::string_view token, const TokenRules& rules);

// The body's SHA-256 against payload_signature (64 hex digits, either case,
// compared as bytes in constant time), and payload_signature_alg when present
// ("SHA-256", any case). "" = matches; else the log's detail.
std::string check_payload_signature(const TriggerClaims& claims, std::string_view body);

// X-ClientContext, decoded for the log only: values as text (numbers as
// written, true/false), each cut to 64 bytes; members other than these are
// ignored.
struct ClientContext {
  std::string company, entity, user, object_name, event, timestamp;
};
// Error code "malformed_context", message says what is wrong (never the value).
Result<ClientContext> decode_client_context(std::string_view header);

// The idempotency key from every X-IdempotencyKey and Idempotency-Key value
// given (blanks around each trimmed). None, or only empty values: nullopt.
// Error (invalid_field, naming the header): values that differ, more than
// kMaxIdempotencyKey bytes, or a byte outside printable ASCII (0x20-0x7E).
Result<std::optional<std::string>> idempotency_key(const std::vector<std::string_view>& values);

}  // namespace isync::ingest::detail
