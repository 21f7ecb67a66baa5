// The admin reconcile routes over real HTTP, with fake hooks standing in for
// the engine: every status and exact message, auth, and no hook = 503.
#include <doctest/doctest.h>

#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
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

constexpr const char* kAdmin = "admin-reconcile-token";
constexpr const char* kRead = "acme-reconcile-read";
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

// What the fake engine answers, and what it was asked.
struct Fake {
  std::mutex mu;
  std::vector<isync::ingest::ReconcileRequest> starts;
  std::vector<std::pair<std::string, int>> lists;
  std::vector<std::pair<std::string, std::string>> gets;
  isync::ingest::ReconcileStart start_answer{"01RUN", std::nullopt};
  std::optional<isync::Error> list_error;
  std::vector<std::string> runs{R"({"run_id":"B"})", R"({"run_id":"A"})"};
  // tenant -> report kept under run id "01RUN"; a tenant in `down` fails.
  std::map<std::string, std::string> kept;
  std::set<std::string> down;

  void wire(isync::ingest::Options& o) {
    o.reconcile_start = [this](isync::ingest::ReconcileRequest r, auto done) {
      std::lock_guard lock(mu);
      starts.push_back(r);
      done(start_answer);
    };
    o.reconcile_runs = [this](std::string tenant, int limit, auto done) {
      std::lock_guard lock(mu);
      lists.emplace_back(tenant, limit);
      if (list_error) return done(*list_error);
      done(runs);
    };
    o.reconcile_run = [this](std::string tenant, std::string id, auto done) {
      std::unique_lock lock(mu);
      gets.emplace_back(tenant, id);
      isync::Result<std::string> r = isync::Error{"not_found", "no run"};
      if (down.count(tenant)) {
        r = isync::Error{"unavailable", "Redis: down"};
      } else if (auto it = kept.find(tenant); it != kept.end() && id == "01RUN") {
        r = isync::Result<std::string>(boost::system::in_place_value, it->second);
      }
      lock.unlock();
      // From another thread, as a Redis callback would.
      std::thread([done, r = std::move(r)] { done(r); }).detach();
    };
  }
};

struct Harness {
  explicit Harness(RedisServer& redis, Fake* fake) {
    conn = isync::redis::Connection::create(loop.executor(), redis.endpoint(), {});
    conn->start();
    producer = std::make_shared<isync::queue::Producer>(conn, metrics);
    isync::ingest::Options o;
    o.public_port = 0;
    o.admin_port = 0;
    o.tenants = {{"acme", "acme-token", kRead, {}, {}}, {"beta", "beta-token", "", {}, {}}};
    o.admin_token = kAdmin;
    if (fake) fake->wire(o);
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

TEST_CASE(
    "POST /v1/admin/reconcile starts a run: 202 {run_id}, the request handed over as parsed") {
  RedisServer redis;
  Fake fake;
  Harness h(redis, &fake);
  auto r = h.call(req("POST", "/v1/admin/reconcile",
                      R"({"tenant":"acme","objects":["payments","invoices"],"dry_run":true})"));
  CHECK(r.status == 202);
  CHECK(r.body == R"({"run_id":"01RUN"})");
  CHECK(r.headers["content-type"] == "application/json");
  std::lock_guard lock(fake.mu);
  REQUIRE(fake.starts.size() == 1);
  CHECK(fake.starts[0].tenant == "acme");
  CHECK(fake.starts[0].objects == std::vector<std::string>{"ARINVOICE", "ARPYMT"});
  CHECK(fake.starts[0].dry_run);
  CHECK_FALSE(fake.starts[0].allow_mass_delete);
}

TEST_CASE("each refusal of a reconcile start has its status, code and message") {
  RedisServer redis;
  Fake fake;
  Harness h(redis, &fake);
  const auto post = [&] {
    return h.call(req("POST", "/v1/admin/reconcile", R"({"tenant":"acme"})"));
  };
  fake.start_answer = {"01OLD", isync::Error{"already_running", "a run of acme is running"}};
  auto r = post();
  CHECK(r.status == 409);
  CHECK(
      r.body ==
      R"({"error":{"code":"already_running","message":"a run of acme is running"},"run_id":"01OLD"})");
  fake.start_answer = {"", isync::Error{"index_building", "the index is being built"}};
  r = post();
  CHECK(r.status == 409);
  CHECK(r.body == err("index_building", "the index is being built"));
  fake.start_answer = {"", isync::Error{"unknown_tenant", "no tenant 'acme' is configured"}};
  r = post();
  CHECK(r.status == 404);
  CHECK(r.body == err("not_found", "no tenant 'acme' is configured"));
  fake.start_answer = {"", isync::Error{"no_intacct", "tenant 'acme' has no Intacct credentials"}};
  r = post();
  CHECK(r.status == 422);
  CHECK(r.body == err("no_intacct", "tenant 'acme' has no Intacct credentials"));
  fake.start_answer = {"", isync::Error{"unavailable", "Redis: connection refused"}};
  r = post();
  CHECK(r.status == 503);
  CHECK(r.headers["retry-after"] == "1");
  CHECK(r.body == err("unavailable", "Redis: connection refused"));
  fake.start_answer = {"", isync::Error{"odd", "something else"}};
  r = post();
  CHECK(r.status == 503);
  CHECK(r.body ==
        err("unavailable", "reconcile could not start (odd: something else); retry later"));
}

TEST_CASE("a reconcile start is refused before the engine for a bad body or an unknown tenant") {
  RedisServer redis;
  Fake fake;
  Harness h(redis, &fake);
  auto r = h.call(req("POST", "/v1/admin/reconcile", R"({"tenant":"nobody"})"));
  CHECK(r.status == 404);
  CHECK(r.body == err("not_found", R"(no tenant \"nobody\" is configured)"));
  r = h.call(req("POST", "/v1/admin/reconcile", R"({"tenant":"acme","objects":["orders"]})"));
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      err("invalid_field",
          R"(\"objects\" holds \"orders\"; expected \"customers\", \"invoices\" or \"payments\")"));
  r = h.call(req("POST", "/v1/admin/reconcile", R"({"tenant":"acme")"));
  CHECK(r.status == 400);
  CHECK(r.body.rfind(R"({"error":{"code":"malformed_body","message":"the JSON body )", 0) == 0);
  r = h.call(req("POST", "/v1/admin/reconcile", R"({"tenant":"acme"})", kAdmin, ""));
  CHECK(r.status == 415);
  CHECK(r.body ==
        err("unsupported_media_type", "the Content-Type header is missing; send application/json"));
  r = h.call(req("POST", "/v1/admin/reconcile", R"({"tenant":"acme"})", kAdmin, "text/plain"));
  CHECK(r.status == 415);
  CHECK(r.body == err("unsupported_media_type",
                      R"(Content-Type \"text/plain\" is not accepted; send application/json)"));
  const std::string big = R"({"tenant":"acme","objects":[)" + std::string(5000, ' ') + "]}";
  r = h.call(req("POST", "/v1/admin/reconcile", big));
  CHECK(r.status == 413);
  CHECK(r.body == err("payload_too_large", "the body is larger than 4096 bytes (Content-Length " +
                                               std::to_string(big.size()) + ")"));
  std::lock_guard lock(fake.mu);
  CHECK(fake.starts.empty());
}

TEST_CASE("the reconcile routes take the admin token only: 401 otherwise; wrong methods are 405") {
  RedisServer redis;
  Fake fake;
  Harness h(redis, &fake);
  for (const std::string& token : {std::string(), std::string(kRead), std::string("acme-token")}) {
    CAPTURE(token);
    auto r = h.call(req("POST", "/v1/admin/reconcile", R"({"tenant":"acme"})", token));
    CHECK(r.status == 401);
    CHECK(r.body == err("unauthorized", kUnauthorized));
    r = h.call(req("GET", "/v1/admin/reconcile/runs?tenant=acme", "", token));
    CHECK(r.status == 401);
    CHECK(r.body == err("unauthorized", kUnauthorized));
    r = h.call(req("GET", "/v1/admin/reconcile/runs/01RUN", "", token));
    CHECK(r.status == 401);
  }
  auto r = h.call(req("GET", "/v1/admin/reconcile"));
  CHECK(r.status == 405);
  CHECK(r.headers["allow"] == "POST");
  r = h.call(req("POST", "/v1/admin/reconcile/runs", "{}"));
  CHECK(r.status == 405);
  CHECK(r.headers["allow"] == "GET");
  // Only on the admin listener.
  auto pub = exchange(h.server->public_port(), req("POST", "/v1/admin/reconcile", "{}"));
  CHECK(pub.status == 404);
  std::lock_guard lock(fake.mu);
  CHECK(fake.starts.empty());
  CHECK(fake.lists.empty());
  CHECK(fake.gets.empty());
}

TEST_CASE("GET /v1/admin/reconcile/runs lists a tenant's reports newest first") {
  RedisServer redis;
  Fake fake;
  Harness h(redis, &fake);
  auto r = h.call(req("GET", "/v1/admin/reconcile/runs?tenant=acme"));
  CHECK(r.status == 200);
  CHECK(r.body == R"({"runs":[{"run_id":"B"},{"run_id":"A"}]})");
  r = h.call(req("GET", "/v1/admin/reconcile/runs?tenant=beta&limit=5"));
  CHECK(r.status == 200);
  {
    std::lock_guard lock(fake.mu);
    CHECK(fake.lists == std::vector<std::pair<std::string, int>>{{"acme", 30}, {"beta", 5}});
    fake.runs.clear();
  }
  CHECK(h.call(req("GET", "/v1/admin/reconcile/runs?tenant=acme")).body == R"({"runs":[]})");
  r = h.call(req("GET", "/v1/admin/reconcile/runs"));
  CHECK(r.status == 400);
  CHECK(r.body == err("invalid_field", R"(query parameter \"tenant\" is required)"));
  r = h.call(req("GET", "/v1/admin/reconcile/runs?tenant=acme&limit=0"));
  CHECK(r.status == 400);
  CHECK(r.body ==
        err("invalid_field", R"(query parameter \"limit\" must be a whole number from 1 to 100)"));
  r = h.call(req("GET", "/v1/admin/reconcile/runs?tenant=nobody"));
  CHECK(r.status == 404);
  CHECK(r.body == err("not_found", R"(no tenant \"nobody\" is configured)"));
  fake.list_error = isync::Error{"unavailable", "Redis: down"};
  r = h.call(req("GET", "/v1/admin/reconcile/runs?tenant=acme"));
  CHECK(r.status == 503);
  CHECK(r.headers["retry-after"] == "1");
  CHECK(r.body == err("unavailable", "the reconcile runs cannot be read right now; retry later"));
}

TEST_CASE("GET /v1/admin/reconcile/runs/{run_id} finds the run in whichever tenant keeps it") {
  RedisServer redis;
  Fake fake;
  fake.kept["beta"] = R"({"run_id":"01RUN","tenant":"beta","state":"running"})";
  Harness h(redis, &fake);
  auto r = h.call(req("GET", "/v1/admin/reconcile/runs/01RUN"));
  CHECK(r.status == 200);
  CHECK(r.body == R"({"run_id":"01RUN","tenant":"beta","state":"running"})");
  r = h.call(req("GET", "/v1/admin/reconcile/runs/01RUN?tenant=acme"));
  CHECK(r.status == 404);
  CHECK(r.body == err("not_found", R"(no reconcile run \"01RUN\" is kept for tenant \"acme\")"));
  r = h.call(req("GET", "/v1/admin/reconcile/runs/01NONE"));
  CHECK(r.status == 404);
  CHECK(r.body == err("not_found", R"(no reconcile run \"01NONE\" is kept for any tenant)"));
  r = h.call(req("GET", "/v1/admin/reconcile/runs/01RUN?tenant=nobody"));
  CHECK(r.status == 404);
  CHECK(r.body == err("not_found", R"(no tenant \"nobody\" is configured)"));
  r = h.call(req("GET", "/v1/admin/reconcile/runs/01-RUN"));
  CHECK(r.status == 400);
  CHECK(r.body ==
        err("invalid_field", R"(\"01-RUN\" is not a run id (letters and digits, at most 64))"));
  {
    std::lock_guard lock(fake.mu);
    fake.down.insert("acme");
  }
  // Found elsewhere: the tenant that could not be read does not matter.
  CHECK(h.call(req("GET", "/v1/admin/reconcile/runs/01RUN")).status == 200);
  // Not found anywhere readable, one tenant unreadable: it may be there.
  r = h.call(req("GET", "/v1/admin/reconcile/runs/01NONE"));
  CHECK(r.status == 503);
  CHECK(r.headers["retry-after"] == "1");
  CHECK(r.body == err("unavailable", "the reconcile run cannot be read right now; retry later"));
}

TEST_CASE("without reconcile hooks every reconcile route answers 503 with Retry-After") {
  RedisServer redis;
  Harness h(redis, nullptr);
  const std::string message = err("unavailable", "reconcile is not available in this process");
  for (const auto& bytes : {req("POST", "/v1/admin/reconcile", R"({"tenant":"acme"})"),
                            req("GET", "/v1/admin/reconcile/runs?tenant=acme"),
                            req("GET", "/v1/admin/reconcile/runs/01RUN")}) {
    auto r = h.call(bytes);
    CHECK(r.status == 503);
    CHECK(r.headers["retry-after"] == "1");
    CHECK(r.body == message);
  }
}
