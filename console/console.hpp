// console — what the on-call console page needs from the service, with no
// I/O: the page's files (compiled into the binary), stateless login
// sessions, CSRF tokens and the security headers of every /console answer.
// ingest/ serves them on the admin listener (ingest.hpp).
//
// Contract:
//  * Assets: every file in console/assets/ is turned into C++ at build time
//    (console/embed.cmake; no separate front-end build, no network). asset()
//    answers "/console" (and "/console/") with index.html, and
//    "/console/assets/<name>" with the file <name>; nothing else (no
//    sub-directories, no "..", no query). Content-Type follows the extension
//    (.html, .js, .css, .svg, .png, .ico, .json, .txt, .map, .woff2; other
//    application/octet-stream); the ETag is a quoted prefix of the content's
//    SHA-256, so it changes whenever the file does.
//  * Sessions are stateless, so every process of the service accepts every
//    session: make_session() returns the cookie value
//      v1.<expiry ms>.<16 random bytes, hex>.<hex HMAC-SHA256(key, "v1.<expiry>.<random>")>
//    and session_valid() checks shape, MAC (constant time) and expiry. The
//    key is session_key(admin token), so rotating the admin token ends every
//    session. Logout only clears the browser's cookie: a stolen cookie stays
//    valid until its expiry (the TTL is short: [admin] console_session_ttl).
//  * CSRF: csrf_token(key, session) = hex HMAC-SHA256(key, "csrf." + session);
//    csrf_valid() compares in constant time. The page sends it as
//    X-CSRF-Token on every POST and DELETE.
//  * Randomness comes from OpenSSL's RAND_bytes; when it fails make_session()
//    returns an Error{"unavailable"} rather than a guessable value.
//  * Security headers: security_headers() lists the headers of every /console
//    answer (the CSP forbids inline script and inline style); answers other
//    than assets also carry Cache-Control: no-store.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/core.hpp"

namespace isync::console {

struct Asset {
  std::string_view content_type;
  std::string_view body;
  std::string_view etag;  // quoted, e.g. "\"3f2a…\""
};

// The asset for a request path (see the contract); nullopt = 404.
std::optional<Asset> asset(std::string_view path);
// The names of every embedded file (for tests and diagnostics).
std::vector<std::string_view> asset_names();

// The cookie that carries a session.
inline constexpr std::string_view kCookieName = "isync_console";
// The request header that carries the CSRF token.
inline constexpr std::string_view kCsrfHeader = "X-CSRF-Token";

// HMAC-SHA256(admin_token, "intacct-sync console session"), raw bytes. An
// empty admin token gives an empty key (no session is ever valid).
std::string session_key(std::string_view admin_token);

// A new session value expiring at now_ms + ttl. REQUIRES: key non-empty.
Result<std::string> make_session(std::string_view key, std::int64_t now_ms,
                                 std::chrono::seconds ttl);
// True when `value` was made with `key` and now_ms is before its expiry.
bool session_valid(std::string_view key, std::string_view value, std::int64_t now_ms);

// The CSRF token of a session.
std::string csrf_token(std::string_view key, std::string_view session);
// Constant-time check of a presented token against the session's.
bool csrf_valid(std::string_view key, std::string_view session, std::string_view presented);

// The value of cookie `name` in a Cookie header ("a=1; b=2"); "" when absent.
std::string_view cookie_value(std::string_view cookie_header, std::string_view name);

// Set-Cookie values: a session lasting `ttl`, and the clearing one.
// Path=/; HttpOnly; SameSite=Strict; Max-Age=…; plus Secure when `secure`.
std::string session_cookie(std::string_view value, std::chrono::seconds ttl, bool secure);
std::string clear_cookie(bool secure);

// Content-Security-Policy, X-Content-Type-Options, Referrer-Policy,
// X-Frame-Options (name, value).
const std::vector<std::pair<std::string_view, std::string_view>>& security_headers();
inline constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

}  // namespace isync::console
