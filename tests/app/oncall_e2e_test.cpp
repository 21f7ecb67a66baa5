// On-call end to end over HTTP: the intacct-sandbox and intacct-sync binaries
// with a real Redis. A dead letter caused by a sandbox fault is found by
// filter, read with Intacct's errorno, description and correction, and
// replayed over the admin API once the fault is fixed; a bulk replay by
// filter; every 4xx of the on-call routes. The CLI's verbs are in
// oncall_cli_e2e_test.cpp.
#include "tests/app/oncall_e2e_fixture.hpp"

using namespace isync::testing::e2e;
using namespace std::chrono_literals;
namespace http = boost::beast::http;

TEST_CASE("a dead letter from a sandbox fault is found, explained, and replayed over HTTP") {
  FastReplays fast;
  RedisServer redis;
  Loop loop(redis);
  loop.start_sandbox();
  loop.start_service();
  dead_customers(loop, redis, {4, 5});
  INFO(loop.logs());

  // Found by filter: state, object, error (Intacct's errorno), time range.
  auto r = get(loop,
               "/v1/admin/events?tenant=acme&state=dead&object=CUSTOMER&error=BL01001973"
               "&since=2020-01-01T00:00:00Z&until=9999999999999");
  REQUIRE(r.status == 200);
  CHECK(ids_of(r.body).size() == 2);
  CHECK(ids_of(get(loop, "/v1/admin/events?state=done").body).empty());
  CHECK(ids_of(get(loop, "/v1/admin/events?error=no_such_code").body).empty());
  const std::string id = dead_id_for(loop, 4);

  // Why: Intacct's own words.
  r = get(loop, "/v1/admin/events/" + id);
  REQUIRE(r.status == 200);
  CHECK(r.body.find("\"errorno\":\"BL01001973\"") != std::string::npos);
  CHECK(r.body.find("You do not have permission") != std::string::npos);
  CHECK(r.body.find("\"correction\":\"Ask a company administrator to give the Web Services user "
                    "List and View permission on this object.\"") != std::string::npos);
  CHECK(r.body.find("\"state\":\"dead\"") != std::string::npos);

  // The permission is granted; the replay succeeds and the mirror has it.
  loop.faults(R"({"deny_read_objects":[]})");
  r = post(loop, "/v1/admin/events/replay",
           R"({"ids":[")" + id + R"("],"reason":"permission granted"})");
  CHECK(r.status == 200);
  CHECK(r.body == R"({"matched":1,"replayed":1,"skipped":[]})");
  CHECK(loop.mirror_has("customers", 4, "\"NAME\":\"On call 4\""));
  REQUIRE(eventually([&] {
    return get(loop, "/v1/admin/events/" + id).body.find("\"state\":\"done\"") != std::string::npos;
  }));
  r = get(loop, "/v1/admin/events/" + id);
  CHECK(r.body.find("\"kind\":\"replayed\"") != std::string::npos);
  CHECK(r.body.find("\"actor\":\"admin-api\"") != std::string::npos);
  CHECK(r.body.find("\"reason\":\"permission granted\"") != std::string::npos);

  // A done event cannot be replayed or discarded: 409 naming the state.
  r = post(loop, "/v1/admin/events/replay", R"({"ids":[")" + id + R"("]})");
  CHECK(r.status == 409);
  CHECK(r.body.rfind(R"({"error":{"code":"invalid_state","message":")", 0) == 0);
  CHECK(r.body.find("done") != std::string::npos);

  // The other one by filter: 202 with a job that the serve process runs.
  r = post(loop, "/v1/admin/events/replay",
           R"({"filter":{"tenant":"acme","state":"dead","object":"CUSTOMER"},"reason":"bulk"})");
  REQUIRE(r.status == 202);
  auto created = json(r.body);
  REQUIRE(created.IsObject());
  CHECK(created["matched"].GetInt64() == 1);
  const std::string job = created["job_id"].GetString();
  CHECK(eventually(
      [&] {
        return get(loop, "/v1/admin/jobs/" + job).body.find("\"state\":\"done\"") !=
               std::string::npos;
      },
      30s));
  r = get(loop, "/v1/admin/jobs/" + job);
  CHECK(r.body.find("\"replayed\":1") != std::string::npos);
  CHECK(loop.mirror_has("customers", 5, "\"NAME\":\"On call 5\""));
  r = get(loop, "/v1/admin/jobs?tenant=acme");
  CHECK(r.status == 200);
  CHECK(r.body.find("\"job_id\":\"" + job + "\"") != std::string::npos);
  r = admin(loop, http::verb::delete_, "/v1/admin/jobs/" + job);
  CHECK(r.status == 200);
  CHECK(r.body.find("\"state\":\"done\"") != std::string::npos);
}

TEST_CASE("a bulk replay by filter over HTTP completes every event it matched") {
  FastReplays fast;
  RedisServer redis;
  Loop loop(redis);
  loop.start_sandbox(40, 10);
  loop.start_service();
  std::vector<int> records;
  for (int i = 1; i <= 30; ++i) records.push_back(i);
  dead_customers(loop, redis, records);
  INFO(loop.logs());
  loop.faults(R"({"deny_read_objects":[]})");
  auto r = post(loop, "/v1/admin/events/replay", R"({"filter":{"tenant":"acme"},"dry_run":true})");
  CHECK(r.status == 200);
  CHECK(r.body.rfind(R"({"matched":30,"samples":[)", 0) == 0);
  r = post(loop, "/v1/admin/events/replay", R"({"filter":{"tenant":"acme","state":"dead"}})");
  REQUIRE(r.status == 202);
  const std::string job = json(r.body)["job_id"].GetString();
  CHECK(eventually(
      [&] {
        auto j = json(get(loop, "/v1/admin/jobs/" + job).body);
        return j.IsObject() && std::string(j["state"].GetString()) == "done";
      },
      60s));
  auto j = json(get(loop, "/v1/admin/jobs/" + job).body);
  CHECK(j["matched"].GetInt64() == 30);
  CHECK(j["replayed"].GetInt64() == 30);
  CHECK(j["skipped"].GetInt64() == 0);
  for (int i : records) {
    CHECK(loop.mirror_has("customers", i, "\"NAME\":\"On call " + std::to_string(i) + "\""));
  }
  CHECK(dead_letters(redis, 0));
}

TEST_CASE("every 4xx of the on-call routes, with its exact code") {
  RedisServer redis;
  Loop loop(redis);
  loop.start_sandbox();
  loop.start_service();
  dead_customers(loop, redis, {9});
  INFO(loop.logs());
  const std::string id = dead_id_for(loop, 9);

  auto r = admin(loop, http::verb::get, "/v1/admin/events", {}, {}, "");
  CHECK(r.status == 401);
  CHECK(r.body.rfind(R"({"error":{"code":"unauthorized",)", 0) == 0);
  r = admin(loop, http::verb::get, "/v1/admin/events", {}, {}, kTenantToken);
  CHECK(r.status == 401);

  struct Case {
    std::string target, message;
  };
  for (const auto& c : std::vector<Case>{
           {"state=lost",
            R"(\"state\" must be one of pending, retrying, parked, dead, done, discarded)"},
           {"tenant=nobody", R"(\"tenant\": no tenant \"nobody\" is configured)"},
           {"key=9", R"(\"key\" needs \"object\" (a record key is unique within its object only))"},
           {"since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z",
            R"(\"since\" is after \"until\")"},
           {"since=yesterday",
            R"(\"since\" must be an RFC 3339 time (2026-12-01T10:00:00Z) or epoch milliseconds)"},
           {"limit=0", R"(\"limit\" must be a whole number from 1 to 1000)"},
           {"limit=1001", R"(\"limit\" must be a whole number from 1 to 1000)"},
           {"colour=red",
            R"(unknown query parameter \"colour\"; the list takes tenant, state, object, key, )"
            R"(error, since, until, limit and cursor)"}}) {
    CAPTURE(c.target);
    r = get(loop, "/v1/admin/events?" + c.target);
    CHECK(r.status == 400);
    CHECK(r.body == err("invalid_field", c.message));
  }
  r = get(loop, "/v1/admin/events?cursor=notacursor");
  CHECK(r.status == 400);
  CHECK(r.body.rfind(R"({"error":{"code":"invalid_field","message":)", 0) == 0);
  CHECK(r.body.find("cursor") != std::string::npos);

  std::string many = R"({"ids":[)";
  for (int i = 0; i < 1001; ++i)
    many += std::string(i ? "," : "") + "\"id" + std::to_string(i) + "\"";
  many += "]}";
  for (const auto& c : std::vector<Case>{
           {R"({"ids":["01A"],"filter":{"tenant":"acme"}})",
            R"(give either \"ids\" or \"filter\", not both)"},
           {R"({"reason":"x"})",
            R"(give \"ids\" (1 to 1000 event ids) or a \"filter\" (with its tenant))"},
           {many, R"(\"ids\" holds more than 1000 ids; use a \"filter\" to act on more)"},
           {R"({"ids":[1]})", R"(\"ids\" holds a value that is not a string)"},
           {R"({"filter":{"state":"dead"}})",
            R"(\"filter.tenant\" is required (a job belongs to one tenant))"},
           {R"({"ids":["01A"],"force":true})",
            R"(unknown member \"force\"; the body takes ids, filter, reason, dry_run, set and )"
            R"(settled_by_hand)"},
           {R"({"ids":["01A"],"set":{"AMOUNT":"1"}})",
            R"(\"set\" holds \"AMOUNT\"; only INVOICE and CUSTOMER can be set)"},
           {R"({"ids":["01A","01B"],"set":{"INVOICE":"INV-1"}})",
            R"(\"set\" takes exactly one id; \"ids\" holds 2)"},
           {R"({"filter":{"tenant":"acme"},"set":{"INVOICE":"INV-1"}})",
            R"(\"set\" takes exactly one id, not a filter)"}}) {
    CAPTURE(c.target);
    r = post(loop, "/v1/admin/events/replay", c.target);
    CHECK(r.status == 400);
    CHECK(r.body == err("invalid_field", c.message));
  }
  r = post(loop, "/v1/admin/events/discard", R"({"ids":[")" + id + R"("]})");
  CHECK(r.status == 400);
  CHECK(r.body == err("invalid_field",
                      R"(\"reason\" is required to discard (it is recorded with the event))"));
  r = post(loop, "/v1/admin/events/replay", R"({"ids":["01A"])");
  CHECK(r.status == 400);
  CHECK(r.body.rfind(R"({"error":{"code":"malformed_body",)", 0) == 0);

  r = get(loop, "/v1/admin/events/01NOSUCHEVENT0000000000000");
  CHECK(r.status == 404);
  CHECK(r.body.rfind(R"({"error":{"code":"not_found",)", 0) == 0);
  CHECK(r.body.find("only failed events are kept") != std::string::npos);
  r = post(loop, "/v1/admin/events/replay", R"({"ids":["01NOSUCHEVENT0000000000000"]})");
  CHECK(r.status == 404);
  CHECK(r.body.rfind(R"({"error":{"code":"not_found",)", 0) == 0);
  r = get(loop, "/v1/admin/jobs/01NOSUCHJOB");
  CHECK(r.status == 404);
  r = admin(loop, http::verb::delete_, "/v1/admin/jobs/01NOSUCHJOB");
  CHECK(r.status == 404);
  r = admin(loop, http::verb::put, "/v1/admin/jobs/01NOSUCHJOB", "{}");
  CHECK(r.status == 405);
  CHECK(r.body == err("method_not_allowed", "method PUT is not allowed here; use GET, DELETE"));

  // 409 invalid_state: a discarded event cannot be discarded again.
  r = post(loop, "/v1/admin/events/discard", R"({"ids":[")" + id + R"("],"reason":"not ours"})");
  CHECK(r.status == 200);
  CHECK(r.body == R"({"matched":1,"discarded":1,"skipped":[]})");
  r = post(loop, "/v1/admin/events/discard", R"({"ids":[")" + id + R"("],"reason":"again"})");
  CHECK(r.status == 409);
  CHECK(r.body.rfind(R"({"error":{"code":"invalid_state","message":")", 0) == 0);
  CHECK(r.body.find("discarded") != std::string::npos);
  // By several ids a refusal is a skip, not an error.
  r = post(loop, "/v1/admin/events/discard",
           R"({"ids":[")" + id + R"(","01NOSUCHEVENT0000000000000"],"reason":"again"})");
  CHECK(r.status == 200);
  CHECK(r.body.find("\"discarded\":0") != std::string::npos);

  // 413 and 415.
  r = admin(loop, http::verb::post, "/v1/admin/events/replay", R"({"ids":["01A"]})", "text/plain");
  CHECK(r.status == 415);
  CHECK(r.body.rfind(R"({"error":{"code":"unsupported_media_type",)", 0) == 0);
  r = post(loop, "/v1/admin/events/replay", std::string(300 * 1024, ' '));
  CHECK(r.status == 413);
  CHECK(r.body.rfind(R"({"error":{"code":"payload_too_large",)", 0) == 0);
}
