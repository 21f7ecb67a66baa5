// Intacct Platform Trigger tokens: where the request carries the JWT
// (find_trigger_token) and its checks in the order of trigger_token.hpp
// (verify_trigger_token). The rest of what a trigger request carries (base64,
// payload_signature, X-ClientContext, the idempotency key) is checked in
// trigger_request.cpp.
#include "ingest/detail/trigger_token.hpp"

#include <openssl/crypto.h>
#include <rapidjson/document.h>

#include <array>

#include "core/json.hpp"
#include "ingest/detail/hmac.hpp"
#include "ingest/detail/http_util.hpp"
#include "ingest/detail/text.hpp"

namespace isync::ingest::detail {

namespace {

using rapidjson::Value;

constexpr std::string_view kIssuer = "Sage Intacct";
// Never a tenant's secret: only spends the time of one HMAC when there is none.
constexpr std::string_view kDummyKey = "isync trigger: no secret for this tenant";

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

// Values quoted in log details (alg, iss, client ids): never secrets, but
// sent by the client, so cut.
std::string quoted(std::string_view s) { return '"' + shorten(s, 64) + '"'; }

const Value* member(const Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

std::string text(const Value& v) { return std::string(v.GetString(), v.GetStringLength()); }

// A JSON object decoded from base64 text, or nullopt. Strict (a key twice is
// not an object we trust).
std::optional<rapidjson::Document> json_object(std::string_view base64, std::string_view subject,
                                               bool numbers_as_strings = false) {
  auto bytes = base64_decode_lenient(base64);
  if (!bytes) return std::nullopt;
  json::Policy policy{.subject = subject, .numbers_as_strings = numbers_as_strings};
  auto parsed = json::parse(*bytes, policy);
  if (!parsed || !parsed->IsObject()) return std::nullopt;
  return std::move(*parsed);
}

bool looks_like_jwt(std::string_view s) {
  if (s.empty() || s.size() > kMaxTriggerToken) return false;
  std::size_t dots = 0;
  for (char c : s) {
    if (c == '.') {
      ++dots;
    } else if (base64_value(c) < 0 && c != '=') {
      return false;
    }
  }
  return dots == 2;
}

// exp / iat: an integer (a fraction is dropped), milliseconds when >= 10^12.
// Returns the detail of a refusal, or "".
std::string read_time(const Value& claims, const char* name, std::int64_t& ms, bool& was_ms) {
  const Value* v = member(claims, name);
  if (!v) return std::string(name) + " is missing";
  std::int64_t raw = 0;
  if (v->IsInt64()) {
    raw = v->GetInt64();
  } else if (v->IsDouble() && v->GetDouble() > -1e15 && v->GetDouble() < 1e15) {
    raw = static_cast<std::int64_t>(v->GetDouble());
  } else {
    return std::string(name) + " is not a number of seconds or milliseconds";
  }
  // A seconds value this large cannot be: 10^12 s is 31,700 years.
  was_ms = raw >= kMillisecondsFrom;
  if (was_ms) {
    ms = raw;
  } else if (raw < -kMillisecondsFrom) {
    ms = -kMillisecondsFrom * 1000;
  } else {
    ms = raw * 1000;
  }
  return {};
}

std::string time_text(std::int64_t ms, bool was_ms) {
  return was_ms ? std::to_string(ms) + " (milliseconds)" : std::to_string(ms / 1000) + " (seconds)";
}

TokenCheck refuse(TokenCheck c, std::string reason, std::string detail) {
  c.reason = std::move(reason);
  c.detail = std::move(detail);
  return c;
}

}  // namespace

std::string_view token_source_name(TokenSource source) {
  switch (source) {
    case TokenSource::envelope:
      return "envelope";
    case TokenSource::signature_header:
      return "bare";
    case TokenSource::authorization:
      return "authorization";
    case TokenSource::none:
      break;
  }
  return "none";
}

FoundToken find_trigger_token(std::optional<std::string_view> signature,
                              std::string_view authorization) {
  FoundToken found;
  if (signature) {
    std::string_view header = trim(*signature);
    if (auto env = json_object(header, "the signature envelope")) {
      found.envelope = true;
      if (const Value* id = member(*env, "clientId"); id && id->IsString()) {
        found.client_id = text(*id);
      }
      const Value* jwt = member(*env, "jwtData");
      if (jwt && jwt->IsString() && jwt->GetStringLength() > 0) {
        found.signature_header = "envelope";
        found.source = TokenSource::envelope;
        found.token = std::string(trim(std::string_view(jwt->GetString(), jwt->GetStringLength())));
        return found;
      }
      found.signature_header = !jwt              ? "envelope_no_jwt"
                               : jwt->IsNull()   ? "envelope_null_jwt"
                               : jwt->IsString() ? "envelope_empty_jwt"
                                                 : "envelope_bad_jwt";
    } else if (looks_like_jwt(header)) {
      found.signature_header = "bare";
      found.source = TokenSource::signature_header;
      found.token = std::string(header);
      return found;
    } else {
      found.signature_header = "unreadable";
    }
  }
  std::string_view bearer = bearer_token(authorization);
  if (!bearer.empty()) {
    found.source = TokenSource::authorization;
    found.token = std::string(bearer);
  }
  return found;
}

TokenCheck verify_trigger_token(std::string_view token, const TokenRules& rules) {
  TokenCheck c;
  if (token.size() > kMaxTriggerToken) {
    return refuse(c, "malformed_token",
                  "the token is longer than " + std::to_string(kMaxTriggerToken) + " bytes");
  }
  std::array<std::string_view, 3> parts{};
  std::size_t n = 0;
  std::string_view rest = token;
  while (true) {
    auto dot = rest.find('.');
    if (n == parts.size()) {
      n = 4;  // more than three
      break;
    }
    parts[n++] = rest.substr(0, dot);
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  if (n != 3) {
    return refuse(
        c, "malformed_token",
        n > 3 ? "the token has more than 3 parts"
              : "the token has " + std::to_string(n) + " part" + (n == 1 ? "" : "s") + ", not 3");
  }
  auto header = json_object(parts[0], "the token's header");
  if (!header) return refuse(c, "malformed_token", "the token's header is not base64url JSON");
  const Value* alg = member(*header, "alg");
  if (!alg || !alg->IsString())
    return refuse(c, "malformed_token", "the token's header has no alg");
  if (text(*alg) != "HS256") {
    return refuse(c, "alg", "alg is " + quoted(text(*alg)) + "; only HS256 is accepted");
  }

  // Every secret is tried and every comparison made: no early exit.
  auto signature = base64_decode_lenient(parts[2]);
  const std::string_view signed_part = token.substr(0, parts[0].size() + 1 + parts[1].size());
  static const std::vector<std::string> kNone;
  const auto& secrets = rules.secrets ? *rules.secrets : kNone;
  bool any_key = false;
  for (std::size_t i = 0; i < secrets.size(); ++i) {
    // An empty secret is no secret: anyone could sign with it.
    if (secrets[i].empty()) continue;
    any_key = true;
    std::string mac = hmac_sha256(secrets[i], {signed_part});
    bool equal = signature && mac.size() == 32 && signature->size() == 32 &&
                 CRYPTO_memcmp(mac.data(), signature->data(), 32) == 0;
    if (equal && c.secret_index == 0) c.secret_index = i + 1;
  }
  if (!any_key) {
    (void)hmac_sha256(kDummyKey, {signed_part});
    return refuse(c, "signature", "the tenant has no trigger_client_secrets");
  }
  if (c.secret_index == 0) {
    return refuse(c, "signature",
                  "the HMAC matches none of the tenant's " + std::to_string(secrets.size()) +
                      " trigger_client_secrets");
  }

  auto claims = json_object(parts[1], "the token's claims");
  if (!claims) return refuse(c, "claims", "the token's claims are not base64url JSON");
  TriggerClaims& cl = c.claims;
  const Value* iss = member(*claims, "iss");
  cl.iss = iss && iss->IsString() ? text(*iss) : std::string();
  auto optional_text = [&](const char* name) -> std::optional<std::string> {
    const Value* v = member(*claims, name);
    if (!v) return std::nullopt;
    if (v->IsString()) return text(*v);
    if (v->IsInt64()) return std::to_string(v->GetInt64());
    if (v->IsUint64()) return std::to_string(v->GetUint64());
    return std::string("(not text)");
  };
  cl.tenant_id = optional_text("tenant_id");
  cl.app_id = optional_text("app_id");
  cl.payload_signature = optional_text("payload_signature");
  cl.payload_signature_alg = optional_text("payload_signature_alg");
  if (!iss || !iss->IsString() || cl.iss != kIssuer) {
    return refuse(c, "issuer",
                  iss && iss->IsString() ? "iss is " + quoted(cl.iss) + ", not \"Sage Intacct\""
                                         : std::string("iss is missing or not a string"));
  }
  if (auto why = read_time(*claims, "exp", cl.exp_ms, cl.exp_was_ms); !why.empty()) {
    return refuse(c, "claims", why);
  }
  if (auto why = read_time(*claims, "iat", cl.iat_ms, cl.iat_was_ms); !why.empty()) {
    return refuse(c, "claims", why);
  }
  if (cl.exp_ms < rules.now_ms - rules.leeway_ms) {
    return refuse(c, "expired",
                  "exp " + time_text(cl.exp_ms, cl.exp_was_ms) + " is " +
                      std::to_string((rules.now_ms - cl.exp_ms) / 1000) + " s before now (leeway " +
                      std::to_string(rules.leeway_ms / 1000) + " s)");
  }
  if (cl.iat_ms > rules.now_ms + rules.leeway_ms) {
    return refuse(c, "not_yet_valid",
                  "iat " + time_text(cl.iat_ms, cl.iat_was_ms) + " is " +
                      std::to_string((cl.iat_ms - rules.now_ms) / 1000) + " s after now (leeway " +
                      std::to_string(rules.leeway_ms / 1000) + " s)");
  }
  if (!rules.client_id.empty()) {
    bool by_tenant_id = cl.tenant_id && *cl.tenant_id == rules.client_id;
    const auto* env_id = rules.envelope_client_id;
    bool by_envelope = env_id && *env_id && **env_id == rules.client_id;
    if (!by_tenant_id && !by_envelope) {
      std::string detail = "trigger_client_id is " + quoted(rules.client_id) +
                           "; the token's tenant_id is " +
                           (cl.tenant_id ? quoted(*cl.tenant_id) : std::string("missing"));
      if (env_id && *env_id) detail += " and the envelope's clientId is " + quoted(**env_id);
      return refuse(c, "client_id", std::move(detail));
    }
  }
  return c;
}

}  // namespace isync::ingest::detail
