// The RECORDNO index kept by the apply script, index pages, and the writes
// reconcile makes through MirrorSync (fence included), on a real redis-server.
#include <string>

#include "tests/handlers/mirror_sync_fixture.hpp"

namespace queue = isync::queue;
using isync::queue::Outcome;
using isync::testing::eventually;
using isync::testing::make_event;
using isync::testing::SyncFixture;

namespace {

constexpr std::int64_t kV1 = 1714564800;  // 05/01/2024 12:00:00 UTC
constexpr std::int64_t kV2 = kV1 + 60;
constexpr std::int64_t kV3 = kV1 + 120;

std::string wm(std::int64_t v) { return isync::format_whenmodified(v); }

}  // namespace

// ---- the index kept by every decision of the apply script ----------------------

TEST_CASE_FIXTURE(SyncFixture,
                  "an applied event indexes the record with its version, an invoice with its "
                  "TOTALDUE") {
  apply(make_event("CUSTOMER", "149", "add", kV1, {{"CUSTOMERID", "C-1"}}));
  CHECK(entry("CUSTOMER", "149") == std::to_string(kV1));
  apply(make_event("CUSTOMER", "149", "set", kV2, {{"NAME", "Acme"}}));
  CHECK(entry("CUSTOMER", "149") == std::to_string(kV2));

  apply(make_event("ARINVOICE", "500", "add", kV1, {{"STATE", "Posted"}, {"TOTALDUE", "100.00"}}));
  CHECK(entry("ARINVOICE", "500") == std::to_string(kV1) + ":100.00");
  apply(make_event("ARINVOICE", "500", "set", kV2, {{"STATE", "Paid"}, {"TOTALDUE", "0.00"}}));
  CHECK(entry("ARINVOICE", "500") == std::to_string(kV2) + ":0.00");
  // An invoice whose snapshots never carried TOTALDUE: empty text.
  apply(make_event("ARINVOICE", "501", "add", kV1, {{"STATE", "Posted"}}));
  CHECK(entry("ARINVOICE", "501") == std::to_string(kV1) + ":");

  apply(make_event("ARPYMT", "31", "add", kV1, {{"DOCNUMBER", "pi_1"}}));
  CHECK(entry("ARPYMT", "31") == std::to_string(kV1));
  // Each object has its own index.
  CHECK(indexed("CUSTOMER") == 1);
  CHECK(indexed("ARINVOICE") == 2);
  CHECK(indexed("ARPYMT") == 1);
}

TEST_CASE_FIXTURE(SyncFixture,
                  "an ignored older event still sets the entry from what the record holds") {
  apply(make_event("CUSTOMER", "7", "set", kV2, {{"NAME", "new"}}));
  // An entry out of step (as if written by a version without the index).
  server.cmd({"HSET", queue::key("acme", "idxv:CUSTOMER"), "7", "1"});
  auto old = apply(make_event("CUSTOMER", "7", "set", kV1, {{"NAME", "old"}}));
  CHECK(old.result == "ignored");
  CHECK(entry("CUSTOMER", "7") == std::to_string(kV2));

  // The same for a record the index lost altogether, and a same-content repeat.
  drop_index();
  CHECK(apply(make_event("CUSTOMER", "7", "set", kV2, {{"NAME", "new"}})).result == "ignored");
  CHECK(entry("CUSTOMER", "7") == std::to_string(kV2));
}

TEST_CASE_FIXTURE(SyncFixture,
                  "parked thin and conflicting events leave the entry at the stored version") {
  apply(make_event("ARINVOICE", "60", "set", kV1, {{"STATE", "Posted"}, {"TOTALDUE", "5.00"}}));
  drop_index();
  auto thin = apply(make_event("ARINVOICE", "60", "set", kV2));
  CHECK(thin.result == "thin");
  CHECK(entry("ARINVOICE", "60") == std::to_string(kV1) + ":5.00");

  drop_index();
  auto conflict =
      apply(make_event("ARINVOICE", "60", "set", kV1, {{"STATE", "Posted"}, {"TOTALDUE", "6.00"}}));
  CHECK(conflict.result == "reread");
  CHECK(entry("ARINVOICE", "60") == std::to_string(kV1) + ":5.00");
}

TEST_CASE_FIXTURE(SyncFixture,
                  "a delete, a gone read and a draft take the record out of the index") {
  apply(make_event("ARPYMT", "31", "add", kV1, {{"DOCNUMBER", "pi_1"}}));
  REQUIRE(entry("ARPYMT", "31") != "(none)");
  CHECK(apply(make_event("ARPYMT", "31", "delete", kV2)).result == "tombstoned");
  CHECK(entry("ARPYMT", "31") == "(none)");
  // A late add of an older version does not bring it back.
  CHECK(apply(make_event("ARPYMT", "31", "add", kV1, {{"DOCNUMBER", "pi_1"}})).result == "ignored");
  CHECK(entry("ARPYMT", "31") == "(none)");

  apply(make_event("CUSTOMER", "40", "add", kV1, {{"NAME", "x"}}));
  auto g = gone("CUSTOMER", "40");
  REQUIRE(g.has_value());
  CHECK(*g == "tombstoned");
  CHECK(hget("CUSTOMER", "40", "del") == "1");
  CHECK(entry("CUSTOMER", "40") == "(none)");

  apply(make_event("ARINVOICE", "70", "add", kV1, {{"STATE", "Posted"}, {"TOTALDUE", "9.00"}}));
  CHECK(apply(make_event("ARINVOICE", "70", "set", kV2, {{"STATE", "Draft"}})).result == "removed");
  CHECK(entry("ARINVOICE", "70") == "(none)");
  CHECK(hget("ARINVOICE", "70", "draft") == "1");
  // A draft never mirrored leaves only a marker, never an entry.
  apply(make_event("ARINVOICE", "71", "add", kV1, {{"STATE", "Draft"}}));
  CHECK(entry("ARINVOICE", "71") == "(none)");
  CHECK(indexed("ARINVOICE") == 0);
}

// ---- index pages ------------------------------------------------------------------

TEST_CASE_FIXTURE(SyncFixture, "index pages go by RECORDNO: after exclusive, upto inclusive") {
  for (const char* no : {"5", "40", "7", "1000", "12", "99999", "300"}) {
    apply(make_event("ARINVOICE", no, "add", kV1, {{"STATE", "Posted"}, {"TOTALDUE", "1.50"}}));
  }
  apply(make_event("CUSTOMER", "6", "add", kV1, {{"NAME", "other object"}}));

  auto first = page("ARINVOICE", 0, std::nullopt, 3);
  REQUIRE(first.has_value());
  CHECK(recordnos(*first) == std::vector<std::string>{"5", "7", "12"});
  CHECK(first->front().version == kV1);
  CHECK(first->front().totaldue == "1.50");
  auto second = page("ARINVOICE", 12, std::nullopt, 3);
  REQUIRE(second.has_value());
  CHECK(recordnos(*second) == std::vector<std::string>{"40", "300", "1000"});
  auto last = page("ARINVOICE", 1000, std::nullopt, 3);
  REQUIRE(last.has_value());
  CHECK(recordnos(*last) == std::vector<std::string>{"99999"});
  auto end = page("ARINVOICE", 99999, std::nullopt, 3);
  REQUIRE(end.has_value());
  CHECK(end->empty());

  auto bounded = page("ARINVOICE", 7, 300, 10);
  REQUIRE(bounded.has_value());
  CHECK(recordnos(*bounded) == std::vector<std::string>{"12", "40", "300"});
  auto customers = page("CUSTOMER", 0, std::nullopt, 10000);
  REQUIRE(customers.has_value());
  CHECK(recordnos(*customers) == std::vector<std::string>{"6"});
  CHECK(customers->front().totaldue.empty());
}

TEST_CASE_FIXTURE(SyncFixture,
                  "index_page refuses a bad object, limit or tenant with exact errors") {
  auto zero = page("CUSTOMER", 0, std::nullopt, 0);
  REQUIRE_FALSE(zero.has_value());
  CHECK(zero.error().code == "invalid_argument");
  CHECK(zero.error().message == "limit 0 is outside 1..10000");
  auto big = page("CUSTOMER", 0, std::nullopt, 10001);
  REQUIRE_FALSE(big.has_value());
  CHECK(big.error().message == "limit 10001 is outside 1..10000");
  auto object = page("VENDOR", 0, std::nullopt, 10);
  REQUIRE_FALSE(object.has_value());
  CHECK(object.error().code == "invalid_argument");
  CHECK(object.error().message ==
        "object \"VENDOR\" is not mirrored; expected CUSTOMER, ARINVOICE or ARPYMT");
  auto tenant = page("CUSTOMER", 0, std::nullopt, 10, "Bad Tenant");
  REQUIRE_FALSE(tenant.has_value());
  CHECK(tenant.error().message == "tenant \"Bad Tenant\" is not a valid tenant id");
}

TEST_CASE_FIXTURE(SyncFixture,
                  "index_page drops the entry of a record whose key was deleted or has expired") {
  for (const char* no : {"1", "2", "3", "4"}) {
    apply(make_event("CUSTOMER", no, "add", kV1, {{"NAME", no}}));
  }
  server.cmd({"DEL", rec_key("CUSTOMER", "2")});
  server.cmd({"PEXPIRE", rec_key("CUSTOMER", "3"), "1"});
  REQUIRE(isync::testing::eventually([&] {
    return server.cmd({"EXISTS", rec_key("CUSTOMER", "3")}).integer == 0;
  }));
  // A tombstone written behind the index's back (an older version's delete).
  server.cmd({"HSET", rec_key("CUSTOMER", "4"), "del", "1"});

  // The page fills past the dropped entries: a short page means the end.
  auto p = page("CUSTOMER", 0, std::nullopt, 1);
  REQUIRE(p.has_value());
  CHECK(recordnos(*p) == std::vector<std::string>{"1"});
  auto rest = page("CUSTOMER", 1, std::nullopt, 1);
  REQUIRE(rest.has_value());
  CHECK(rest->empty());
  CHECK(entry("CUSTOMER", "2") == "(none)");
  CHECK(entry("CUSTOMER", "3") == "(none)");
  CHECK(entry("CUSTOMER", "4") == "(none)");
  CHECK(indexed("CUSTOMER") == 1);
}

TEST_CASE_FIXTURE(SyncFixture, "a payment the posted script wrote is indexed at version 0") {
  // As the payment posted script writes it (v 0, no WHENMODIFIED yet).
  server.cmd({"HSET", rec_key("ARPYMT", "88"), "v", "0", "wm", "", "del", "0", "draft", "0", "f",
              R"({"DOCNUMBER":"pi_9"})"});
  // The index entry appears when a page meets it with no value, or by a step of the
  // back-fill; here the record is in the ZSET without a value.
  server.cmd({"ZADD", queue::key("acme", "idx:ARPYMT"), "88", "88"});
  auto p = page("ARPYMT", 0, std::nullopt, 10);
  REQUIRE(p.has_value());
  REQUIRE(p->size() == 1);
  CHECK(p->front().recordno == "88");
  CHECK(p->front().version == 0);
  CHECK(entry("ARPYMT", "88") == "0");
}

// ---- reconcile writes -----------------------------------------------------------

TEST_CASE_FIXTURE(SyncFixture,
                  "a read applied at its row's WHENMODIFIED never overwrites a newer event") {
  apply(make_event("ARINVOICE", "500", "set", kV2, {{"STATE", "Posted"}, {"TOTALDUE", "40.00"}}));
  auto older = read("ARINVOICE", "500",
                    row("ARINVOICE", {{"RECORDNO", "500"},
                                      {"WHENMODIFIED", wm(kV1)},
                                      {"STATE", "Posted"},
                                      {"TOTALDUE", "100.00"}}));
  REQUIRE(older.has_value());
  CHECK(*older == "ignored");
  CHECK(hget("ARINVOICE", "500", "v") == std::to_string(kV2));
  CHECK(fields("ARINVOICE", "500")["TOTALDUE"] == "40.00");
  CHECK(entry("ARINVOICE", "500") == std::to_string(kV2) + ":40.00");

  auto newer = read("ARINVOICE", "500",
                    row("ARINVOICE", {{"RECORDNO", "500"},
                                      {"WHENMODIFIED", wm(kV3)},
                                      {"STATE", "Paid"},
                                      {"TOTALDUE", "0.00"}}));
  REQUIRE(newer.has_value());
  CHECK(*newer == "applied");
  CHECK(hget("ARINVOICE", "500", "v") == std::to_string(kV3));
  CHECK(entry("ARINVOICE", "500") == std::to_string(kV3) + ":0.00");
  auto audit = server.cmd({"LINDEX", audit_key("ARINVOICE", "500"), "0"}).str;
  CHECK(audit.find(R"("source":"reconcile")") != std::string::npos);
  // No stream entry was acked, nothing queued.
  CHECK(server.cmd({"EXISTS", queue::key("acme", "events")}).integer == 0);

  // A missing record is created at its own WHENMODIFIED.
  auto created = read("CUSTOMER", "9", row("CUSTOMER", {{"WHENMODIFIED", wm(kV1)}, {"NAME", "n"}}));
  REQUIRE(created.has_value());
  CHECK(*created == "applied");
  CHECK(entry("CUSTOMER", "9") == std::to_string(kV1));
}

TEST_CASE_FIXTURE(SyncFixture, "a read of a Draft invoice removes the mirrored one") {
  apply(make_event("ARINVOICE", "80", "set", kV1, {{"STATE", "Posted"}, {"TOTALDUE", "3.00"}}));
  auto r =
      read("ARINVOICE", "80", row("ARINVOICE", {{"WHENMODIFIED", wm(kV2)}, {"STATE", "Draft"}}));
  REQUIRE(r.has_value());
  CHECK(*r == "removed");
  CHECK(entry("ARINVOICE", "80") == "(none)");
}

TEST_CASE_FIXTURE(SyncFixture, "apply_draft removes a live invoice as a draft event would") {
  apply(make_event("ARINVOICE", "81", "set", kV1, {{"STATE", "Posted"}, {"TOTALDUE", "3.00"}}));
  auto older = draft("81", kV1 - 60);
  REQUIRE(older.has_value());
  CHECK(*older == "ignored");
  CHECK(entry("ARINVOICE", "81") == std::to_string(kV1) + ":3.00");
  auto r = draft("81", kV2);
  REQUIRE(r.has_value());
  CHECK(*r == "removed");
  CHECK(hget("ARINVOICE", "81", "draft") == "1");
  CHECK(entry("ARINVOICE", "81") == "(none)");
}

TEST_CASE_FIXTURE(SyncFixture, "reconcile writes refuse bad input with exact errors") {
  auto no_wm = read("CUSTOMER", "9", row("CUSTOMER", {{"NAME", "n"}}));
  REQUIRE_FALSE(no_wm.has_value());
  CHECK(no_wm.error().code == "invalid_argument");
  CHECK(no_wm.error().message ==
        "CUSTOMER 9 of tenant acme: the row read has no valid WHENMODIFIED; it cannot be "
        "ordered against events");
  auto other =
      read("CUSTOMER", "9", row("CUSTOMER", {{"RECORDNO", "10"}, {"WHENMODIFIED", wm(kV1)}}));
  REQUIRE_FALSE(other.has_value());
  CHECK(other.error().message == "CUSTOMER 9 of tenant acme: the row read has RECORDNO 10");
  auto recno = read("CUSTOMER", "09", row("CUSTOMER", {{"WHENMODIFIED", wm(kV1)}}));
  REQUIRE_FALSE(recno.has_value());
  CHECK(recno.error().message == "RECORDNO \"09\" is not a positive integer");
  auto fence = read("CUSTOMER", "9", row("CUSTOMER", {{"WHENMODIFIED", wm(kV1)}}),
                    {queue::key("globex", "reconcile:lock"), "t1"});
  REQUIRE_FALSE(fence.has_value());
  CHECK(fence.error().message ==
        "the fence's lock key \"isync:{globex}:reconcile:lock\" is not a key of tenant acme");
  CHECK(server.keys().empty());
}

TEST_CASE_FIXTURE(SyncFixture, "a write whose fence no longer holds changes nothing") {
  const std::string lock = queue::key("acme", "reconcile:lock");
  apply(make_event("ARINVOICE", "90", "set", kV1, {{"STATE", "Posted"}, {"TOTALDUE", "7.00"}}));
  apply(make_event("CUSTOMER", "91", "set", kV1, {{"NAME", "c"}}));
  server.cmd({"SET", lock, "run-2"});
  const auto keys_before = server.keys();
  const auto rec_before = server.cmd({"HGETALL", rec_key("ARINVOICE", "90")});

  const isync::handlers::Fence lost{lock, "run-1"};
  auto r = read("ARINVOICE", "90",
                row("ARINVOICE", {{"WHENMODIFIED", wm(kV2)}, {"STATE", "Paid"}, {"TOTALDUE", "0"}}),
                lost);
  REQUIRE(r.has_value());
  CHECK(*r == "fenced");
  auto g = gone("CUSTOMER", "91", lost);
  REQUIRE(g.has_value());
  CHECK(*g == "fenced");
  auto d = draft("90", kV2, lost);
  REQUIRE(d.has_value());
  CHECK(*d == "fenced");
  auto created = read("CUSTOMER", "92", row("CUSTOMER", {{"WHENMODIFIED", wm(kV2)}}), lost);
  REQUIRE(created.has_value());
  CHECK(*created == "fenced");
  CHECK(server.keys() == keys_before);
  CHECK(server.cmd({"HGETALL", rec_key("ARINVOICE", "90")}).elements.size() ==
        rec_before.elements.size());
  CHECK(hget("ARINVOICE", "90", "v") == std::to_string(kV1));
  CHECK(entry("ARINVOICE", "90") == std::to_string(kV1) + ":7.00");
  CHECK(audit_len("ARINVOICE", "90") == 1);

  // No lock at all: fenced too (the run's lock expired).
  server.cmd({"DEL", lock});
  auto expired = gone("CUSTOMER", "91", lost);
  REQUIRE(expired.has_value());
  CHECK(*expired == "fenced");
  CHECK(hget("CUSTOMER", "91", "del") == "0");

  // The holder's token writes.
  server.cmd({"SET", lock, "run-1"});
  auto held = read(
      "ARINVOICE", "90",
      row("ARINVOICE", {{"WHENMODIFIED", wm(kV2)}, {"STATE", "Paid"}, {"TOTALDUE", "0.00"}}), lost);
  REQUIRE(held.has_value());
  CHECK(*held == "applied");
  CHECK(entry("ARINVOICE", "90") == std::to_string(kV2) + ":0.00");
}

TEST_CASE_FIXTURE(SyncFixture, "reconcile calls answer unavailable while Redis is down") {
  server.stop();
  REQUIRE(eventually([&] { return !conn->connected(); }));
  auto p = page("CUSTOMER", 0, std::nullopt, 10);
  REQUIRE_FALSE(p.has_value());
  CHECK(p.error().code == "unavailable");
  CHECK(p.error().message.starts_with("Redis: "));
  CHECK(p.error().message.ends_with(" (index page of CUSTOMER, tenant acme)"));
  auto r = read("CUSTOMER", "9", row("CUSTOMER", {{"WHENMODIFIED", wm(kV1)}}));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "unavailable");
  CHECK(r.error().message.ends_with(" (writing CUSTOMER 9 of tenant acme)"));
  auto s = step();
  REQUIRE_FALSE(s.has_value());
  CHECK(s.error().code == "unavailable");
  CHECK(s.error().message.ends_with(" (index back-fill of tenant acme)"));
  server.start();
  REQUIRE(eventually([&] { return conn->connected(); }));
  auto again = read("CUSTOMER", "9", row("CUSTOMER", {{"WHENMODIFIED", wm(kV1)}}));
  REQUIRE(again.has_value());
  CHECK(*again == "applied");
}
