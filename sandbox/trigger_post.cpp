// Platform Trigger webhooks as Intacct sends them (server.hpp, TriggerOptions):
// written from Sage's description of the wire format, not from the service's
// checks, so the two meet only on the wire.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <cctype>

#include "sandbox/detail/poster_queue.hpp"

namespace isync::sandbox::detail {

namespace {

constexpr std::int64_t kTokenLifetimeMs = 3600 * 1000;
// Intacct's retry schedule: after 10 s, 30 s and 90 s (4 attempts in all).
constexpr std::array<std::int64_t, 3> kRetryDelaysMs = {10000, 30000, 90000};

std::string base64(std::string_view bytes, bool url) {
  static constexpr char kStd[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static constexpr char kUrl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const char* alphabet = url ? kUrl : kStd;
  std::string out;
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    auto a = static_cast<unsigned char>(bytes[i]);
    auto b = static_cast<unsigned char>(bytes[i + 1]);
    auto c = static_cast<unsigned char>(bytes[i + 2]);
    out += alphabet[a >> 2];
    out += alphabet[((a & 3) << 4) | (b >> 4)];
    out += alphabet[((b & 15) << 2) | (c >> 6)];
    out += alphabet[c & 63];
  }
  if (i + 1 == bytes.size()) {
    auto a = static_cast<unsigned char>(bytes[i]);
    out += alphabet[a >> 2];
    out += alphabet[(a & 3) << 4];
    if (!url) out += "==";
  } else if (i + 2 == bytes.size()) {
    auto a = static_cast<unsigned char>(bytes[i]);
    auto b = static_cast<unsigned char>(bytes[i + 1]);
    out += alphabet[a >> 2];
    out += alphabet[((a & 3) << 4) | (b >> 4)];
    out += alphabet[(b & 15) << 2];
    if (!url) out += '=';
  }
  return out;
}

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    // Practically never; the post still leaves, with zeros (a repeated key).
    raw.assign(bytes, '\0');
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char ch : raw) {
    auto c = static_cast<unsigned char>(ch);
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void member(std::string& out, std::string_view name, std::string_view value, bool first = false) {
  if (!first) out += ',';
  append_json_string(out, name);
  out += ':';
  append_json_string(out, value);
}

// A stable number for the company (Intacct's COMPANY/companyId is its
// internal company number, not the company ID).
std::int64_t company_number(std::string_view company) {
  std::uint64_t h = 1469598103934665603ULL;
  for (char c : company) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return 100000 + static_cast<std::int64_t>(h % 900000);
}

std::string_view trigger_event(std::string_view action) {
  if (action == "add") return "after_create";
  if (action == "delete") return "after_delete";
  return "after_update";
}

// The README's document template, rendered: one for create/update, one for
// delete (with "action":"delete").
std::string template_body(const Change& change, const TriggerOptions& o) {
  std::string body = "{";
  member(body, "object", change.object, true);
  member(body, "recordno", std::to_string(change.recordno));
  member(body, "whenmodified", change.whenmodified);
  if (!o.company.empty()) member(body, "company", o.company);
  if (change.action == "delete") member(body, "action", "delete");
  if (o.snapshot) {
    for (const auto& [name, value] : change.fields) {
      auto key = lower(name);
      if (key == "object" || key == "action" || key == "recordno" || key == "whenmodified" ||
          key == "company") {
        continue;
      }
      member(body, name, value);
    }
  }
  body += '}';
  return body;
}

}  // namespace

std::string sign_trigger_token(std::string_view secret, std::string_view claims_json) {
  std::string signing =
      base64(R"({"alg":"HS256","typ":"JWT"})", true) + "." + base64(claims_json, true);
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int n = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signing.data()), signing.size(), mac.data(), &n);
  return signing + "." +
         base64(std::string_view(reinterpret_cast<const char*>(mac.data()), n), true);
}

PostContent trigger_post(const Change& change, const TriggerOptions& o, bool bare,
                         std::int64_t now_ms) {
  PostContent post;
  post.content_type = "application/json";
  post.body = template_body(change, o);

  std::string claims = "{";
  member(claims, "iss", "Sage Intacct", true);
  claims += ",\"iat\":" + std::to_string(now_ms);
  claims += ",\"exp\":" + std::to_string(now_ms + kTokenLifetimeMs);
  member(claims, "tenant_id", o.client_id);
  member(claims, "app_id", "intacct-sandbox");
  member(claims, "payload_signature", sha256_hex(post.body));
  member(claims, "payload_signature_alg", "SHA-256");
  claims += '}';
  std::string jwt = sign_trigger_token(o.client_secret.reveal(), claims);

  const std::int64_t company = company_number(o.company);
  std::string signature;
  if (bare) {
    signature = jwt;
  } else {
    std::string envelope = "{";
    member(envelope, "clientId", o.client_id, true);
    envelope += ",\"dbId\":1";
    member(envelope, "userId", "Admin");
    envelope += ",\"companyId\":" + std::to_string(company);
    member(envelope, "sessionKey", random_hex(24));
    member(envelope, "jwtData", jwt);
    envelope += '}';
    signature = base64(envelope, false);
  }

  std::string context = "{\"COMPANY\":" + std::to_string(company) + ",\"ENTITY\":false";
  member(context, "USER", "1");
  member(context, "OBJECTNAME", change.object);
  context += ",\"ID\":{}";
  member(context, "VID", std::to_string(change.recordno));
  member(context, "EVENT", trigger_event(change.action));
  member(context, "TIMESTAMP", change.whenmodified);
  context += '}';

  post.headers.emplace_back("X-IA-Sage-Signature", std::move(signature));
  post.headers.emplace_back("X-ClientContext", base64(context, false));
  post.headers.emplace_back(o.idempotency_header, random_hex(16));
  return post;
}

PostFormat trigger_format(const TriggerOptions& options, std::shared_ptr<PushSwitch> push) {
  PostFormat f;
  f.noun = "trigger";
  f.only_200 = true;
  const double scale = options.retry_scale < 0 ? 0 : options.retry_scale;
  for (auto ms : kRetryDelaysMs) {
    f.retry_delays.emplace_back(static_cast<std::int64_t>(static_cast<double>(ms) * scale));
  }
  f.render = [options, push](const Change& change) {
    SystemClock clock;
    return trigger_post(change, options, push && push->bare.load(), clock.now_ms());
  };
  return f;
}

}  // namespace isync::sandbox::detail
