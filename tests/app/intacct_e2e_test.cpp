// The whole loop on one machine, as deploy/run.sh runs it: the
// intacct-sandbox binary posts a smart event for every change of its company
// to the intacct-sync binary, whose workers read the record back from the
// sandbox's gateway into the mirror. Real processes, sockets and Redis.
#include "tests/support/e2e_loop.hpp"

using namespace isync::testing::e2e;
using namespace std::chrono_literals;
namespace http = boost::beast::http;

TEST_CASE("a change in the sandbox reaches the mirror through a smart event and a read") {
  RedisServer redis;
  Loop loop(redis);
  loop.start_sandbox();
  loop.start_service();
  loop.set_fields("CUSTOMER", 3, R"({"NAME":"Renamed in Intacct"})");
  INFO(loop.logs());
  CHECK(loop.mirror_has("customers", 3, "\"NAME\":\"Renamed in Intacct\""));
  auto doc = json(loop.mirror("customers", 3).body);
  REQUIRE(doc.IsObject());
  CHECK(doc["fields"]["CUSTOMERID"].IsString());
  // Smart events have no channel, nor has the read of a thin one.
  CHECK(loop.mirror("customers", 3).body.find("\"channel\"") == std::string::npos);
  CHECK(stat_of(loop.stats(), "read") >= 1);
  CHECK(stat_of(loop.stats(), "getAPISession") == 1);
}

TEST_CASE("a burst of 429s and 5xx is retried with backoff and every change lands") {
  RedisServer redis;
  Loop loop(redis);
  loop.start_sandbox();
  loop.start_service();
  loop.faults(R"({"rate_limit":4,"rate_limit_http":true,"server_error":4})");
  for (int i = 1; i <= 10; ++i)
    loop.set_fields("CUSTOMER", i, "{\"NAME\":\"Burst " + std::to_string(i) + "\"}");
  INFO(loop.logs());
  for (int i = 1; i <= 10; ++i)
    CHECK(loop.mirror_has("customers", i, "\"NAME\":\"Burst " + std::to_string(i) + "\""));
  auto stats = loop.stats();
  CHECK(stats["faults_injected"].GetInt64() == 8);
  CHECK(redis.cmd({"ZCARD", "isync:{acme}:dead"}).integer == 0);
}

TEST_CASE("a session expiring mid-run is renewed without losing a change") {
  RedisServer redis;
  Loop loop(redis);
  loop.start_sandbox();
  loop.start_service();
  loop.set_fields("CUSTOMER", 1, R"({"NAME":"Before expiry"})");
  INFO(loop.logs());
  REQUIRE(loop.mirror_has("customers", 1, "Before expiry"));
  REQUIRE(loop.control(http::verb::post, "/v1/sessions/expire").status == 200);
  loop.set_fields("CUSTOMER", 2, R"({"NAME":"After expiry"})");
  CHECK(loop.mirror_has("customers", 2, "After expiry"));
  CHECK(stat_of(loop.stats(), "getAPISession") == 2);
  CHECK(redis.cmd({"ZCARD", "isync:{acme}:retry"}).integer == 0);
  CHECK(redis.cmd({"ZCARD", "isync:{acme}:dead"}).integer == 0);
}

TEST_CASE("rejected credentials open the circuit: one login, nothing lost, later events parked") {
  RedisServer redis;
  Loop loop(redis);
  loop.start_sandbox();
  loop.start_service("not-the-password");
  for (int i = 1; i <= 5; ++i)
    loop.set_fields("CUSTOMER", i, "{\"NAME\":\"Locked " + std::to_string(i) + "\"}");
  INFO(loop.logs());
  // The five reads wait for their second to settle, then one login is tried.
  CHECK(eventually(
      [&] {
        return redis.cmd({"HGET", "isync:{acme}:intacct:circuit", "reason"})
                   .str.find("XL03000006") != std::string::npos;
      },
      30s));
  // Logged as the circuit opens, which may be just after the hash is written.
  CHECK(eventually([&] {
    return loop.services.front()->log().find("intacct circuit open") != std::string::npos;
  }));
  // Nothing is lost: the five records wait on the recheck schedule, retried
  // every minute without calling Intacct while the circuit is open.
  CHECK(eventually([&] { return redis.cmd({"ZCARD", "isync:{acme}:recheck"}).integer == 5; }));
  // Events after the circuit opened are parked.
  loop.set_fields("CUSTOMER", 6, R"({"NAME":"Locked 6"})");
  CHECK(eventually([&] { return redis.cmd({"ZCARD", "isync:{acme}:parked"}).integer == 1; }, 30s));
  // One login was tried, so the user is not locked out by a retry storm.
  CHECK(stat_of(loop.stats(), "getAPISession") == 0);
  CHECK(loop.stats()["requests"].GetInt64() == 1);
  CHECK(redis.cmd({"ZCARD", "isync:{acme}:dead"}).integer == 0);
}

TEST_CASE("a permanent Intacct error dead-letters with its errorno, description and correction") {
  RedisServer redis;
  Loop loop(redis);
  loop.start_sandbox();
  loop.start_service();
  loop.faults(R"({"deny_reads":1})");
  loop.set_fields("CUSTOMER", 4, R"({"NAME":"No permission"})");
  INFO(loop.logs());
  REQUIRE(eventually([&] { return redis.cmd({"ZCARD", "isync:{acme}:dead"}).integer == 1; }, 30s));
  const auto id = redis.cmd({"ZRANGE", "isync:{acme}:dead", "0", "0"}).elements.at(0).str;
  const auto attempts = redis.cmd({"HGET", "isync:{acme}:ev:" + id, "attempts"}).str;
  auto doc = json(attempts);
  REQUIRE(doc.IsArray());
  REQUIRE(doc.Size() == 1);
  CHECK(std::string(doc[0]["class"].GetString()) == "permanent");
  CHECK(std::string(doc[0]["errorno"].GetString()) == "BL01001973");
  CHECK(std::string(doc[0]["description"].GetString()).find("You do not have permission") !=
        std::string::npos);
  CHECK(std::string(doc[0]["correction"].GetString()) ==
        "Ask a company administrator to give the Web Services user List and View permission on "
        "this object.");
  CHECK(redis.cmd({"HGET", "isync:{acme}:ev:" + id, "state"}).str == "dead");
  // Not retried into Intacct: one read was made (and refused).
  CHECK(stat_of(loop.stats(), "read") == 1);
  CHECK(loop.stats()["faults_injected"].GetInt64() == 1);
}

TEST_CASE("two service processes share one Intacct session") {
  RedisServer redis;
  Loop loop(redis);
  loop.start_sandbox();
  loop.start_service(kUserPassword, 1);
  loop.start_service(kUserPassword, 1);
  loop.faults(R"({"latency_ms":50})");
  for (int i = 1; i <= 12; ++i)
    loop.set_fields("CUSTOMER", i, "{\"NAME\":\"Shared " + std::to_string(i) + "\"}");
  INFO(loop.logs());
  for (int i = 1; i <= 12; ++i)
    CHECK(loop.mirror_has("customers", i, "\"NAME\":\"Shared " + std::to_string(i) + "\""));
  CHECK(stat_of(loop.stats(), "getAPISession") == 1);
}
