// The Stripe-Signature header: its parse, the v1 HMAC-SHA256 check against
// a tenant's signing secrets (constant time) and the timestamp tolerance
// (stripe.hpp). The body's parse is in stripe.cpp.
#include <openssl/crypto.h>

#include "ingest/detail/hmac.hpp"
#include "ingest/detail/stripe.hpp"
#include "ingest/detail/text.hpp"

namespace isync::ingest::detail {

namespace {

constexpr std::string_view kMalformedPrefix = "Stripe-Signature header is malformed: ";
// At most 18 digits, so t and |now - t| fit in int64.
constexpr std::size_t kMaxTimestampDigits = 18;

Error malformed_header(std::string_view what) {
  return make_error("unauthorized", std::string(kMalformedPrefix) + std::string(what));
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Lowercase hex; an empty string only if OpenSSL fails (then nothing matches).
std::string hmac_sha256_hex(std::string_view key, std::string_view a, std::string_view b,
                            std::string_view c) {
  std::string raw = hmac_sha256(key, {a, b, c});
  return raw.empty() ? std::string() : to_hex(raw);
}

}  // namespace

Result<StripeSignature> parse_stripe_signature(std::string_view header) {
  StripeSignature sig;
  bool have_t = false;
  std::size_t pos = 0;
  while (pos <= header.size()) {
    std::size_t end = header.find(',', pos);
    if (end == std::string_view::npos) end = header.size();
    std::string_view item = trim(header.substr(pos, end - pos));
    pos = end + 1;
    if (item.empty()) return malformed_header("an element is empty");
    auto eq = item.find('=');
    if (eq == std::string_view::npos) return malformed_header("an element is not key=value");
    std::string_view key = item.substr(0, eq);
    std::string_view value = item.substr(eq + 1);
    if (key == "t") {
      if (have_t) return malformed_header("t= appears more than once");
      have_t = true;
      bool digits = !value.empty() && value.size() <= kMaxTimestampDigits;
      for (char c : value) digits = digits && c >= '0' && c <= '9';
      if (!digits) return malformed_header("t= is not a decimal integer");
      sig.timestamp_text = std::string(value);
      for (char c : value) sig.timestamp = sig.timestamp * 10 + (c - '0');
    } else if (key == "v1") {
      bool hex = value.size() == 64;
      for (char c : value) hex = hex && is_hex(c);
      if (!hex) return malformed_header("a v1= signature is not 64 hex digits");
      if (sig.v1.size() == kMaxStripeSignatures) {
        return malformed_header("more than " + std::to_string(kMaxStripeSignatures) +
                                " v1= signatures");
      }
      std::string lowered(value);
      for (auto& c : lowered) c = ascii_lower(c);
      sig.v1.push_back(std::move(lowered));
    }
  }
  if (!have_t) return malformed_header("no t= timestamp");
  if (sig.v1.empty()) return malformed_header("no v1= signature");
  return sig;
}

std::string stripe_signature(std::string_view secret, std::string_view timestamp_text,
                             std::string_view body) {
  return hmac_sha256_hex(secret, timestamp_text, ".", body);
}

bool stripe_signature_matches(const StripeSignature& signature, std::string_view body,
                              const std::vector<std::string>& secrets) {
  if (secrets.empty()) {
    // Same work as one secret, so an unknown tenant is not told apart by time.
    (void)stripe_signature("whsec_no_tenant_secret_dummy_key", signature.timestamp_text, body);
    return false;
  }
  bool match = false;
  for (const auto& secret : secrets) {
    // An empty key is no secret: anyone could sign with it.
    if (secret.empty()) continue;
    std::string expected = stripe_signature(secret, signature.timestamp_text, body);
    if (expected.size() != 64) continue;
    for (const auto& v1 : signature.v1) {
      // Both are 64 bytes (parse_stripe_signature checked v1's length).
      match = (CRYPTO_memcmp(expected.data(), v1.data(), expected.size()) == 0) || match;
    }
  }
  return match;
}

bool stripe_timestamp_fresh(std::int64_t timestamp, std::int64_t now_seconds,
                            std::int64_t tolerance_seconds) {
  std::int64_t diff = now_seconds - timestamp;
  if (diff < 0) diff = -diff;
  return diff <= tolerance_seconds;
}

}  // namespace isync::ingest::detail
