// Platform Trigger webhooks end to end: the intacct-sandbox binary signs and
// posts a trigger for every change (--push triggers | both), the intacct-sync
// binary verifies it and its workers bring the record into the mirror. Real
// processes, sockets and Redis.
#include "tests/support/e2e_loop.hpp"

using namespace isync::testing::e2e;
using namespace std::chrono_literals;
namespace http = boost::beast::http;

namespace {

// The tenant's trigger settings: the sandbox's client id and secret.
const std::string kTriggerTenant =
    "trigger_client_secrets = [\"env:TEST_TRIGGER_SECRET\"]\n"
    "trigger_client_id = \"sandbox.INTACCT.app.sage.com\"\n";

std::int64_t trigger_stat(const rapidjson::Document& stats, const char* name) {
  return stats["triggers"][name].GetInt64();
}

}  // namespace

TEST_CASE("in triggers mode every change reaches the mirror through a signed trigger") {
  RedisServer redis;
  Loop loop(redis);
  loop.start_sandbox(20, 0, {"--push", "triggers", "--trigger-retry-scale", "0.01"});
  loop.start_service(kUserPassword, 2, kTriggerTenant);
  loop.set_fields("CUSTOMER", 3, R"({"NAME":"Renamed by trigger"})");
  INFO(loop.logs());
  REQUIRE(loop.mirror_has("customers", 3, "\"NAME\":\"Renamed by trigger\""));
  // A thin trigger: its read (deferred to the read schedule, or made at once
  // when the worker came after the second had settled) names the channel.
  const std::string thin = loop.mirror("customers", 3).body;
  CHECK((thin.find(R"("source":"intacct_recheck","channel":"trigger","action":"set")") !=
             std::string::npos ||
         thin.find(R"("source":"intacct_read","channel":"trigger","action":"set")") !=
             std::string::npos));

  // Bare tokens, switched at run time, and a delete.
  auto push = loop.control(http::verb::put, "/v1/push", R"({"trigger_token":"bare"})");
  CHECK(push.body == R"({"mode":"triggers","trigger_token":"bare"})");
  loop.set_fields("CUSTOMER", 4, R"({"NAME":"Bare token"})");
  CHECK(loop.mirror_has("customers", 4, "\"NAME\":\"Bare token\""));
  REQUIRE(loop.control(http::verb::delete_, "/v1/records/CUSTOMER/5").status == 204);
  CHECK(loop.mirror_has("customers", 5, "\"deleted\":true"));
  // Applied from the event itself (no read), so its audit names the channel.
  CHECK(loop.mirror("customers", 5).body.find(R"("source":"intacct","channel":"trigger")") !=
        std::string::npos);

  auto stats = loop.stats();
  CHECK(trigger_stat(stats, "posted") == 3);
  CHECK(trigger_stat(stats, "failed") == 0);
  CHECK(stats["events"]["posted"].GetInt64() == 0);
  CHECK(loop.services.front()->log().find("trigger refused") == std::string::npos);
}

TEST_CASE("in both mode each change is queued once, whichever webhook comes first") {
  RedisServer redis;
  Loop loop(redis);
  // A listener-only service: the entries stay in the stream to be counted.
  loop.service_env = {"INTACCT_SYNC_QUEUE_WORKERS=0"};
  loop.start_sandbox(20, 0, {"--push", "both", "--trigger-retry-scale", "0.01"});
  loop.start_service(kUserPassword, 2, kTriggerTenant);
  for (int i = 1; i <= 6; ++i) {
    loop.set_fields("CUSTOMER", i, "{\"NAME\":\"Both " + std::to_string(i) + "\"}");
  }
  REQUIRE(loop.control(http::verb::delete_, "/v1/records/CUSTOMER/7").status == 204);
  INFO(loop.logs());
  REQUIRE(eventually([&] {
    auto s = loop.stats();
    return trigger_stat(s, "posted") == 7 && s["events"]["posted"].GetInt64() == 7;
  }));
  CHECK(redis.cmd({"XLEN", "isync:{acme}:events"}).integer == 7);
  CHECK(trigger_stat(loop.stats(), "failed") == 0);
}

TEST_CASE("a trigger answered 503 is retried on Intacct's schedule and lands") {
  RedisServer redis;
  Loop loop(redis);
  // 10 s, 30 s, 90 s scaled to 2 s, 6 s, 18 s.
  loop.start_sandbox(20, 40, {"--push", "triggers", "--trigger-retry-scale", "0.2"});
  loop.start_service(kUserPassword, 2, kTriggerTenant);
  redis.stop();
  loop.set_fields("CUSTOMER", 2, R"({"NAME":"After an outage"})");
  INFO(loop.logs());
  REQUIRE(eventually([&] { return trigger_stat(loop.stats(), "retried") >= 1; }, 15s));
  redis.start();
  CHECK(loop.mirror_has("customers", 2, "After an outage", 60s));
  auto stats = loop.stats();
  CHECK(trigger_stat(stats, "posted") == 1);
  CHECK(trigger_stat(stats, "failed") == 0);
  CHECK(loop.sandbox->log().find("trigger post failed; retrying") != std::string::npos);
  CHECK(loop.sandbox->log().find("\"status\":503") != std::string::npos);
}
