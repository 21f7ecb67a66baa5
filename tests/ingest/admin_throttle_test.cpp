// The admin listener over real HTTP refuses an address after too many failed
// authentications (wrong Bearer tokens, wrong console logins) until the
// window ends; requests without a token do not count, and a console session
// made before still works.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

#include "tests/ingest/server_harness.hpp"

using namespace isync::testing::ingest_server;

namespace {

isync::ingest::Options throttled(int failures, std::chrono::milliseconds window) {
  isync::ingest::Options o;
  o.admin_auth_failures = failures;
  o.admin_auth_window = window;
  return o;
}

std::string login(const std::string& token) {
  const std::string body = R"({"token":")" + token + "\"}";
  return "POST /console/login HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
         "Content-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// A 429 too_many_failures with its Retry-After (1 .. the window's seconds)
// in the header and the message.
void check_refused(Reply r, int window_s) {
  CHECK(r.status == 429);
  const std::string s = r.headers["retry-after"];
  REQUIRE(!s.empty());
  CHECK(std::stoi(s) >= 1);
  CHECK(std::stoi(s) <= window_s);
  CHECK(r.body ==
        error_json("too_many_failures",
                   "too many failed authentications from this address; retry after " + s + " s"));
}

}  // namespace

TEST_CASE(
    "wrong admin tokens and logins get an address refused, the right token too, until the window "
    "ends") {
  RedisServer redis;
  Harness h(redis, throttled(3, std::chrono::milliseconds(3000)));
  auto metrics = [&](const std::string& token) {
    return exchange(h.admin(), request("GET", "/metrics", "", "", token));
  };
  // A console session made before the failures.
  auto ok = exchange(h.admin(), login(kAdminToken));
  REQUIRE(ok.status == 200);
  const std::string set = ok.headers["set-cookie"];
  const std::string cookie = set.substr(0, set.find(';'));  // isync_console=<value>
  CHECK(metrics("wrong-1").status == 401);
  CHECK(exchange(h.admin(), login("wrong-2")).status == 401);
  // The tenant's read token opens no admin route: a failure as well.
  CHECK(metrics(kReadToken).status == 401);
  const auto started = std::chrono::steady_clock::now();
  check_refused(metrics(kAdminToken), 3);
  check_refused(exchange(h.admin(), login(kAdminToken)), 3);
  check_refused(exchange(h.admin(), request("GET", "/v1/admin/status", "", "", kAdminToken)), 3);
  // The session's cookie, unguessable, still opens the admin routes.
  CHECK(exchange(h.admin(), "GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\nCookie: " +
                                cookie + "\r\n\r\n")
            .status == 200);
  // The public listener is not the admin one: webhooks still go through.
  CHECK(
      exchange(h.port(), request("POST", "/v1/intacct/acme/events", kForm, event_body(7))).status ==
      202);
  std::this_thread::sleep_until(started + std::chrono::milliseconds(3100));
  CHECK(metrics(kAdminToken).status == 200);
  CHECK(exchange(h.admin(), login(kAdminToken)).status == 200);
}

TEST_CASE("requests without a token are answered 401 and never get an address refused") {
  RedisServer redis;
  Harness h(redis, throttled(2, std::chrono::milliseconds(60000)));
  for (int i = 0; i < 5; ++i) {
    CHECK(exchange(h.admin(), request("GET", "/metrics", "", "", "")).status == 401);
  }
  CHECK(exchange(h.admin(), request("GET", "/metrics", "", "", kAdminToken)).status == 200);
  // A right token does not wipe the count: two wrong ones still refuse.
  CHECK(exchange(h.admin(), request("GET", "/metrics", "", "", "nope")).status == 401);
  CHECK(exchange(h.admin(), login("nope")).status == 401);
  check_refused(exchange(h.admin(), request("GET", "/metrics", "", "", kAdminToken)), 60);
}
