// list_events, read_event and summarize over documents filed by the index's Lua.
#include "queue/event_index.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <tuple>

#include "tests/queue/event_index_harness.hpp"

using namespace isync;
using namespace isync::testing;

namespace {

struct Fixture {
  RedisServer server;
  Loop loop;
  std::shared_ptr<redis::Connection> conn = connect(loop, server);

  // E1…E6, one per state, newest last.
  void six() {
    put_doc(server, {.id = "E1",
                     .state = "dead",
                     .object = "CUSTOMER",
                     .key = "1",
                     .code = "intacct_error",
                     .errorno = "BL01",
                     .updated_at = 1000});
    put_doc(server, {.id = "E2",
                     .state = "retrying",
                     .object = "ARINVOICE",
                     .key = "2",
                     .code = "timeout",
                     .updated_at = 2000});
    put_doc(server,
            {.id = "E3", .state = "parked", .object = "CUSTOMER", .key = "3", .updated_at = 3000});
    put_doc(server, {.id = "E4",
                     .state = "done",
                     .object = "CUSTOMER",
                     .key = "1",
                     .code = "not_found",
                     .errorno = "BL02",
                     .updated_at = 4000});
    put_doc(server, {.id = "E5",
                     .state = "pending",
                     .object = "ARPYMT",
                     .key = "5",
                     .code = "intacct_error",
                     .errorno = "BL01",
                     .updated_at = 5000});
    put_doc(server, {.id = "E6",
                     .state = "discarded",
                     .object = "CUSTOMER",
                     .key = "1",
                     .code = "intacct_error",
                     .errorno = "BL03",
                     .updated_at = 6000});
  }
  std::vector<std::string> ids(queue::EventFilter f) { return list_all(*conn, {"acme"}, f); }
};

using Ids = std::vector<std::string>;

}  // namespace

TEST_CASE("each filter finds the events it names, newest first") {
  Fixture f;
  f.six();
  CHECK(f.ids({}) == Ids{"E6", "E5", "E4", "E3", "E2", "E1"});
  CHECK(f.ids({.state = "dead"}) == Ids{"E1"});
  CHECK(f.ids({.state = "retrying"}) == Ids{"E2"});
  CHECK(f.ids({.state = "parked"}) == Ids{"E3"});
  CHECK(f.ids({.state = "done"}) == Ids{"E4"});
  CHECK(f.ids({.state = "pending"}) == Ids{"E5"});
  CHECK(f.ids({.state = "discarded"}) == Ids{"E6"});
  CHECK(f.ids({.object = "CUSTOMER"}) == Ids{"E6", "E4", "E3", "E1"});
  CHECK(f.ids({.object = "ARPYMT"}) == Ids{"E5"});
  CHECK(f.ids({.object = "CUSTOMER", .key = "1"}) == Ids{"E6", "E4", "E1"});
  CHECK(f.ids({.object = "ARINVOICE", .key = "1"}).empty());
  CHECK(f.ids({.error = "intacct_error"}) == Ids{"E6", "E5", "E1"});
  CHECK(f.ids({.error = "BL01"}) == Ids{"E5", "E1"});
  CHECK(f.ids({.error = "BL02"}) == Ids{"E4"});
  CHECK(f.ids({.error = "timeout"}) == Ids{"E2"});
  CHECK(f.ids({.error = "nothing_like_it"}).empty());
  CHECK(f.ids({.since_ms = 3000}) == Ids{"E6", "E5", "E4", "E3"});
  CHECK(f.ids({.until_ms = 3000}) == Ids{"E3", "E2", "E1"});
  CHECK(f.ids({.since_ms = 2000, .until_ms = 4000}) == Ids{"E4", "E3", "E2"});
  CHECK(f.ids({.since_ms = 4001, .until_ms = 4999}).empty());
  // Combinations: the most selective index, the other filters per document.
  CHECK(f.ids({.state = "dead", .object = "CUSTOMER"}) == Ids{"E1"});
  CHECK(f.ids({.state = "discarded", .object = "CUSTOMER", .key = "1"}) == Ids{"E6"});
  CHECK(f.ids({.state = "pending", .error = "BL01"}) == Ids{"E5"});
  CHECK(f.ids({.object = "CUSTOMER", .error = "intacct_error"}) == Ids{"E6", "E1"});
  CHECK(f.ids({.object = "CUSTOMER", .key = "1", .error = "BL02"}) == Ids{"E4"});
  CHECK(f.ids({.object = "CUSTOMER", .since_ms = 1001, .until_ms = 5999}) == Ids{"E4", "E3"});
  CHECK(f.ids({.state = "dead", .object = "ARPYMT"}).empty());
  CHECK(f.ids({.state = "no_such_state"}).empty());
  CHECK(list_all(*f.conn, {"beta"}, {}).empty());
}

TEST_CASE("a summary carries the document's and the envelope's fields") {
  Fixture f;
  f.six();
  auto page = list(*f.conn, {"acme"}, {.state = "dead"}, 10, "");
  REQUIRE(page.has_value());
  REQUIRE(page->events.size() == 1);
  const auto& s = page->events[0];
  CHECK(s.id == "E1");
  CHECK(s.tenant == "acme");
  CHECK(s.state == "dead");
  CHECK(s.source == "intacct");
  CHECK(s.object == "CUSTOMER");
  CHECK(s.key == "1");
  CHECK(s.action == "set");
  CHECK(s.code == "intacct_error");
  CHECK(s.errorno == "BL01");
  CHECK(s.reason == "it failed");
  CHECK(s.attempt == 1);
  CHECK(s.updated_at_ms == 1000);
  CHECK(s.first_failure_ms == 1000);
  CHECK(s.received_at_ms == 1700000000000);
  CHECK(page->next_cursor.empty());

  std::promise<Result<std::optional<queue::EventDoc>>> read;
  queue::read_event(*f.conn, "acme", "E1", [&](auto r) { read.set_value(std::move(r)); });
  auto doc = read.get_future().get();
  REQUIRE(doc.has_value());
  REQUIRE(doc->has_value());
  CHECK((**doc).at("state") == "dead");
  CHECK((**doc).at("ix") == "all\ns:dead\no:CUSTOMER\nk:CUSTOMER:1\ne:intacct_error\ne:BL01");
  auto again = queue::summarize("acme", **doc);
  CHECK(again.id == s.id);
  CHECK(again.received_at_ms == s.received_at_ms);
  CHECK(again.errorno == s.errorno);

  std::promise<Result<std::optional<queue::EventDoc>>> missing;
  queue::read_event(*f.conn, "acme", "NOPE", [&](auto r) { missing.set_value(std::move(r)); });
  auto none = missing.get_future().get();
  REQUIRE(none.has_value());
  CHECK(!none->has_value());
}

TEST_CASE("paging through 2,500 events with limit 100 visits each exactly once, in order") {
  Fixture f;
  std::vector<std::tuple<std::int64_t, std::string>> all;  // (updated_at, id)
  for (int i = 0; i < 2500; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "P%05d", (i * 7919) % 2500);  // ids not in time order
    std::int64_t at = 1'000'000 + i / 7;                       // runs of equal updated_at
    const char* state = i % 10 == 0 ? "dead" : "retrying";
    put_doc(f.server, {.id = id,
                       .state = state,
                       .key = std::to_string(i % 3),
                       .code = "flaky",
                       .updated_at = at});
    all.emplace_back(at, id);
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a > b; });
  Ids expected;
  for (const auto& [at, id] : all) expected.push_back(id);

  std::vector<int> sizes;
  std::string cursor;
  Ids seen;
  for (int pages = 0; pages < 100; ++pages) {
    auto page = list(*f.conn, {"acme"}, {}, 100, cursor);
    REQUIRE(page.has_value());
    sizes.push_back(static_cast<int>(page->events.size()));
    for (const auto& e : page->events) seen.push_back(e.id);
    if (page->next_cursor.empty()) break;
    cursor = page->next_cursor;
  }
  CHECK(seen == expected);
  CHECK(sizes.size() <= 26);
  CHECK(std::count(sizes.begin(), sizes.end(), 100) == 25);

  // A filter the chosen index does not cover (error, then state per document):
  // pages may come short, but nothing is skipped or repeated.
  Ids dead_expected;
  for (const auto& id : expected) {
    if (f.server.cmd({"HGET", "isync:{acme}:ev:" + id, "state"}).str == "dead") {
      dead_expected.push_back(id);
    }
  }
  CHECK(dead_expected.size() == 250);
  CHECK(list_all(*f.conn, {"acme"}, {.state = "dead", .error = "flaky"}, 100) == dead_expected);
  CHECK(list_all(*f.conn, {"acme"}, {.state = "dead", .error = "flaky"}, 7) == dead_expected);
  CHECK(list_all(*f.conn, {"acme"}, {.object = "CUSTOMER", .key = "2"}, 33).size() == 833);
}

TEST_CASE("paging across two tenants orders by updated_at, tenant, id and visits each once") {
  Fixture f;
  std::vector<std::tuple<std::int64_t, std::string, std::string>> all;  // (at, tenant, id)
  for (int i = 0; i < 300; ++i) {
    const std::string tenant = i % 2 ? "beta" : "acme";
    const std::string id = "T" + std::to_string(1000 + (i * 37) % 300);
    const std::int64_t at = 5000 + i / 4;  // ties within and across tenants
    put_doc(f.server,
            {.tenant = tenant, .id = id, .state = i % 3 ? "dead" : "parked", .updated_at = at});
    all.emplace_back(at, tenant, id);
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    if (std::get<0>(a) != std::get<0>(b)) return std::get<0>(a) > std::get<0>(b);
    if (std::get<1>(a) != std::get<1>(b)) return std::get<1>(a) < std::get<1>(b);
    return std::get<2>(a) > std::get<2>(b);
  });
  std::vector<std::string> expected, expected_dead;
  for (const auto& [at, tenant, id] : all) {
    expected.push_back(tenant + "/" + id);
    if (f.server.cmd({"HGET", queue::key(tenant, "ev:" + id), "state"}).str == "dead") {
      expected_dead.push_back(tenant + "/" + id);
    }
  }
  for (int limit : {7, 100, 1000}) {
    for (const auto& [filter, want] :
         {std::pair{queue::EventFilter{}, expected},
          std::pair{queue::EventFilter{.state = "dead"}, expected_dead}}) {
      std::vector<std::string> seen;
      std::string cursor;
      for (int pages = 0; pages < 1000; ++pages) {
        auto page = list(*f.conn, {"beta", "acme"}, filter, limit, cursor);
        REQUIRE(page.has_value());
        for (const auto& e : page->events) seen.push_back(e.tenant + "/" + e.id);
        if (page->next_cursor.empty()) break;
        cursor = page->next_cursor;
      }
      CHECK(seen == want);
    }
  }
}

TEST_CASE("a cursor this code did not write is invalid_field naming the cursor") {
  Fixture f;
  f.six();
  auto first = list(*f.conn, {"acme"}, {}, 2, "");
  REQUIRE(first.has_value());
  CHECK(first->next_cursor == "e1.5000.61636d65.4535");
  auto second = list(*f.conn, {"acme"}, {}, 2, first->next_cursor);
  REQUIRE(second.has_value());
  REQUIRE(second->events.size() == 2);
  CHECK(second->events[0].id == "E4");
  for (const char* bad :
       {"x", "e1.", "e1.5000.61636d65", "e1.5000.61636d65.4535.", "e2.5000.61636d65.4535",
        "e1.05000.61636d65.4535", "e1.50x0.61636d65.4535", "e1.5000.61636D65.4535",
        "e1.5000.61636d6.4535", "e1.5000..4535", "e1.5000.61636d65.", "e1.-.61636d65.4535",
        "e1..61636d65.4535", "e1.99999999999999999999.61636d65.4535"}) {
    auto page = list(*f.conn, {"acme"}, {}, 2, bad);
    REQUIRE_MESSAGE(!page.has_value(), bad);
    CHECK(page.error().code == "invalid_field");
    CHECK(page.error().message ==
          "cursor is not one this service wrote; pass the next_cursor of a previous page, or "
          "none for the first page");
  }
}

TEST_CASE("odd input does not break a listing") {
  Fixture f;
  f.six();
  auto big = list(*f.conn, {"acme"}, {}, 5000, "");  // clamped to kMaxListLimit
  REQUIRE(big.has_value());
  CHECK(big->events.size() == 6);
  auto zero = list(*f.conn, {"acme"}, {}, 0, "");  // clamped to 1
  REQUIRE(zero.has_value());
  CHECK(zero->events.size() == 1);
  auto none = list(*f.conn, {}, {}, 10, "");
  REQUIRE(none.has_value());
  CHECK(none->events.empty());
  CHECK(none->next_cursor.empty());
  // A key without its object is checked per document.
  CHECK(f.ids({.key = "1"}) == Ids{"E6", "E4", "E1"});
  CHECK(f.ids({.since_ms = 5000, .until_ms = 1000}).empty());
  // A document removed by hand leaves an entry the listing skips.
  f.server.cmd({"DEL", "isync:{acme}:ev:E5"});
  CHECK(f.ids({}) == Ids{"E6", "E4", "E3", "E2", "E1"});
}
