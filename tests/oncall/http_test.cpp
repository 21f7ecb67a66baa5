// oncall/http: the pure checks of queries and bodies (every 400 with its
// exact code and message), the times, and serve_http over a real Engine and
// redis-server (routes, statuses, the actor "admin-api").
#include "oncall/http.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/json.hpp"
#include "tests/oncall/fixture.hpp"

using namespace isync;
using namespace isync::oncall;
using isync::testing::OnCallRig;
using isync::testing::wait_for;

namespace {

const std::vector<std::string> kTenants{"acme", "beta"};

std::string list_error(const std::string& query) {
  auto r = parse_list_query(query, kTenants);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "invalid_field");
  return r.error().message;
}

Error body_error(const std::string& body, Action action = Action::replay) {
  auto r = parse_action_body(body, action, kTenants);
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

std::string invalid(const std::string& body, Action action = Action::replay) {
  auto e = body_error(body, action);
  CHECK(e.code == "invalid_field");
  return e.message;
}

HttpAnswer call(Engine& engine, const std::string& method, const std::string& path,
                const std::string& query = {}, const std::string& body = {}) {
  return wait_for<HttpAnswer>([&](auto cb) {
    serve_http(engine, HttpCall{method, path, query, body}, cb);
  });
}

std::string err(const std::string& code, const std::string& message) {
  return R"({"error":{"code":")" + code + R"(","message":")" + message + R"("}})";
}

}  // namespace

TEST_CASE("times are RFC 3339 with a zone or epoch milliseconds") {
  CHECK(parse_time("2026-12-01T10:00:00Z", "since").value() == 1796119200000);
  CHECK(parse_time("2026-12-01T11:00:00.250+01:00", "since").value() == 1796119200250);
  CHECK(parse_time("2026-12-01t10:00:00.1z", "since").value() == 1796119200100);
  CHECK(parse_time("1796119200000", "until").value() == 1796119200000);
  CHECK(parse_time("2024-02-29T00:00:00-05:30", "since").value() == 1709184600000);
  const std::string bad =
      "\"since\" must be an RFC 3339 time (2026-12-01T10:00:00Z) or epoch milliseconds";
  for (const char* t : {"", "2026-12-01", "2026-12-01T10:00:00", "2026-12-01 10:00:00Z",
                        "2026-13-01T10:00:00Z", "2026-02-30T10:00:00Z", "2026-12-01T24:00:00Z",
                        "2026-12-01T10:00:00+1:00", "2026-12-01T10:00:00.Z", "-5", "1e12",
                        "1969-12-31T23:59:59Z", "9999999999999999", "yesterday"}) {
    CAPTURE(t);
    auto r = parse_time(t, "since");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == "invalid_field");
    CHECK(r.error().message == bad);
  }
  CHECK(format_time(1796119200000) == "2026-12-01T10:00:00Z");
  CHECK(format_time(1796119200250) == "2026-12-01T10:00:00.250Z");
  CHECK(format_time(0) == "1970-01-01T00:00:00Z");
  CHECK(parse_time(format_time(1709186400123), "x").value() == 1709186400123);
}

TEST_CASE("the list query: every filter, decoded, with defaults") {
  auto q = parse_list_query(
      "tenant=acme&state=dead&object=CUSTOMER&key=C%2D1+2&error=BL34000061"
      "&since=2026-12-01T10%3A00%3A00Z&until=1796119300000&limit=7&cursor=abc",
      kTenants);
  REQUIRE(q.has_value());
  CHECK(q->tenant == "acme");
  CHECK(q->filter.state == "dead");
  CHECK(q->filter.object == "CUSTOMER");
  CHECK(q->filter.key == "C-1 2");
  CHECK(q->filter.error == "BL34000061");
  CHECK(q->filter.since_ms == 1796119200000);
  CHECK(q->filter.until_ms == 1796119300000);
  CHECK(q->limit == 7);
  CHECK(q->cursor == "abc");
  auto none = parse_list_query("", kTenants);
  REQUIRE(none.has_value());
  CHECK(none->tenant.empty());
  CHECK(none->limit == 50);
  // An empty value is the same as leaving the parameter out.
  auto empty = parse_list_query("state=&tenant=&limit=", kTenants);
  REQUIRE(empty.has_value());
  CHECK(empty->filter.state.empty());
  CHECK(empty->limit == 50);
}

TEST_CASE("each bad list parameter is 400 invalid_field naming it") {
  CHECK(list_error("state=lost") ==
        "\"state\" must be one of pending, retrying, parked, dead, done, discarded");
  CHECK(list_error("tenant=nobody") == "\"tenant\": no tenant \"nobody\" is configured");
  CHECK(list_error("object=ORDER") == "\"object\" must be CUSTOMER, ARINVOICE or ARPYMT");
  CHECK(list_error("key=7") ==
        "\"key\" needs \"object\" (a record key is unique within its object only)");
  CHECK(list_error("object=CUSTOMER&key=a%01b") ==
        "\"key\" must be a record key of at most 256 bytes, without control characters");
  CHECK(list_error("error=no%20way") ==
        "\"error\" must be an error code or an Intacct errorno (at most 64 of A-Z a-z 0-9 _ . -)");
  CHECK(list_error("since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z") ==
        "\"since\" is after \"until\"");
  CHECK(list_error("since=tomorrow") ==
        "\"since\" must be an RFC 3339 time (2026-12-01T10:00:00Z) or epoch milliseconds");
  CHECK(list_error("until=2026-12-01") ==
        "\"until\" must be an RFC 3339 time (2026-12-01T10:00:00Z) or epoch milliseconds");
  for (const char* limit : {"limit=0", "limit=1001", "limit=-1", "limit=ten", "limit=+5"}) {
    CAPTURE(limit);
    CHECK(list_error(limit) == "\"limit\" must be a whole number from 1 to 1000");
  }
  CHECK(list_error("cursor=a%0Ab") ==
        "\"cursor\" is not a cursor of this list; start again "
        "without it");
  CHECK(list_error("colour=red") ==
        "unknown query parameter \"colour\"; the list takes tenant, state, object, key, error, "
        "since, until, limit and cursor");
  CHECK(list_error("state=dead&state=parked") == "query parameter \"state\" is given twice");
  CHECK(list_error("key=%zz") == "query parameter \"key\" is not correctly percent-encoded");
  CHECK(list_error("key=%4") == "query parameter \"key\" is not correctly percent-encoded");
}

TEST_CASE("the tenant query of show and jobs") {
  CHECK(parse_tenant_query("", kTenants).value().empty());
  CHECK(parse_tenant_query("tenant=beta", kTenants).value() == "beta");
  auto r = parse_tenant_query("tenant=zeta", kTenants);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "\"tenant\": no tenant \"zeta\" is configured");
  r = parse_tenant_query("state=dead", kTenants);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "unknown query parameter \"state\"; this route takes tenant only");
}

TEST_CASE("action bodies by ids and by filter are read whole") {
  auto r = parse_action_body(
      R"({"ids":["01A","01B","01A"],"reason":"fixed the customer","dry_run":true})", Action::replay,
      kTenants);
  REQUIRE(r.has_value());
  CHECK(r->ids == std::vector<std::string>{"01A", "01B"});
  CHECK(r->reason == "fixed the customer");
  CHECK(r->dry_run);
  CHECK(r->actor.empty());
  r = parse_action_body(
      R"({"filter":{"tenant":"acme","state":"dead","object":"ARPYMT","key":"pi_1","error":"invoice_not_found","since":"2026-12-01T10:00:00Z","until":1796119300000},"reason":"dup","settled_by_hand":true})",
      Action::discard, kTenants);
  REQUIRE(r.has_value());
  CHECK(r->ids.empty());
  CHECK(r->tenant == "acme");
  CHECK(r->filter.state == "dead");
  CHECK(r->filter.object == "ARPYMT");
  CHECK(r->filter.key == "pi_1");
  CHECK(r->filter.error == "invoice_not_found");
  CHECK(r->filter.since_ms == 1796119200000);
  CHECK(r->filter.until_ms == 1796119300000);
  CHECK(r->settled_by_hand);
  auto again = parse_action_body(action_body_json(*r), Action::discard, kTenants);
  REQUIRE(again.has_value());
  CHECK(action_body_json(*again) == action_body_json(*r));
  r = parse_action_body(R"({"ids":["01A"],"set":{"INVOICE":"INV-2","CUSTOMER":"C-9"}})",
                        Action::replay, kTenants);
  REQUIRE(r.has_value());
  CHECK(r->set == std::vector<std::pair<std::string, std::string>>{{"INVOICE", "INV-2"},
                                                                   {"CUSTOMER", "C-9"}});
}

TEST_CASE("each bad action body is 400 with its exact code and message") {
  auto e = body_error(R"({"ids":["01A"])");
  CHECK(e.code == "malformed_body");
  CHECK(e.message.rfind("the JSON body ", 0) == 0);
  CHECK(body_error(R"({"ids":["01A"],"ids":["01B"]})").code == "malformed_body");
  CHECK(invalid("[]") == "the body must be a JSON object");
  CHECK(invalid(R"({"ids":["01A"],"force":true})") ==
        "unknown member \"force\"; the body takes ids, filter, reason, dry_run, set and "
        "settled_by_hand");
  CHECK(invalid(R"({"reason":"x"})") ==
        "give \"ids\" (1 to 1000 event ids) or a \"filter\" (with its tenant)");
  CHECK(invalid(R"({"ids":["01A"],"filter":{"tenant":"acme"}})") ==
        "give either \"ids\" or \"filter\", not both");
  CHECK(invalid(R"({"ids":"01A"})") == "\"ids\" must be an array of event ids");
  CHECK(invalid(R"({"ids":[]})") == "\"ids\" is empty; give 1 to 1000 event ids, or a \"filter\"");
  CHECK(invalid(R"({"ids":[7]})") == "\"ids\" holds a value that is not a string");
  CHECK(invalid(R"({"ids":["a b"]})") == "\"ids\" holds \"a b\", which is not an event id");
  std::string many = R"({"ids":[)";
  for (int i = 0; i < 1001; ++i)
    many += std::string(i ? "," : "") + "\"id" + std::to_string(i) + "\"";
  CHECK(invalid(many + "]}") ==
        "\"ids\" holds more than 1000 ids; use a \"filter\" to act on more");
  CHECK(invalid(R"({"filter":[]})") == "\"filter\" must be an object");
  CHECK(invalid(R"({"filter":{"state":"dead"}})") ==
        "\"filter.tenant\" is required (a job belongs to one tenant)");
  CHECK(invalid(R"({"filter":{"tenant":"zeta"}})") ==
        "\"filter.tenant\": no tenant \"zeta\" is configured");
  CHECK(invalid(R"({"filter":{"tenant":"acme","limit":5}})") ==
        "unknown member \"filter.limit\"; a filter takes tenant, state, object, key, error, since "
        "and until");
  CHECK(invalid(R"({"filter":{"tenant":"acme","state":"gone"}})") ==
        "\"filter.state\" must be one of pending, retrying, parked, dead, done, discarded");
  CHECK(invalid(R"({"filter":{"tenant":"acme","state":1}})") ==
        "\"filter.state\" must be a string");
  CHECK(invalid(R"({"filter":{"tenant":"acme","key":"7"}})") ==
        "\"filter.key\" needs \"filter.object\" (a record key is unique within its object only)");
  CHECK(
      invalid(
          R"({"filter":{"tenant":"acme","since":"2026-12-02T00:00:00Z","until":"2026-12-01T00:00:00Z"}})") ==
      "\"filter.since\" is after \"filter.until\"");
  CHECK(invalid(R"({"filter":{"tenant":"acme","since":"soon"}})") ==
        "\"filter.since\" must be an RFC 3339 time (2026-12-01T10:00:00Z) or epoch milliseconds");
  CHECK(invalid(R"({"filter":{"tenant":"acme","until":-1}})") ==
        "\"filter.until\" must be an RFC 3339 time (2026-12-01T10:00:00Z) or epoch milliseconds");
  CHECK(invalid(R"({"ids":["01A"],"reason":5})") == "\"reason\" must be a string");
  CHECK(invalid(R"({"ids":["01A"],"reason":")" + std::string(1001, 'r') + "\"}") ==
        "\"reason\" is longer than 1000 bytes");
  CHECK(invalid(R"({"ids":["01A"],"dry_run":"yes"})") == "\"dry_run\" must be true or false");
  CHECK(invalid(R"({"ids":["01A"],"reason":"x","settled_by_hand":1})", Action::discard) ==
        "\"settled_by_hand\" must be true or false");
  CHECK(invalid(R"({"ids":["01A"]})", Action::discard) ==
        "\"reason\" is required to discard (it is recorded with the event)");
  CHECK(invalid(R"({"ids":["01A"],"settled_by_hand":true})") ==
        "\"settled_by_hand\" applies to discard only");
  CHECK(
      invalid(R"({"ids":["01A"],"set":"INV-1"})") ==
      "\"set\" must be an object naming INVOICE and/or CUSTOMER, e.g. {\"INVOICE\":\"INV-1002\"}");
  CHECK(invalid(R"({"ids":["01A"],"set":{}})") == "\"set\" is empty; name INVOICE and/or CUSTOMER");
  CHECK(invalid(R"({"ids":["01A"],"set":{"AMOUNT":"5"}})") ==
        "\"set\" holds \"AMOUNT\"; only INVOICE and CUSTOMER can be set");
  CHECK(invalid(R"({"ids":["01A"],"set":{"INVOICE":""}})") ==
        "\"set.INVOICE\" must be a string of 1 to 128 bytes");
  CHECK(invalid(R"({"ids":["01A"],"set":{"INVOICE":7}})") ==
        "\"set.INVOICE\" must be a string of 1 to 128 bytes");
  CHECK(invalid(R"({"ids":["01A","01B"],"set":{"INVOICE":"INV-2"}})") ==
        "\"set\" takes exactly one id; \"ids\" holds 2");
  CHECK(invalid(R"({"filter":{"tenant":"acme"},"set":{"INVOICE":"INV-2"}})") ==
        "\"set\" takes exactly one id, not a filter");
  CHECK(invalid(R"({"ids":["01A"],"reason":"x","set":{"INVOICE":"INV-2"}})", Action::discard) ==
        "\"set\" applies to replay only");
}

TEST_CASE("serve_http: routes, statuses and the engine's refusals as the API answers them") {
  OnCallRig rig;
  auto& engine = *rig.engine;
  const std::string id = rig.dead_customer("acme", "7");

  auto r = call(engine, "GET", "/v1/admin/events", "tenant=acme&state=dead");
  CHECK(r.status == 200);
  CHECK(r.body.find("\"id\":\"" + id + "\"") != std::string::npos);
  CHECK(r.body.find("\"next_cursor\":") != std::string::npos);

  r = call(engine, "GET", "/v1/admin/events/" + id);
  CHECK(r.status == 200);
  CHECK(r.body.find("\"errorno\":\"BL34000061\"") != std::string::npos);
  CHECK(r.body.find("\"correction\":\"Fix the customer\"") != std::string::npos);

  r = call(engine, "GET", "/v1/admin/events/01NOSUCHEVENT");
  CHECK(r.status == 404);
  CHECK(r.body.rfind(R"({"error":{"code":"not_found","message":")", 0) == 0);
  r = call(engine, "GET", "/v1/admin/events/a%20b");
  CHECK(r.status == 400);
  CHECK(r.body ==
        err("invalid_field", R"(\"a%20b\" is not an event id (1 to 128 of A-Z a-z 0-9 _ . : -))"));
  r = call(engine, "GET", "/v1/admin/events", "state=lost");
  CHECK(r.status == 400);
  CHECK(r.body ==
        err("invalid_field",
            R"(\"state\" must be one of pending, retrying, parked, dead, done, discarded)"));
  r = call(engine, "POST", "/v1/admin/events/replay", {}, "{");
  CHECK(r.status == 400);
  CHECK(r.body.rfind(R"({"error":{"code":"malformed_body",)", 0) == 0);
  r = call(engine, "GET", "/v1/admin/nothing");
  CHECK(r.status == 404);
  CHECK(r.body == err("not_found", "no route for /v1/admin/nothing"));
  r = call(engine, "PUT", "/v1/admin/jobs/01J");
  CHECK(r.status == 405);
  CHECK(r.body == err("method_not_allowed", "method PUT is not allowed here; use GET, DELETE"));

  // A dry run changes nothing; the replay is by admin-api; a replay of a done
  // event is 409 invalid_state.
  r = call(engine, "POST", "/v1/admin/events/replay", {},
           R"({"ids":[")" + id + R"("],"dry_run":true})");
  CHECK(r.status == 200);
  CHECK(r.body.rfind(R"({"matched":1,"samples":[)", 0) == 0);
  r = call(engine, "POST", "/v1/admin/events/replay", {},
           R"({"ids":[")" + id + R"("],"reason":"customer fixed"})");
  CHECK(r.status == 200);
  CHECK(r.body == R"({"matched":1,"replayed":1,"skipped":[]})");
  CHECK(rig.field("acme", id, "attempts").find("\"actor\":\"admin-api\"") != std::string::npos);
  rig.move("acme", id, "done");
  r = call(engine, "POST", "/v1/admin/events/discard", {},
           R"({"ids":[")" + id + R"("],"reason":"dup"})");
  CHECK(r.status == 409);
  CHECK(r.body.rfind(R"({"error":{"code":"invalid_state","message":")", 0) == 0);
  CHECK(r.body.find("done") != std::string::npos);

  // By filter: 202 with the job, which is then listed, shown and cancelled.
  rig.dead_customer("acme", "8");
  r = call(engine, "POST", "/v1/admin/events/replay", {},
           R"({"filter":{"tenant":"acme","state":"dead"}})");
  CHECK(r.status == 202);
  auto doc = isync::json::parse(r.body, isync::json::kTrusted);
  REQUIRE(doc.has_value());
  const std::string job = (*doc)["job_id"].GetString();
  CHECK((*doc)["matched"].GetInt64() == 1);
  r = call(engine, "GET", "/v1/admin/jobs", "tenant=acme");
  CHECK(r.status == 200);
  CHECK(r.body.find("\"job_id\":\"" + job + "\"") != std::string::npos);
  r = call(engine, "GET", "/v1/admin/jobs/" + job);
  CHECK(r.status == 200);
  r = call(engine, "DELETE", "/v1/admin/jobs/" + job);
  CHECK(r.status == 200);
  CHECK(r.body.find("\"state\":\"cancelled\"") != std::string::npos);
  r = call(engine, "GET", "/v1/admin/jobs/01NOSUCHJOB");
  CHECK(r.status == 404);
  CHECK(r.body.rfind(R"({"error":{"code":"not_found",)", 0) == 0);
}

TEST_CASE("GET /v1/admin/activity answers the tenant's minutes over the last 24 h") {
  OnCallRig rig;
  auto& engine = *rig.engine;
  const std::int64_t now = rig.clock.now_ms();
  const std::int64_t minute = now - now % 60000;
  queue::ActivityCounter counts;
  counts.add("acme", queue::ActivityKind::handled, now, 4);
  counts.add("acme", queue::ActivityKind::failed, now);
  counts.add("acme", queue::ActivityKind::dead, now - 3 * 60000, 2);
  counts.add("acme", queue::ActivityKind::handled, now - 25 * 3600000LL + 3600000LL);  // too old
  wait_for<bool>([&](auto cb) { counts.flush(*rig.conn, now, [cb] { cb(true); }); });

  auto r = call(engine, "GET", "/v1/admin/activity", "tenant=acme");
  CHECK(r.status == 200);
  const std::int64_t to = minute + 60000;
  CHECK(r.body == R"({"tenant":"acme","minute_ms":60000,"from_ms":)" +
                      std::to_string(to - 86400000) + R"(,"to_ms":)" + std::to_string(to) +
                      R"(,"minutes":[{"t":)" + std::to_string(minute - 180000) +
                      R"(,"handled":0,"failed":0,"dead":2},{"t":)" + std::to_string(minute) +
                      R"(,"handled":4,"failed":1,"dead":0}]})");
  r = call(engine, "GET", "/v1/admin/activity", "tenant=beta");
  CHECK(r.status == 200);
  CHECK(r.body.find(R"("minutes":[]})") != std::string::npos);

  r = call(engine, "GET", "/v1/admin/activity");
  CHECK(r.status == 400);
  CHECK(r.body ==
        err("invalid_field", R"(\"tenant\" is required: GET /v1/admin/activity?tenant=<tenant>)"));
  r = call(engine, "GET", "/v1/admin/activity", "tenant=nope");
  CHECK(r.status == 400);
  CHECK(r.body == err("invalid_field", R"(\"tenant\": no tenant \"nope\" is configured)"));
  r = call(engine, "GET", "/v1/admin/activity", "tenant=acme&x=1");
  CHECK(r.status == 400);
  CHECK(r.body ==
        err("invalid_field", R"(unknown query parameter \"x\"; this route takes tenant only)"));
  r = call(engine, "POST", "/v1/admin/activity", "tenant=acme");
  CHECK(r.status == 405);
  CHECK(r.body == err("method_not_allowed", "method POST is not allowed here; use GET"));
}
