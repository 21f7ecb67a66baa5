// On-call end to end: the intacct-sandbox and intacct-sync binaries with a
// real Redis. A dead letter caused by a sandbox fault is found by filter,
// read with Intacct's errorno, description and correction, and replayed over
// the admin API once the fault is fixed; the CLI verbs against the same
// Redis; a bulk replay by filter; every 4xx of the on-call routes.
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/support/e2e_loop.hpp"

using namespace isync::testing::e2e;
using namespace std::chrono_literals;
namespace http = boost::beast::http;

namespace {

constexpr const char* kJson = "application/json";

// Jobs run fast here: every serve process reads the override.
struct FastReplays {
  FastReplays() { ::setenv("INTACCT_SYNC_ADMIN_REPLAY_RATE", "1000", 1); }
  ~FastReplays() { ::unsetenv("INTACCT_SYNC_ADMIN_REPLAY_RATE"); }
};

Response admin(Loop& loop, http::verb method, const std::string& target,
               const std::string& body = {}, const std::string& type = kJson,
               const std::string& token = kAdminToken) {
  return HttpClient(loop.admin_port).request(method, target, body, type, token);
}
Response get(Loop& loop, const std::string& target) { return admin(loop, http::verb::get, target); }
Response post(Loop& loop, const std::string& target, const std::string& body) {
  return admin(loop, http::verb::post, target, body);
}

std::string err(const std::string& code, const std::string& message) {
  return R"({"error":{"code":")" + code + R"(","message":")" + message + R"("}})";
}

// The ids of the events a list answer holds, newest first.
std::vector<std::string> ids_of(const std::string& body) {
  std::vector<std::string> out;
  auto doc = json(body);
  if (!doc.IsObject() || !doc.HasMember("events")) return out;
  for (const auto& e : doc["events"].GetArray()) out.emplace_back(e["id"].GetString());
  return out;
}

// Waits for `n` dead letters of tenant acme.
bool dead_letters(RedisServer& redis, long long n) {
  return eventually([&] { return redis.cmd({"ZCARD", "isync:{acme}:dead"}).integer == n; }, 30s);
}

std::string dead_id_for(Loop& loop, int recordno) {
  auto ids = ids_of(
      get(loop, "/v1/admin/events?tenant=acme&object=CUSTOMER&key=" + std::to_string(recordno))
          .body);
  REQUIRE(ids.size() == 1);
  return ids.front();
}

// The CLI as the on-call engineer runs it, with the service's config file.
struct Cli {
  int code = -1;
  std::string out, err;
};
Cli cli(Loop& loop, std::vector<std::string> args) {
  static int n = 0;
  const std::string base = loop.dir + "/cli" + std::to_string(++n);
  args.push_back("--config");
  args.push_back(loop.dir + "/service0.toml");
  Cli r;
  {
    isync::testing::Child child(
        ISYNC_BINARY, args,
        {std::string("TEST_ADMIN_TOKEN=") + kAdminToken,
         std::string("TEST_ACME_TOKEN=") + kTenantToken,
         std::string("TEST_SENDER_PASSWORD=") + kSenderPassword,
         std::string("TEST_USER_PASSWORD=") + kUserPassword, "USER=oncall-alice"},
        base + ".err", base + ".out");
    auto code = child.wait_exit(60s);
    r.code = code ? *code : -1;
  }
  std::stringstream out, errs;
  out << std::ifstream(base + ".out").rdbuf();
  errs << std::ifstream(base + ".err").rdbuf();
  r.out = out.str();
  r.err = errs.str();
  return r;
}

// The sandbox denies reads of CUSTOMER; the changes of `records` become dead
// letters (a permission error is permanent).
void dead_customers(Loop& loop, RedisServer& redis, const std::vector<int>& records) {
  loop.faults(R"({"deny_read_objects":["CUSTOMER"]})");
  for (int r : records) {
    loop.set_fields("CUSTOMER", r, "{\"NAME\":\"On call " + std::to_string(r) + "\"}");
  }
  INFO(loop.logs());
  REQUIRE(dead_letters(redis, static_cast<long long>(records.size())));
}

}  // namespace

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

TEST_CASE("the CLI: events list, show, replay, discard, jobs, cancel and records show") {
  FastReplays fast;
  RedisServer redis;
  Loop loop(redis);
  loop.start_sandbox();
  loop.start_service();
  dead_customers(loop, redis, {6, 7, 8});
  INFO(loop.logs());

  auto c = cli(loop, {"events", "list", "--tenant", "acme", "--state", "dead", "--json"});
  CHECK(c.code == 0);
  CHECK(ids_of(c.out).size() == 3);
  c = cli(loop, {"events", "list", "--object", "CUSTOMER", "--key", "6"});
  CHECK(c.code == 0);
  CHECK(c.out.find("BL01001973") != std::string::npos);
  const std::string six = dead_id_for(loop, 6);

  c = cli(loop, {"events", "show", six, "--json"});
  CHECK(c.code == 0);
  CHECK(c.out.find("\"errorno\":\"BL01001973\"") != std::string::npos);
  c = cli(loop, {"events", "show", six});
  CHECK(c.code == 0);
  CHECK(c.out.find("errorno:     BL01001973") != std::string::npos);
  CHECK(c.out.find("correction:  Ask a company administrator") != std::string::npos);
  CHECK(c.out.find("raw payload") != std::string::npos);
  c = cli(loop, {"events", "show", "01NOSUCHEVENT0000000000000"});
  CHECK(c.code == 2);
  CHECK(c.err.find("only failed events are kept") != std::string::npos);

  // Discard with a reason; a second discard is refused (3).
  c = cli(loop, {"events", "discard", six, "--reason", "customer deleted", "--json"});
  CHECK(c.code == 0);
  CHECK(c.out == "{\"matched\":1,\"discarded\":1,\"skipped\":[]}\n");
  c = cli(loop, {"events", "discard", six, "--reason", "again"});
  CHECK(c.code == 3);
  CHECK(c.err.find("discarded") != std::string::npos);
  c = cli(loop, {"events", "discard", six});
  CHECK(c.code == 1);
  c = cli(loop, {"events", "list", "--state", "bogus"});
  CHECK(c.code == 1);
  CHECK(c.err ==
        "intacct-sync: \"state\" must be one of pending, retrying, parked, dead, done, "
        "discarded\n");

  // A dry run, then the replay by filter, followed to the end.
  loop.faults(R"({"deny_read_objects":[]})");
  c = cli(loop, {"events", "replay", "--filter", "--tenant", "acme", "--state", "dead", "--dry-run",
                 "--json"});
  CHECK(c.code == 0);
  CHECK(c.out.rfind("{\"matched\":2,\"samples\":[", 0) == 0);
  c = cli(loop, {"events", "replay", "--filter", "--tenant", "acme", "--state", "dead", "--reason",
                 "permission granted", "--json"});
  CHECK(c.code == 0);
  auto job = json(c.out);
  REQUIRE(job.IsObject());
  CHECK(std::string(job["state"].GetString()) == "done");
  CHECK(job["replayed"].GetInt64() == 2);
  CHECK(std::string(job["actor"].GetString()) == "oncall-alice");
  const std::string job_id = job["job_id"].GetString();
  CHECK(loop.mirror_has("customers", 7, "\"NAME\":\"On call 7\""));
  CHECK(loop.mirror_has("customers", 8, "\"NAME\":\"On call 8\""));

  c = cli(loop, {"events", "jobs", "--tenant", "acme", "--json"});
  CHECK(c.code == 0);
  CHECK(c.out.find("\"job_id\":\"" + job_id + "\"") != std::string::npos);
  c = cli(loop, {"events", "cancel", job_id, "--json"});
  CHECK(c.code == 0);
  CHECK(c.out.find("\"state\":\"done\"") != std::string::npos);
  c = cli(loop, {"events", "cancel", "01NOSUCHJOB"});
  CHECK(c.code == 2);

  // The discarded event replayed by id, with the actor named.
  c = cli(loop, {"events", "replay", six, "--actor", "bob", "--reason", "after all", "--json"});
  CHECK(c.code == 0);
  CHECK(c.out == "{\"matched\":1,\"replayed\":1,\"skipped\":[]}\n");
  CHECK(loop.mirror_has("customers", 6, "\"NAME\":\"On call 6\""));

  c = cli(loop, {"records", "show", "CUSTOMER", "7", "--tenant", "acme", "--json"});
  CHECK(c.code == 0);
  CHECK(c.out.find("\"audit\":[") != std::string::npos);
  c = cli(loop, {"records", "show", "customers", "7", "--tenant", "acme"});
  CHECK(c.code == 0);
  CHECK(c.out.find("audit (newest first):") != std::string::npos);
  c = cli(loop, {"records", "show", "CUSTOMER", "99999", "--tenant", "acme"});
  CHECK(c.code == 2);
  c = cli(loop, {"events", "replay", "--help"});
  CHECK(c.code == 0);
  CHECK(c.out.find("--settled-by-hand") == std::string::npos);
  CHECK(c.out.find("--set") != std::string::npos);
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
