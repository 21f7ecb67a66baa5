// Stateless console sessions, CSRF tokens, cookies and security headers
// (console.hpp).
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <charconv>
#include <utility>

#include "console/console.hpp"

namespace isync::console {

namespace {

constexpr std::string_view kVersion = "v1";
constexpr std::size_t kRandomBytes = 16;
constexpr std::size_t kMacHex = 64;
// 14 digits cover expiries up to the year 5138; more is not a session.
constexpr std::size_t kMaxExpiryDigits = 14;

std::string hex(const unsigned char* data, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 0xf];
  }
  return out;
}

std::string hmac_raw(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(), &len);
  return std::string(reinterpret_cast<const char*>(mac.data()), len);
}

std::string hmac_hex(std::string_view key, std::string_view data) {
  std::string raw = hmac_raw(key, data);
  return hex(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
}

bool lower_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

struct Parts {
  std::int64_t expiry = 0;
  std::string_view signed_part;  // "v1.<expiry>.<random>"
  std::string_view mac;
};

std::optional<Parts> split(std::string_view value) {
  if (value.size() > 256) return std::nullopt;
  auto dot1 = value.find('.');
  if (dot1 == std::string_view::npos || value.substr(0, dot1) != kVersion) return std::nullopt;
  auto dot2 = value.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) return std::nullopt;
  auto dot3 = value.find('.', dot2 + 1);
  if (dot3 == std::string_view::npos) return std::nullopt;
  std::string_view expiry = value.substr(dot1 + 1, dot2 - dot1 - 1);
  std::string_view random = value.substr(dot2 + 1, dot3 - dot2 - 1);
  Parts p;
  p.signed_part = value.substr(0, dot3);
  p.mac = value.substr(dot3 + 1);
  if (expiry.empty() || expiry.size() > kMaxExpiryDigits) return std::nullopt;
  auto [end, ec] = std::from_chars(expiry.data(), expiry.data() + expiry.size(), p.expiry);
  if (ec != std::errc{} || end != expiry.data() + expiry.size() || p.expiry <= 0) {
    return std::nullopt;
  }
  if (random.size() != kRandomBytes * 2 || !lower_hex(random)) return std::nullopt;
  if (p.mac.size() != kMacHex || !lower_hex(p.mac)) return std::nullopt;
  return p;
}

std::string cookie(std::string_view value, std::int64_t max_age, bool secure) {
  std::string out(kCookieName);
  out += '=';
  out += value;
  out += "; Path=/; HttpOnly; SameSite=Strict; Max-Age=";
  out += std::to_string(max_age);
  if (secure) out += "; Secure";
  return out;
}

}  // namespace

std::string session_key(std::string_view admin_token) {
  if (admin_token.empty()) return {};
  return hmac_raw(admin_token, "intacct-sync console session");
}

Result<std::string> make_session(std::string_view key, std::int64_t now_ms,
                                 std::chrono::seconds ttl) {
  if (key.empty()) return make_error("unavailable", "no session key (the admin API is closed)");
  std::array<unsigned char, kRandomBytes> random{};
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    return make_error("unavailable", "no random bytes for a session");
  }
  const std::int64_t expiry = now_ms + std::chrono::milliseconds(ttl).count();
  std::string value(kVersion);
  value += '.';
  value += std::to_string(expiry);
  value += '.';
  value += hex(random.data(), random.size());
  std::string mac = hmac_hex(key, value);
  value += '.';
  value += mac;
  return Result<std::string>(boost::system::in_place_value, std::move(value));
}

bool session_valid(std::string_view key, std::string_view value, std::int64_t now_ms) {
  if (key.empty()) return false;
  auto parts = split(value);
  if (!parts) return false;
  // The MAC is checked before the expiry, and always in full.
  bool mac_ok = constant_time_equal(hmac_hex(key, parts->signed_part), parts->mac);
  return mac_ok && now_ms < parts->expiry;
}

std::string csrf_token(std::string_view key, std::string_view session) {
  std::string data = "csrf.";
  data += session;
  return hmac_hex(key, data);
}

bool csrf_valid(std::string_view key, std::string_view session, std::string_view presented) {
  if (key.empty() || presented.empty()) return false;
  return constant_time_equal(csrf_token(key, session), presented);
}

std::string_view cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    auto semi = header.find(';');
    std::string_view pair = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
    while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) pair.remove_prefix(1);
    while (!pair.empty() && (pair.back() == ' ' || pair.back() == '\t')) pair.remove_suffix(1);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
    std::string_view v = pair.substr(eq + 1);
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return v;
  }
  return {};
}

std::string session_cookie(std::string_view value, std::chrono::seconds ttl, bool secure) {
  return cookie(value, ttl.count(), secure);
}

std::string clear_cookie(bool secure) { return cookie("", 0, secure); }

const std::vector<std::pair<std::string_view, std::string_view>>& security_headers() {
  static const std::vector<std::pair<std::string_view, std::string_view>> kHeaders = {
      {"Content-Security-Policy", kContentSecurityPolicy},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"X-Frame-Options", "DENY"},
  };
  return kHeaders;
}

}  // namespace isync::console
