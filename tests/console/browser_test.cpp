// The console in a real headless browser: Redis, the intacct-sandbox and the
// service started here as in the on-call end-to-end tests, two dead letters
// made (a CUSTOMER change whose read the sandbox denies, and an ARINVOICE
// event whose payload holds a hostile <img onerror> tag), then flow.mjs
// drives Debian's chromium through playwright-core: log in, see the dead
// letter, fix the fault, filter, open, replay, see it done and the record in
// the mirror; the hostile payload as text; the CSRF refusal; a bulk discard.
// node's exit code decides; its output is printed on failure. Screenshots go
// to <build>/artifacts/console/.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/support/e2e_loop.hpp"

using namespace isync::testing::e2e;
using namespace std::chrono_literals;
namespace http = boost::beast::http;

namespace {

constexpr int kCustomer = 4;
constexpr int kInvoice = 3;

long long dead_count(RedisServer& redis) {
  return redis.cmd({"ZCARD", "isync:{acme}:dead"}).integer;
}

// The activity counters are flushed every few seconds: the chart is drawn
// from them, so wait until they hold both dead letters.
bool activity_has_dead(Loop& loop, int n) {
  return eventually(
      [&] {
        auto r =
            HttpClient(loop.admin_port)
                .request(http::verb::get, "/v1/admin/activity?tenant=acme", {}, {}, kAdminToken);
        auto doc = json(r.body);
        if (r.status != 200 || !doc.IsObject() || !doc.HasMember("minutes")) return false;
        std::int64_t dead = 0;
        for (const auto& m : doc["minutes"].GetArray()) dead += m["dead"].GetInt64();
        return dead >= n;
      },
      30s);
}

}  // namespace

TEST_CASE(
    "the console page logs in, shows a dead letter, replays it, and renders hostile text inertly") {
  RedisServer redis;
  Loop loop(redis);
  loop.start_sandbox();
  loop.start_service();
  INFO(loop.logs());

  // A dead letter from a sandbox fault: reads of CUSTOMER are denied (a
  // permission error is permanent).
  loop.faults(R"({"deny_read_objects":["CUSTOMER","ARINVOICE"]})");
  loop.set_fields("CUSTOMER", kCustomer,
                  "{\"NAME\":\"On call " + std::to_string(kCustomer) + "\"}");
  // A hostile payload: a smart event sent by hand whose field holds markup.
  auto posted =
      HttpClient(loop.public_port)
          .request(http::verb::post, std::string("/v1/intacct/acme/events?token=") + kTenantToken,
                   R"({"object":"ARINVOICE","action":"set","recordno":")" +
                       std::to_string(kInvoice) +
                       R"(","whenmodified":"06/01/2024 10:00:00",)"
                       R"("DESCRIPTION":"<img src=x onerror=alert(1)>"})",
                   "application/json");
  REQUIRE_MESSAGE(posted.status == 202, posted.body);
  REQUIRE(eventually([&] { return dead_count(redis) == 2; }, 30s));
  REQUIRE(activity_has_dead(loop, 2));

  const std::string log = loop.dir + "/flow.log";
  isync::testing::Child node(
      ISYNC_NODE_BINARY, {ISYNC_FLOW_SCRIPT},
      {"ISYNC_CONSOLE_URL=http://127.0.0.1:" + std::to_string(loop.admin_port) + "/console",
       "ISYNC_SANDBOX_URL=http://127.0.0.1:" + std::to_string(loop.control_port),
       std::string("ISYNC_ADMIN_TOKEN=") + kAdminToken,
       std::string("ISYNC_ARTIFACTS=") + ISYNC_ARTIFACTS_DIR,
       "ISYNC_CUSTOMER=" + std::to_string(kCustomer), "ISYNC_INVOICE=" + std::to_string(kInvoice)},
      log, log);
  auto code = node.wait_exit(240s);
  INFO("node flow.mjs output:\n" << node.log());
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  // What the page did, seen from Redis: the replayed event is done, the
  // hostile one discarded by the bulk job.
  CHECK(dead_count(redis) == 0);
  CHECK(loop.mirror_has("customers", kCustomer, "\"NAME\":\"On call 4\""));
}
