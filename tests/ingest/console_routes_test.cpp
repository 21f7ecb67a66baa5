// The console's routes on the admin listener over real HTTP: login, the
// session cookie in place of the Bearer token, CSRF on state-changing
// requests made with it, logout, the page and its assets with their headers.
#include <doctest/doctest.h>

#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "console/console.hpp"
#include "ingest/ingest.hpp"
#include "tests/ingest/raw_http.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

using isync::testing::close_and_wait;
using isync::testing::eventually;
using isync::testing::exchange;
using isync::testing::RedisServer;

namespace {

constexpr const char* kAdmin = "admin-console-token";
constexpr const char* kRead = "acme-console-read";
constexpr std::int64_t kStart = 1'800'000'000'000;
constexpr const char* kCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

struct Req {
  Req(std::string m, std::string t, std::string b = {})
      : method(std::move(m)), target(std::move(t)), body(std::move(b)) {}
  std::string method;
  std::string target;
  std::string body;
  std::string bearer;
  std::string cookie;
  std::string csrf;
  std::string type = "application/json";
  std::string extra;  // more header lines, each ending in \r\n
};

std::string bytes(const Req& r) {
  std::string out = r.method + " " + r.target + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n";
  if (!r.bearer.empty()) out += "Authorization: Bearer " + r.bearer + "\r\n";
  if (!r.cookie.empty()) out += "Cookie: theme=dark; isync_console=" + r.cookie + "\r\n";
  if (!r.csrf.empty()) out += "X-CSRF-Token: " + r.csrf + "\r\n";
  out += r.extra;
  if (r.method == "POST") {
    if (!r.type.empty()) out += "Content-Type: " + r.type + "\r\n";
    out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  }
  return out + "\r\n" + r.body;
}

std::string err(const std::string& code, const std::string& message) {
  return R"({"error":{"code":")" + code + R"(","message":")" + message + R"("}})";
}

const std::string kCsrfFailed =
    "the X-CSRF-Token header is missing or wrong; a request made with the console's session "
    "cookie must carry the token answered by POST /console/login or GET /console/session";
const std::string kNoSession =
    "no console session (missing, expired or from another admin token); log in with the admin "
    "token at POST /console/login";
const std::string kUnauthorized =
    "the admin token is missing or wrong; send Authorization: Bearer <admin token>";

struct Harness {
  explicit Harness(RedisServer& redis, bool secure = false) {
    conn = isync::redis::Connection::create(loop.executor(), redis.endpoint(), {});
    conn->start();
    producer = std::make_shared<isync::queue::Producer>(conn, metrics);
    isync::ingest::Options o;
    o.public_port = 0;
    o.admin_port = 0;
    o.tenants = {{"acme", "acme-token", kRead, {}, {}}};
    o.admin_token = kAdmin;
    o.console_session_ttl = std::chrono::seconds(3600);
    o.console_secure_cookie = secure;
    o.status = [](std::function<void(isync::Result<std::string>)> done) {
      done(isync::Result<std::string>(boost::system::in_place_value, R"({"tenants":[]})"));
    };
    o.events_api = [this](isync::ingest::EventsCall call, isync::ingest::EventsReply done) {
      {
        std::lock_guard lock(mu);
        calls.push_back(call.method + " " + call.path);
      }
      std::thread([done] { done(200, R"({"ok":true})", false); }).detach();
    };
    server = std::make_unique<isync::ingest::Server>(loop.executor(), o, std::vector{producer},
                                                     nullptr, metrics, clock, log);
    REQUIRE(server->start().has_value());
    REQUIRE(eventually([this] { return conn->connected(); }));
  }
  ~Harness() {
    std::promise<void> done;
    server->stop([&] { done.set_value(); });
    done.get_future().wait_for(std::chrono::seconds(30));
    close_and_wait(*conn);
    loop.stop();
  }
  isync::testing::Reply call(const Req& r) { return exchange(server->admin_port(), bytes(r)); }

  // Logs in; the session cookie's value and the CSRF token.
  std::pair<std::string, std::string> login() {
    auto r = call({"POST", "/console/login", std::string(R"({"token":")") + kAdmin + "\"}"});
    REQUIRE(r.status == 200);
    const std::string& set = r.headers["set-cookie"];
    auto eq = set.find('=');
    auto semi = set.find(';');
    REQUIRE(eq != std::string::npos);
    REQUIRE(semi != std::string::npos);
    std::string cookie = set.substr(eq + 1, semi - eq - 1);
    REQUIRE(r.body.size() == 75);  // {"csrf":"<64 hex>"}
    return {cookie, r.body.substr(9, 64)};
  }
  std::size_t hook_calls() {
    std::lock_guard lock(mu);
    return calls.size();
  }

  isync::testing::Loop loop{1};
  isync::Metrics metrics;
  isync::ManualClock clock{kStart};
  isync::Log log{isync::Level::error, [](std::string_view) {}};
  std::shared_ptr<isync::redis::Connection> conn;
  std::shared_ptr<isync::queue::Producer> producer;
  std::unique_ptr<isync::ingest::Server> server;
  std::mutex mu;
  std::vector<std::string> calls;
};

void check_security_headers(isync::testing::Reply& r) {
  CHECK(r.headers["content-security-policy"] == kCsp);
  CHECK(r.headers["x-content-type-options"] == "nosniff");
  CHECK(r.headers["referrer-policy"] == "no-referrer");
  CHECK(r.headers["x-frame-options"] == "DENY");
}

}  // namespace

TEST_CASE("login with the admin token answers the CSRF token and a strict session cookie") {
  RedisServer redis;
  Harness h(redis);
  auto r = h.call({"POST", "/console/login", std::string(R"({"token":")") + kAdmin + "\"}"});
  CHECK(r.status == 200);
  CHECK(r.headers["content-type"] == "application/json");
  CHECK(r.headers["cache-control"] == "no-store");
  check_security_headers(r);
  const std::string& set = r.headers["set-cookie"];
  REQUIRE(set.rfind("isync_console=v1.", 0) == 0);
  CHECK(set.find("; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600") != std::string::npos);
  CHECK(set.find("Secure") == std::string::npos);
  std::string value = set.substr(14, set.find(';') - 14);
  const std::string key = isync::console::session_key(kAdmin);
  CHECK(isync::console::session_valid(key, value, kStart));
  CHECK(value.rfind("v1." + std::to_string(kStart + 3600 * 1000) + ".", 0) == 0);
  CHECK(r.body == R"({"csrf":")" + isync::console::csrf_token(key, value) + R"("})");
  // The token never comes back.
  CHECK(r.head.find(kAdmin) == std::string::npos);
  CHECK(r.body.find(kAdmin) == std::string::npos);
}

TEST_CASE("the session cookie is Secure when the service is told it sits behind TLS") {
  RedisServer redis;
  Harness h(redis, true);
  auto r = h.call({"POST", "/console/login", std::string(R"({"token":")") + kAdmin + "\"}"});
  REQUIRE(r.status == 200);
  const std::string& set = r.headers["set-cookie"];
  CHECK(set.find("; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600; Secure") != std::string::npos);
}

TEST_CASE("login refuses a wrong token, a read token and bad bodies with exact answers") {
  RedisServer redis;
  Harness h(redis);
  auto wrong = h.call({"POST", "/console/login", R"({"token":"nope"})"});
  CHECK(wrong.status == 401);
  CHECK(wrong.body == err("unauthorized", "the admin token is wrong"));
  CHECK(wrong.headers.count("set-cookie") == 0);
  check_security_headers(wrong);

  auto read = h.call({"POST", "/console/login", std::string(R"({"token":")") + kRead + "\"}"});
  CHECK(read.status == 401);
  CHECK(read.body == err("unauthorized", "the admin token is wrong"));
  CHECK(read.headers.count("set-cookie") == 0);

  auto missing = h.call({"POST", "/console/login", "{}"});
  CHECK(missing.status == 400);
  CHECK(missing.body == err("invalid_field", R"(\"token\" is required)"));
  auto other = h.call({"POST", "/console/login", R"({"token":"x","user":"y"})"});
  CHECK(other.status == 400);
  CHECK(other.body ==
        err("invalid_field", R"(unknown member \"user\"; the body is {\"token\":\"…\"})"));
  auto number = h.call({"POST", "/console/login", R"({"token":1})"});
  CHECK(number.status == 400);
  CHECK(number.body == err("invalid_field", R"(\"token\" must be a string)"));
  auto junk = h.call({"POST", "/console/login", "{"});
  CHECK(junk.status == 400);
  CHECK(junk.body.find(R"({"error":{"code":"malformed_body")") == 0);

  Req form{"POST", "/console/login", "token=x"};
  form.type = "application/x-www-form-urlencoded";
  CHECK(h.call(form).status == 415);
  auto big = h.call({"POST", "/console/login", std::string(5000, ' ')});
  CHECK(big.status == 413);
  auto get = h.call({"GET", "/console/login"});
  CHECK(get.status == 405);
  CHECK(get.headers["allow"] == "POST");
}

TEST_CASE("the session cookie opens the admin GET routes in place of the Bearer token") {
  RedisServer redis;
  Harness h(redis);
  auto [cookie, csrf] = h.login();
  Req status{"GET", "/v1/admin/status"};
  status.cookie = cookie;
  auto s = h.call(status);
  CHECK(s.status == 200);
  CHECK(s.body == R"({"tenants":[]})");
  Req events{"GET", "/v1/admin/events?state=dead"};
  events.cookie = cookie;
  CHECK(h.call(events).status == 200);
  Req activity{"GET", "/v1/admin/activity?tenant=acme"};
  activity.cookie = cookie;
  CHECK(h.call(activity).status == 200);
  Req metrics{"GET", "/metrics"};
  metrics.cookie = cookie;
  CHECK(h.call(metrics).status == 200);
  // A mirror read is authorised too (no mirror in this process: 503, not 401).
  Req mirror{"GET", "/v1/tenants/acme/customers/1"};
  mirror.cookie = cookie;
  CHECK(h.call(mirror).status == 503);
  // GET /console/session gives the same CSRF token back.
  Req session{"GET", "/console/session"};
  session.cookie = cookie;
  auto again = h.call(session);
  CHECK(again.status == 200);
  CHECK(again.body == R"({"csrf":")" + csrf + R"("})");
  check_security_headers(again);
}

TEST_CASE("a bad, expired or foreign cookie opens nothing") {
  RedisServer redis;
  Harness h(redis);
  auto [cookie, csrf] = h.login();
  std::string tampered = cookie;
  tampered.back() = tampered.back() == '0' ? '1' : '0';
  auto foreign = isync::console::make_session(isync::console::session_key("other"), kStart,
                                              std::chrono::seconds(3600));
  REQUIRE(foreign);
  for (const std::string& c : {tampered, *foreign, std::string("v1.1.2.3")}) {
    Req status{"GET", "/v1/admin/status"};
    status.cookie = c;
    auto r = h.call(status);
    CHECK(r.status == 401);
    CHECK(r.body == err("unauthorized", kUnauthorized));
    Req session{"GET", "/console/session"};
    session.cookie = c;
    auto s = h.call(session);
    CHECK(s.status == 401);
    CHECK(s.body == err("unauthorized", kNoSession));
  }
  h.clock.advance(3600 * 1000);
  Req status{"GET", "/v1/admin/status"};
  status.cookie = cookie;
  CHECK(h.call(status).status == 401);
  Req none{"GET", "/console/session"};
  CHECK(h.call(none).status == 401);
}

TEST_CASE("a POST or DELETE with the cookie needs the right X-CSRF-Token") {
  RedisServer redis;
  Harness h(redis);
  auto [cookie, csrf] = h.login();
  const std::string body = R"({"ids":["01A"]})";
  Req no_token{"POST", "/v1/admin/events/replay", body};
  no_token.cookie = cookie;
  auto r = h.call(no_token);
  CHECK(r.status == 403);
  CHECK(r.body == err("csrf_failed", kCsrfFailed));
  Req wrong = no_token;
  wrong.csrf = std::string(64, 'a');
  auto w = h.call(wrong);
  CHECK(w.status == 403);
  CHECK(w.body == err("csrf_failed", kCsrfFailed));
  Req del{"DELETE", "/v1/admin/jobs/01JOB"};
  del.cookie = cookie;
  CHECK(h.call(del).status == 403);
  Req reconcile{"POST", "/v1/admin/reconcile", R"({"tenant":"acme"})"};
  reconcile.cookie = cookie;
  CHECK(h.call(reconcile).status == 403);
  CHECK(h.hook_calls() == 0);

  Req right = no_token;
  right.csrf = csrf;
  auto ok = h.call(right);
  CHECK(ok.status == 200);
  CHECK(ok.body == R"({"ok":true})");
  del.csrf = csrf;
  CHECK(h.call(del).status == 200);
  CHECK(h.hook_calls() == 2);
}

TEST_CASE("Bearer requests need no CSRF token, and a read token never opens admin routes") {
  RedisServer redis;
  Harness h(redis);
  Req post{"POST", "/v1/admin/events/replay", R"({"ids":["01A"]})"};
  post.bearer = kAdmin;
  CHECK(h.call(post).status == 200);
  Req del{"DELETE", "/v1/admin/jobs/01JOB"};
  del.bearer = kAdmin;
  CHECK(h.call(del).status == 200);
  Req read{"GET", "/v1/admin/status"};
  read.bearer = kRead;
  CHECK(h.call(read).status == 401);
  // A mirror read with the tenant's read token is as before.
  Req mirror{"GET", "/v1/tenants/acme/customers/1"};
  mirror.bearer = kRead;
  CHECK(h.call(mirror).status == 503);
  Req session{"GET", "/console/session"};
  session.bearer = kAdmin;
  CHECK(h.call(session).status == 401);
}

TEST_CASE("logout needs the CSRF token and clears the cookie") {
  RedisServer redis;
  Harness h(redis);
  auto [cookie, csrf] = h.login();
  Req bare{"POST", "/console/logout"};
  bare.cookie = cookie;
  auto refused = h.call(bare);
  CHECK(refused.status == 403);
  CHECK(refused.body == err("csrf_failed", kCsrfFailed));
  CHECK(refused.headers.count("set-cookie") == 0);
  Req none{"POST", "/console/logout"};
  none.csrf = csrf;
  auto no_session = h.call(none);
  CHECK(no_session.status == 401);
  CHECK(no_session.body == err("unauthorized", kNoSession));
  Req out = bare;
  out.csrf = csrf;
  auto r = h.call(out);
  CHECK(r.status == 200);
  CHECK(r.body == "{}");
  CHECK(r.headers["set-cookie"] == "isync_console=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
  check_security_headers(r);
}

TEST_CASE("the page and its assets are served without auth, with the strict headers") {
  RedisServer redis;
  Harness h(redis);
  auto page = h.call({"GET", "/console"});
  CHECK(page.status == 200);
  CHECK(page.headers["content-type"] == "text/html; charset=utf-8");
  CHECK(page.headers["cache-control"] == "no-store");
  CHECK(page.body == isync::console::asset("/console")->body);
  check_security_headers(page);

  auto js = h.call({"GET", "/console/assets/app.js"});
  CHECK(js.status == 200);
  CHECK(js.headers["content-type"] == "text/javascript; charset=utf-8");
  CHECK(js.headers["cache-control"] == "no-cache");
  const std::string etag = js.headers["etag"];
  CHECK(etag == isync::console::asset("/console/assets/app.js")->etag);
  check_security_headers(js);
  Req again{"GET", "/console/assets/app.js"};
  again.extra = "If-None-Match: " + etag + "\r\n";
  auto cached = h.call(again);
  CHECK(cached.status == 304);
  CHECK(cached.body.empty());

  auto css = h.call({"GET", "/console/assets/app.css"});
  CHECK(css.status == 200);
  CHECK(css.headers["content-type"] == "text/css; charset=utf-8");

  auto missing = h.call({"GET", "/console/assets/nope.js"});
  CHECK(missing.status == 404);
  CHECK(missing.body == err("not_found", "no console asset /console/assets/nope.js"));
  check_security_headers(missing);
  auto post = h.call({"POST", "/console/assets/app.js", "{}"});
  CHECK(post.status == 405);
  check_security_headers(post);
}
