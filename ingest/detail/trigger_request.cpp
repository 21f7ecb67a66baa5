// What an Intacct Platform Trigger request carries beside its token: the
// lenient base64 decoder and the base64url encoder, the body's
// payload_signature, X-ClientContext (decoded for the log only) and the
// idempotency key. The token itself is found and verified in
// trigger_token.cpp; the contract of all of them is trigger_token.hpp.
#include <openssl/crypto.h>
#include <rapidjson/document.h>

#include "core/json.hpp"
#include "ingest/detail/hmac.hpp"
#include "ingest/detail/text.hpp"
#include "ingest/detail/trigger_token.hpp"

namespace isync::ingest::detail {

namespace {

using rapidjson::Value;

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// 64 hex digits (either case) as 32 bytes; nullopt otherwise.
std::optional<std::string> hex32(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  std::string out(32, '\0');
  for (std::size_t i = 0; i < 32; ++i) {
    int hi = hex_value(hex[2 * i]);
    int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<char>(hi * 16 + lo);
  }
  return out;
}

// Values quoted in log details (alg, iss, client ids): never secrets, but
// sent by the client, so cut.
std::string quoted(std::string_view s) { return '"' + shorten(s, 64) + '"'; }

const Value* member(const Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

}  // namespace

std::optional<std::string> base64_decode_lenient(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = base64_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

std::string base64url_encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char ch : bytes) {
    acc = (acc << 8) | static_cast<unsigned char>(ch);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3F]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3F]);
  return out;
}

std::string check_payload_signature(const TriggerClaims& claims, std::string_view body) {
  if (!claims.payload_signature) return "the token has no payload_signature";
  if (claims.payload_signature_alg && !iequals(*claims.payload_signature_alg, "SHA-256")) {
    return "payload_signature_alg is " + quoted(*claims.payload_signature_alg) +
           ", not \"SHA-256\"";
  }
  auto sent = hex32(*claims.payload_signature);
  if (!sent) return "payload_signature is not 64 hex digits";
  auto actual = hex32(sha256_hex(body));
  if (!actual || CRYPTO_memcmp(sent->data(), actual->data(), 32) != 0) {
    return "payload_signature does not match the SHA-256 of the body";
  }
  return {};
}

Result<ClientContext> decode_client_context(std::string_view header) {
  auto bytes = base64_decode_lenient(trim(header));
  if (!bytes) return make_error("malformed_context", "X-ClientContext is not base64");
  auto parsed = json::parse(*bytes, {.subject = "X-ClientContext", .numbers_as_strings = true});
  if (!parsed) return make_error("malformed_context", parsed.error().message);
  if (!parsed->IsObject()) {
    return make_error("malformed_context", "X-ClientContext is not a JSON object");
  }
  auto get = [&](const char* name) -> std::string {
    const Value* v = member(*parsed, name);
    if (!v || v->IsNull()) return {};
    if (v->IsString()) return shorten(std::string_view(v->GetString(), v->GetStringLength()), 64);
    if (v->IsBool()) return v->GetBool() ? "true" : "false";
    return v->IsObject() ? "(object)" : "(array)";
  };
  ClientContext ctx;
  ctx.company = get("COMPANY");
  ctx.entity = get("ENTITY");
  ctx.user = get("USER");
  ctx.object_name = get("OBJECTNAME");
  ctx.event = get("EVENT");
  ctx.timestamp = get("TIMESTAMP");
  return ctx;
}

Result<std::optional<std::string>> idempotency_key(const std::vector<std::string_view>& values) {
  std::optional<std::string> key;
  for (std::string_view raw : values) {
    std::string_view v = trim(raw);
    if (v.empty()) continue;
    if (v.size() > kMaxIdempotencyKey) {
      return make_error("invalid_field",
                        "the idempotency key (X-IdempotencyKey or "
                        "Idempotency-Key) is longer than " +
                            std::to_string(kMaxIdempotencyKey) + " bytes");
    }
    for (char ch : v) {
      auto c = static_cast<unsigned char>(ch);
      if (c < 0x20 || c > 0x7E) {
        return make_error("invalid_field",
                          "the idempotency key (X-IdempotencyKey or Idempotency-Key) may hold "
                          "only printable ASCII characters");
      }
    }
    if (key && *key != v) {
      return make_error("invalid_field",
                        "X-IdempotencyKey and Idempotency-Key carry different idempotency keys; "
                        "send one key");
    }
    key = std::string(v);
  }
  return Result<std::optional<std::string>>(boost::system::in_place_value, std::move(key));
}

}  // namespace isync::ingest::detail
