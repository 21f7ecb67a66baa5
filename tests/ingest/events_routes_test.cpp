// The on-call routes of the admin listener over real HTTP, with a stub hook
// standing in for oncall::serve_http: what reaches the hook, auth, 404/405,
// 413/415, the hook's answer written as given, no hook = 503.
#include <doctest/doctest.h>

#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ingest/ingest.hpp"
#include "tests/ingest/raw_http.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

using isync::testing::close_and_wait;
using isync::testing::eventually;
using isync::testing::exchange;
using isync::testing::RedisServer;

namespace {

constexpr const char* kAdmin = "admin-oncall-token";
constexpr const char* kRead = "acme-oncall-read";
constexpr const char* kJson = "application/json";

std::string req(const std::string& method, const std::string& target, const std::string& body = {},
                const std::string& token = kAdmin, const std::string& type = kJson) {
  std::string out = method + " " + target + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n";
  if (!token.empty()) out += "Authorization: Bearer " + token + "\r\n";
  if (method == "POST") {
    if (!type.empty()) out += "Content-Type: " + type + "\r\n";
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return out + "\r\n" + body;
}

std::string err(const std::string& code, const std::string& message) {
  return R"({"error":{"code":")" + code + R"(","message":")" + message + R"("}})";
}

// Records each call and answers from another thread, as Redis would.
struct Stub {
  std::mutex mu;
  std::vector<isync::ingest::EventsCall> calls;
  unsigned status = 200;
  std::string body = R"({"ok":true})";
  bool retry_after = false;

  void wire(isync::ingest::Options& o) {
    o.events_api = [this](isync::ingest::EventsCall call, isync::ingest::EventsReply done) {
      std::lock_guard lock(mu);
      calls.push_back(std::move(call));
      std::thread([done, s = status, b = body, r = retry_after] { done(s, b, r); }).detach();
    };
  }
  std::size_t count() {
    std::lock_guard lock(mu);
    return calls.size();
  }
};

struct Harness {
  explicit Harness(RedisServer& redis, Stub* stub) {
    conn = isync::redis::Connection::create(loop.executor(), redis.endpoint(), {});
    conn->start();
    producer = std::make_shared<isync::queue::Producer>(conn, metrics);
    isync::ingest::Options o;
    o.public_port = 0;
    o.admin_port = 0;
    o.tenants = {{"acme", "acme-token", kRead, {}, {}}};
    o.admin_token = kAdmin;
    // These tests send many wrong tokens on purpose, each expecting its 401:
    // the throttle of failures has its own tests (admin_throttle_test.cpp).
    o.admin_auth_failures = 0;
    if (stub) stub->wire(o);
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
  isync::testing::Reply call(const std::string& bytes) {
    return exchange(server->admin_port(), bytes);
  }

  isync::testing::Loop loop{1};
  isync::Metrics metrics;
  isync::SystemClock clock;
  isync::Log log{isync::Level::error, [](std::string_view) {}};
  std::shared_ptr<isync::redis::Connection> conn;
  std::shared_ptr<isync::queue::Producer> producer;
  std::unique_ptr<isync::ingest::Server> server;
};

const std::string kUnauthorized =
    "the admin token is missing or wrong; send Authorization: Bearer <admin token>";

}  // namespace

TEST_CASE("every on-call route reaches the hook whole: method, path, raw query and body") {
  RedisServer redis;
  Stub stub;
  Harness h(redis, &stub);
  struct Case {
    std::string method, target, body, path, query;
  };
  const std::vector<Case> cases = {
      {"GET", "/v1/admin/events?state=dead&tenant=acme&since=2026-12-01T10%3A00%3A00Z", "",
       "/v1/admin/events", "state=dead&tenant=acme&since=2026-12-01T10%3A00%3A00Z"},
      {"GET", "/v1/admin/events/01EVENT?tenant=acme", "", "/v1/admin/events/01EVENT",
       "tenant=acme"},
      {"POST", "/v1/admin/events/replay", R"({"ids":["01A"]})", "/v1/admin/events/replay", ""},
      {"POST", "/v1/admin/events/discard", R"({"ids":["01A"],"reason":"dup"})",
       "/v1/admin/events/discard", ""},
      {"GET", "/v1/admin/jobs?tenant=acme", "", "/v1/admin/jobs", "tenant=acme"},
      {"GET", "/v1/admin/jobs/01JOB", "", "/v1/admin/jobs/01JOB", ""},
      {"DELETE", "/v1/admin/jobs/01JOB", "", "/v1/admin/jobs/01JOB", ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.target);
    auto r = h.call(req(c.method, c.target, c.body));
    CHECK(r.status == 200);
    CHECK(r.body == R"({"ok":true})");
    CHECK(r.headers["content-type"] == "application/json");
    std::lock_guard lock(stub.mu);
    REQUIRE_FALSE(stub.calls.empty());
    const auto& call = stub.calls.back();
    CHECK(call.method == c.method);
    CHECK(call.path == c.path);
    CHECK(call.query == c.query);
    CHECK(call.body == c.body);
  }
  CHECK(stub.count() == cases.size());
}

TEST_CASE("the hook's answer is written as given: status, body, Retry-After on request") {
  RedisServer redis;
  Stub stub;
  Harness h(redis, &stub);
  stub.status = 202;
  stub.body = R"({"job_id":"01JOB","matched":3})";
  auto r = h.call(req("POST", "/v1/admin/events/replay", R"({"filter":{"tenant":"acme"}})"));
  CHECK(r.status == 202);
  CHECK(r.body == stub.body);
  CHECK(r.headers.count("retry-after") == 0);
  stub.status = 409;
  stub.body = err("invalid_state", "event 01A is done; a done event cannot be replayed");
  r = h.call(req("POST", "/v1/admin/events/replay", R"({"ids":["01A"]})"));
  CHECK(r.status == 409);
  CHECK(r.body == stub.body);
  stub.status = 503;
  stub.body = err("unavailable", "Redis: down");
  stub.retry_after = true;
  r = h.call(req("GET", "/v1/admin/events"));
  CHECK(r.status == 503);
  CHECK(r.headers["retry-after"] == "1");
  CHECK(r.body == stub.body);
}

TEST_CASE("the on-call routes take the admin token only: none, a wrong one, a read token are 401") {
  RedisServer redis;
  Stub stub;
  Harness h(redis, &stub);
  for (const std::string token : {"", "wrong", kRead, "acme-token"}) {
    CAPTURE(token);
    for (const auto& [method, target] :
         std::vector<std::pair<std::string, std::string>>{{"GET", "/v1/admin/events?tenant=acme"},
                                                          {"GET", "/v1/admin/events/01A"},
                                                          {"POST", "/v1/admin/events/replay"},
                                                          {"POST", "/v1/admin/events/discard"},
                                                          {"GET", "/v1/admin/jobs"},
                                                          {"GET", "/v1/admin/jobs/01JOB"},
                                                          {"DELETE", "/v1/admin/jobs/01JOB"}}) {
      CAPTURE(target);
      auto r = h.call(req(method, target, R"({"ids":["01A"]})", token));
      CHECK(r.status == 401);
      CHECK(r.body == err("unauthorized", kUnauthorized));
    }
  }
  CHECK(stub.count() == 0);
}

TEST_CASE("a method a route does not take is 405 with Allow; an unknown path is 404") {
  RedisServer redis;
  Stub stub;
  Harness h(redis, &stub);
  struct Case {
    std::string method, target, allow;
  };
  for (const auto& c : std::vector<Case>{{"POST", "/v1/admin/events", "GET"},
                                         {"DELETE", "/v1/admin/events/01A", "GET"},
                                         {"GET", "/v1/admin/events/replay", "POST"},
                                         {"PUT", "/v1/admin/events/discard", "POST"},
                                         {"POST", "/v1/admin/jobs", "GET"},
                                         {"POST", "/v1/admin/jobs/01JOB", "GET, DELETE"}}) {
    CAPTURE(c.target);
    auto r = h.call(req(c.method, c.target, "{}"));
    CHECK(r.status == 405);
    CHECK(r.headers["allow"] == c.allow);
    CHECK(r.body ==
          err("method_not_allowed", "method " + c.method + " is not allowed here; use " + c.allow));
  }
  auto r = h.call(req("GET", "/v1/admin/events/01A/attempts"));
  CHECK(r.status == 404);
  CHECK(r.body == err("not_found", "no route for /v1/admin/events/01A/attempts"));
  r = h.call(req("GET", "/v1/admin/jobs/01JOB/x"));
  CHECK(r.status == 404);
  CHECK(stub.count() == 0);
}

TEST_CASE("a POST body must be application/json (415) of at most 256 KiB (413)") {
  RedisServer redis;
  Stub stub;
  Harness h(redis, &stub);
  auto r = h.call(req("POST", "/v1/admin/events/replay", R"({"ids":["01A"]})", kAdmin, ""));
  CHECK(r.status == 415);
  CHECK(r.body ==
        err("unsupported_media_type", "the Content-Type header is missing; send application/json"));
  r = h.call(req("POST", "/v1/admin/events/discard", "ids=01A", kAdmin,
                 "application/x-www-form-urlencoded"));
  CHECK(r.status == 415);
  CHECK(r.body == err("unsupported_media_type",
                      R"(Content-Type \"application/x-www-form-urlencoded\" is not accepted; )"
                      "send application/json"));
  const std::string big(isync::ingest::kEventsBodyLimit + 1, ' ');
  r = h.call(req("POST", "/v1/admin/events/replay", big));
  CHECK(r.status == 413);
  CHECK(r.body == err("payload_too_large", "the body is larger than 262144 bytes (Content-Length " +
                                               std::to_string(big.size()) + ")"));
  // 1,000 ids of 26 characters fit well within the cap.
  std::string ids = R"({"ids":[)";
  for (int i = 0; i < 1000; ++i)
    ids += std::string(i ? "," : "") + "\"01JABCDEFGHJKMNPQRSTVWXYZ0\"";
  ids += "]}";
  r = h.call(req("POST", "/v1/admin/events/replay", ids));
  CHECK(r.status == 200);
  std::lock_guard lock(stub.mu);
  REQUIRE(stub.calls.size() == 1);
  CHECK(stub.calls[0].body == ids);
}

TEST_CASE("without the hook the on-call routes answer 503 with Retry-After") {
  RedisServer redis;
  Harness h(redis, nullptr);
  auto r = h.call(req("GET", "/v1/admin/events"));
  CHECK(r.status == 503);
  CHECK(r.headers["retry-after"] == "1");
  CHECK(r.body == err("unavailable", "the on-call API is not available in this process"));
  r = h.call(req("POST", "/v1/admin/events/replay", R"({"ids":["01A"]})"));
  CHECK(r.status == 503);
}
