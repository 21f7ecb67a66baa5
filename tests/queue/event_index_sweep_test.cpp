// sweep_events and backfill_event_index.
#include <doctest/doctest.h>

#include "queue/event_index.hpp"
#include "tests/queue/event_index_harness.hpp"

using namespace isync;
using namespace isync::testing;

namespace {

using Keys = std::vector<std::string>;
constexpr std::int64_t kDay = 86'400'000;
constexpr std::int64_t kNow = 1'700'000'000'000;

struct Fixture {
  RedisServer server;
  Loop loop;
  std::shared_ptr<redis::Connection> conn = connect(loop, server);

  bool has_doc(const std::string& id) {
    return server.cmd({"EXISTS", "isync:{acme}:ev:" + id}).integer == 1;
  }
  // Index entries whose document is gone, over every key of the registry.
  std::int64_t entries_without_doc(const std::string& tenant = "acme") {
    std::int64_t n = 0;
    for (const auto& k : server.keys()) {
      if (k.rfind(queue::key(tenant, "evx:"), 0) != 0) continue;
      if (server.cmd({"TYPE", k}).str != "zset") continue;
      for (const auto& id : server.cmd({"ZRANGE", k, "0", "-1"}).elements) {
        if (server.cmd({"EXISTS", queue::key(tenant, "ev:" + id.str)}).integer == 0) ++n;
      }
    }
    return n;
  }
};

}  // namespace

TEST_CASE("the sweep removes expired done, dead and discarded documents with their entries") {
  Fixture f;
  put_doc(f.server,
          {.id = "DONE_OLD", .state = "done", .code = "x", .updated_at = kNow - 8 * kDay});
  put_doc(f.server, {.id = "DONE_NEW", .state = "done", .updated_at = kNow - 6 * kDay});
  put_doc(f.server, {.id = "DEAD_OLD",
                     .state = "dead",
                     .key = "2",
                     .code = "intacct_error",
                     .errorno = "BL01",
                     .updated_at = kNow - 31 * kDay});
  put_doc(f.server, {.id = "DEAD_NEW", .state = "dead", .updated_at = kNow - 29 * kDay});
  put_doc(f.server, {.id = "DISC_OLD", .state = "discarded", .updated_at = kNow - 31 * kDay});
  put_doc(f.server, {.id = "RETRY_OLD", .state = "retrying", .updated_at = kNow - 90 * kDay});
  put_doc(f.server, {.id = "PARKED_OLD", .state = "parked", .updated_at = kNow - 90 * kDay});
  f.server.cmd({"ZADD", "isync:{acme}:dead", "1", "DEAD_OLD", "2", "DEAD_NEW"});

  auto r = sweep(*f.conn, "acme", kNow);
  REQUIRE(r.has_value());
  CHECK(r->removed == 3);
  CHECK(r->orphans == 0);
  for (const char* gone : {"DONE_OLD", "DEAD_OLD", "DISC_OLD"}) {
    CHECK_MESSAGE(!f.has_doc(gone), gone);
    CHECK(filed_under(f.server, "acme", gone).empty());
  }
  for (const char* kept : {"DONE_NEW", "DEAD_NEW", "RETRY_OLD", "PARKED_OLD"}) {
    CHECK_MESSAGE(f.has_doc(kept), kept);
    CHECK(!filed_under(f.server, "acme", kept).empty());
  }
  CHECK(f.server.cmd({"ZRANGE", "isync:{acme}:dead", "0", "-1"}).elements.size() == 1);
  CHECK(f.server.cmd({"ZSCORE", "isync:{acme}:dead", "DEAD_NEW"}).str == "2");
  // Keys left empty leave the registry (the orphan pass of this call saw them).
  CHECK(f.server.cmd({"SISMEMBER", "isync:{acme}:evx:keys", "e:BL01"}).integer == 0);
  CHECK(f.server.cmd({"SISMEMBER", "isync:{acme}:evx:keys", "k:CUSTOMER:2"}).integer == 0);
  CHECK(f.server.cmd({"SISMEMBER", "isync:{acme}:evx:keys", "s:dead"}).integer == 1);

  // Retention is an option.
  queue::SweepOptions o;
  o.done_retention = std::chrono::milliseconds(5 * kDay);
  auto again = sweep(*f.conn, "acme", kNow, o);
  REQUIRE(again.has_value());
  CHECK(again->removed == 1);
  CHECK(!f.has_doc("DONE_NEW"));
  CHECK(f.entries_without_doc() == 0);
}

TEST_CASE("the sweep drops the entries of a document deleted by hand") {
  Fixture f;
  put_doc(f.server, {.id = "GONE",
                     .state = "retrying",
                     .key = "4",
                     .code = "flaky",
                     .errorno = "BL09",
                     .updated_at = kNow});
  put_doc(f.server, {.id = "STAYS", .state = "retrying", .updated_at = kNow});
  f.server.cmd({"DEL", "isync:{acme}:ev:GONE"});
  auto r = sweep(*f.conn, "acme", kNow);
  REQUIRE(r.has_value());
  CHECK(r->removed == 0);
  CHECK(r->orphans == 6);  // all, s:retrying, o:CUSTOMER, k:CUSTOMER:4, e:flaky, e:BL09
  CHECK(filed_under(f.server, "acme", "GONE").empty());
  CHECK(filed_under(f.server, "acme", "STAYS") ==
        Keys{"all", "k:CUSTOMER:1", "o:CUSTOMER", "s:retrying"});
  auto members = f.server.cmd({"SMEMBERS", "isync:{acme}:evx:keys"});
  CHECK(members.elements.size() == 4);
  // An expired entry whose document is gone counts as an orphan too.
  put_doc(f.server, {.id = "OLD", .state = "done", .updated_at = kNow - 30 * kDay});
  f.server.cmd({"DEL", "isync:{acme}:ev:OLD"});
  auto again = sweep(*f.conn, "acme", kNow);
  REQUIRE(again.has_value());
  CHECK(again->removed == 0);
  CHECK(again->orphans == 4);
  CHECK(f.entries_without_doc() == 0);
}

TEST_CASE("after bounded sweeps no index entry lacks its document") {
  Fixture f;
  for (int i = 0; i < 3000; ++i) {
    put_doc(f.server, {.id = "S" + std::to_string(i),
                       .state = i % 2 ? "dead" : "retrying",
                       .key = std::to_string(i % 50),
                       .code = "c" + std::to_string(i % 7),
                       .updated_at = kNow - i});
  }
  for (int i = 0; i < 3000; i += 6) f.server.cmd({"DEL", "isync:{acme}:ev:S" + std::to_string(i)});
  // 500 documents gone, 5 entries each; 2,000 entries looked at per call at most.
  std::int64_t orphans = 0;
  int calls = 0;
  while (orphans < 2500 && calls < 50) {
    auto r = sweep(*f.conn, "acme", kNow);
    REQUIRE(r.has_value());
    CHECK(r->removed == 0);
    orphans += r->orphans;
    ++calls;
  }
  CHECK(orphans == 2500);
  CHECK(calls > 5);
  CHECK(f.entries_without_doc() == 0);
  CHECK(list_all(*f.conn, {"acme"}, {}, 1000).size() == 2500);
}

TEST_CASE("the back-fill indexes documents written the old way, removes their TTL, runs once") {
  Fixture f;
  // 1,200 documents as an older version wrote them: no object/key/code/ix,
  // a TTL on done ones, some without updated_at.
  for (int i = 0; i < 1200; ++i) {
    const std::string id = "B" + std::to_string(i);
    queue::Envelope e = envelope("acme", id, std::to_string(i % 10));
    e.object = i % 2 ? "ARINVOICE" : "CUSTOMER";
    std::vector<std::string> cmd = {
        "HSET",
        "isync:{acme}:ev:" + id,
        "event_id",
        id,
        "envelope",
        queue::encode(e),
        "state",
        i % 3 == 0 ? "done" : "dead",
        "attempts",
        R"([{"at":1,"attempt":1,"class":"transient","code":"first","message":"m","errorno":"BL00"},)"
        R"({"at":2,"attempt":2,"class":"permanent","code":"intacct_error","message":"m","errorno":"BL0)" +
            std::to_string(i % 4) + R"("}])",
        "attempt",
        "2",
        "first_failure",
        std::to_string(kNow - 2000),
        "reason",
        "r"};
    if (i % 5 != 0) {
      cmd.push_back("updated_at");
      cmd.push_back(std::to_string(kNow - 1000 + i));
    }
    f.server.cmd(cmd);
    if (i % 3 == 0) f.server.cmd({"EXPIRE", "isync:{acme}:ev:" + id, "604800"});
  }
  // One written the new way is left as it is.
  put_doc(f.server, {.id = "NEW", .state = "dead", .updated_at = kNow});
  // Keys that are no documents are ignored.
  f.server.cmd({"SET", "isync:{acme}:ev:not-a-hash", "x"});
  f.server.cmd({"HSET", "isync:{beta}:ev:OTHER", "state", "dead"});

  auto n = backfill(*f.conn, "acme");
  REQUIRE(n.has_value());
  CHECK(*n == 1200);
  CHECK(f.server.cmd({"TTL", "isync:{acme}:ev:B0"}).integer == -1);
  CHECK(f.server.cmd({"HGET", "isync:{acme}:ev:B3", "object"}).str == "ARINVOICE");
  CHECK(f.server.cmd({"HGET", "isync:{acme}:ev:B3", "key"}).str == "3");
  CHECK(f.server.cmd({"HGET", "isync:{acme}:ev:B3", "code"}).str == "intacct_error");
  CHECK(f.server.cmd({"HGET", "isync:{acme}:ev:B3", "errorno"}).str == "BL03");
  CHECK(f.server.cmd({"HGET", "isync:{acme}:ev:B3", "updated_at"}).str ==
        std::to_string(kNow - 1000 + 3));
  // No updated_at: the first failure stands for it.
  CHECK(f.server.cmd({"HGET", "isync:{acme}:ev:B5", "updated_at"}).str ==
        std::to_string(kNow - 2000));
  CHECK(filed_under(f.server, "acme", "B3") ==
        Keys{"all", "e:BL03", "e:intacct_error", "k:ARINVOICE:3", "o:ARINVOICE", "s:done"});
  CHECK(filed_under(f.server, "acme", "B0") ==
        Keys{"all", "e:BL00", "e:intacct_error", "k:CUSTOMER:0", "o:CUSTOMER", "s:done"});
  for (int i = 0; i < 1200; i += 97) {
    CHECK(f.server.cmd({"TTL", "isync:{acme}:ev:B" + std::to_string(i)}).integer == -1);
  }
  CHECK(list_all(*f.conn, {"acme"}, {.object = "ARINVOICE", .key = "3", .error = "BL03"}).size() ==
        60);
  CHECK(list_all(*f.conn, {"acme"}, {}, 1000).size() == 1201);
  CHECK(f.server.cmd({"EXISTS", "isync:{acme}:evx:backfilled"}).integer == 1);
  CHECK(f.server.cmd({"EXISTS", "isync:{beta}:evx:all"}).integer == 0);

  // Once: a later call does nothing, even if an old document shows up.
  f.server.cmd({"HSET", "isync:{acme}:ev:LATE", "state", "dead", "envelope", "{}"});
  auto second = backfill(*f.conn, "acme");
  REQUIRE(second.has_value());
  CHECK(*second == 0);
  CHECK(f.server.cmd({"HEXISTS", "isync:{acme}:ev:LATE", "ix"}).integer == 0);
}
