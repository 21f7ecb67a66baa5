// The HTTP front's probes and admin reads: /healthz and /readyz, /metrics,
// and the mirror reads with their tokens.
#include <doctest/doctest.h>

#include "tests/ingest/server_harness.hpp"

using namespace isync::testing::ingest_server;

TEST_CASE("/healthz is ok; /readyz is 503 while Redis is stopped and 200 again after start") {
  RedisServer redis;
  Harness h(redis);
  auto health = exchange(h.port(), request("GET", "/healthz", "", "", ""));
  CHECK(health.status == 200);
  CHECK(health.body == R"({"status":"ok"})");
  auto ready = [&] { return exchange(h.port(), request("GET", "/readyz", "", "", "")); };
  CHECK(eventually([&] { return ready().status == 200; }));
  redis.stop();
  Reply down;
  CHECK(eventually([&] {
    down = ready();
    return down.status == 503;
  }));
  CHECK(down.headers["retry-after"] == "1");
  CHECK(down.body.rfind(R"({"status":"unavailable","reason":)", 0) == 0);
  redis.start();
  CHECK(eventually([&] { return ready().status == 200; }));
}

TEST_CASE("/readyz is 503 while any one of the accept connections cannot write") {
  RedisServer redis;
  // The second producer's Redis is a port nobody listens on.
  isync::redis::Endpoint nowhere;
  nowhere.port = isync::testing::free_port();
  Harness h(redis, {}, nowhere);
  // Requests go to the producers in turn: every probe must name the one
  // that is down, however many are asked.
  for (int i = 0; i < 6; ++i) {
    auto r = exchange(h.port(), request("GET", "/readyz", "", "", ""));
    CHECK(r.status == 503);
    CHECK(r.body.rfind(R"({"status":"unavailable","reason":)", 0) == 0);
  }
}

TEST_CASE("/metrics needs the admin token and counts requests by route template and status") {
  RedisServer redis;
  Harness h(redis);
  exchange(h.port(), request("POST", "/v1/intacct/acme/events", kForm, event_body(1)));
  exchange(h.port(), request("POST", "/v1/intacct/acme/events", kForm, event_body(1), "x"));
  auto denied = exchange(h.admin(), request("GET", "/metrics", "", "", ""));
  CHECK(denied.status == 401);
  auto read_token = exchange(h.admin(), request("GET", "/metrics", "", "", kReadToken));
  CHECK(read_token.status == 401);
  auto m = exchange(h.admin(), request("GET", "/metrics", "", "", kAdminToken));
  CHECK(m.status == 200);
  CHECK(m.headers["content-type"] == "text/plain; version=0.0.4");
  CHECK(
      m.body.find(
          R"(isync_http_requests_total{listener="public",route="/v1/intacct/{tenant}/events",status="202"} 1)") !=
      std::string::npos);
  CHECK(
      m.body.find(
          R"(isync_http_requests_total{listener="public",route="/v1/intacct/{tenant}/events",status="401"} 1)") !=
      std::string::npos);
  CHECK(m.body.find("isync_http_request_seconds_bucket") != std::string::npos);
  // The public listener has no /metrics.
  CHECK(exchange(h.port(), request("GET", "/metrics", "", "", kAdminToken)).status == 404);
}

TEST_CASE("mirror reads take the admin token or the tenant's read token; unknown records are 404") {
  RedisServer redis;
  Harness h(redis);
  auto denied = exchange(h.admin(), request("GET", "/v1/tenants/acme/customers/1", "", "", kToken));
  CHECK(denied.status == 401);
  auto other =
      exchange(h.admin(), request("GET", "/v1/tenants/other/customers/1", "", "", kReadToken));
  CHECK(other.status == 401);
  auto admin =
      exchange(h.admin(), request("GET", "/v1/tenants/acme/customers/1", "", "", kAdminToken));
  CHECK(admin.status == 404);
  CHECK(admin.body.rfind(R"({"error":{"code":"not_found",)", 0) == 0);
  auto reader =
      exchange(h.admin(), request("GET", "/v1/tenants/acme/invoices/5", "", "", kReadToken));
  CHECK(reader.status == 404);
  auto find = exchange(
      h.admin(), request("GET", "/v1/tenants/acme/customers?by=id&id=C1", "", "", kReadToken));
  CHECK(find.status == 200);
  CHECK(find.body == R"({"records":[]})");
  auto bad = exchange(h.admin(),
                      request("GET", "/v1/tenants/acme/customers?by=name", "", "", kAdminToken));
  CHECK(bad.status == 400);
  redis.stop();
  auto down =
      exchange(h.admin(), request("GET", "/v1/tenants/acme/customers/1", "", "", kAdminToken));
  CHECK(down.status == 503);
  CHECK(down.headers["retry-after"] == "1");
  redis.start();
}
