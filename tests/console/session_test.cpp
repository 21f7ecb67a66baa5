// Console sessions, CSRF tokens, cookies and headers (console/console.hpp).
#include <doctest/doctest.h>

#include <string>

#include "console/console.hpp"

using namespace isync::console;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t kNow = 1'800'000'000'000;

std::string new_session(const std::string& key, std::int64_t now = kNow,
                        std::chrono::seconds ttl = 8h) {
  auto s = make_session(key, now, ttl);
  REQUIRE(s);
  return *s;
}

}  // namespace

TEST_CASE("a session value has the documented shape and is valid until its expiry") {
  const std::string key = session_key("admin-token");
  REQUIRE(key.size() == 32);
  const std::string s = new_session(key);
  const std::string expiry = std::to_string(kNow + 8 * 3600 * 1000);
  CHECK(s.rfind("v1." + expiry + ".", 0) == 0);
  CHECK(s.size() == 3 + expiry.size() + 1 + 32 + 1 + 64);
  CHECK(session_valid(key, s, kNow));
  CHECK(session_valid(key, s, kNow + 8 * 3600 * 1000 - 1));
  CHECK_FALSE(session_valid(key, s, kNow + 8 * 3600 * 1000));
}

TEST_CASE("two sessions made at the same time differ") {
  const std::string key = session_key("admin-token");
  CHECK(new_session(key) != new_session(key));
}

TEST_CASE("a session is refused under another admin token's key") {
  const std::string s = new_session(session_key("admin-token"));
  CHECK_FALSE(session_valid(session_key("rotated-token"), s, kNow));
  CHECK_FALSE(session_valid("", s, kNow));
}

TEST_CASE("an empty admin token gives no key and no session") {
  CHECK(session_key("").empty());
  auto s = make_session("", kNow, 8h);
  REQUIRE_FALSE(s);
  CHECK(s.error().code == "unavailable");
}

TEST_CASE("a tampered session is refused") {
  const std::string key = session_key("admin-token");
  const std::string s = new_session(key);
  auto dot = s.find('.', 3);
  // A later expiry with the old MAC.
  std::string later = s;
  later[3] = later[3] == '9' ? '8' : static_cast<char>(later[3] + 1);
  CHECK_FALSE(session_valid(key, later, kNow));
  // Another random part.
  std::string random = s;
  random[dot + 1] = random[dot + 1] == 'a' ? 'b' : 'a';
  CHECK_FALSE(session_valid(key, random, kNow));
  // A flipped MAC digit, a cut MAC, upper-case hex, extra parts, junk.
  std::string mac = s;
  mac.back() = mac.back() == '0' ? '1' : '0';
  CHECK_FALSE(session_valid(key, mac, kNow));
  CHECK_FALSE(session_valid(key, s.substr(0, s.size() - 1), kNow));
  std::string upper = s;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK_FALSE(session_valid(key, upper, kNow));
  CHECK_FALSE(session_valid(key, s + ".x", kNow));
  CHECK_FALSE(session_valid(key, "v2" + s.substr(2), kNow));
  CHECK_FALSE(session_valid(key, "", kNow));
  CHECK_FALSE(session_valid(key, "v1...", kNow));
  CHECK_FALSE(session_valid(key, std::string(1000, 'a'), kNow));
}

TEST_CASE("the CSRF token is the session's and nothing else's") {
  const std::string key = session_key("admin-token");
  const std::string a = new_session(key), b = new_session(key);
  const std::string ta = csrf_token(key, a);
  CHECK(ta.size() == 64);
  CHECK(ta == csrf_token(key, a));
  CHECK(ta != csrf_token(key, b));
  CHECK(csrf_valid(key, a, ta));
  CHECK_FALSE(csrf_valid(key, b, ta));
  CHECK_FALSE(csrf_valid(key, a, ""));
  CHECK_FALSE(csrf_valid(key, a, ta.substr(1)));
  CHECK_FALSE(csrf_valid(session_key("other"), a, ta));
}

TEST_CASE("cookie_value finds the named cookie among others") {
  CHECK(cookie_value("isync_console=abc", "isync_console") == "abc");
  CHECK(cookie_value("a=1; isync_console=v1.2.3; b=2", "isync_console") == "v1.2.3");
  CHECK(cookie_value("a=1;isync_console=\"q\"", "isync_console") == "q");
  CHECK(cookie_value("xisync_console=1; a=2", "isync_console").empty());
  CHECK(cookie_value("", "isync_console").empty());
}

TEST_CASE("session cookies are HttpOnly, SameSite=Strict, expiring, and Secure when asked") {
  CHECK(session_cookie("v", 8h, false) ==
        "isync_console=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=28800");
  CHECK(session_cookie("v", 1h, true) ==
        "isync_console=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600; Secure");
  CHECK(clear_cookie(false) == "isync_console=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
  CHECK(clear_cookie(true) ==
        "isync_console=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure");
}

TEST_CASE("the security headers carry the strict policy") {
  const auto& h = security_headers();
  REQUIRE(h.size() == 4);
  CHECK(h[0].first == "Content-Security-Policy");
  CHECK(h[0].second ==
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src "
        "'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
  CHECK(h[1].first == "X-Content-Type-Options");
  CHECK(h[1].second == "nosniff");
  CHECK(h[2].second == "no-referrer");
  CHECK(h[3].second == "DENY");
}
