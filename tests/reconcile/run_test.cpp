// Reconcile runs against the sandbox company: what they import, find, fix and
// cost (issue contract: PRODUCT.md §4).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "tests/reconcile/run_fixture.hpp"

namespace isync::testing::run {
namespace {

std::int64_t in_scope_invoices(const std::vector<sandbox::Record>& invoices, std::int64_t since) {
  std::int64_t n = 0;
  for (const auto& r : invoices) {
    if (r.fields.at("STATE") == "Draft") continue;
    const auto v = parse_whenmodified(r.fields.at("WHENMODIFIED"));
    if ((v && *v >= since) || std::stod(r.fields.at("TOTALDUE")) != 0) ++n;
  }
  return n;
}

std::int64_t reads_for(std::int64_t n) { return (n + 99) / 100; }

TEST_CASE("a first run imports the scope, and a second run right after costs only the listing") {
  Seeded f;
  const auto customers = static_cast<std::int64_t>(f.list("CUSTOMER").size());
  auto first = f.run();
  INFO(first.text);

  CHECK(first.state() == "succeeded");
  const auto since = f.since();
  // since = the first run − 6 months − 1 day: more than 183 days ago.
  CHECK(since < wall_ms() / 1000 - 183 * kDay);
  const auto invoices = in_scope_invoices(f.list("ARINVOICE"), since);
  std::int64_t payments = 0;
  for (const auto& p : f.list("ARPYMT"))
    payments += *parse_whenmodified(p.fields.at("WHENMODIFIED")) >= since;
  CHECK(first.obj("CUSTOMER", "created") == customers);
  CHECK(first.obj("ARINVOICE", "created") == invoices);
  CHECK(first.obj("ARPYMT", "created") == payments);
  {
    auto d = f.differences();
    for (const auto& line : d) INFO(line);
    std::string all;
    for (const auto& line : d) all += line + "\n";
    CHECK_MESSAGE(d.empty(), all);
  }
  // The 8-month-old open invoice and its customer are in; the paid one and
  // its payment are not.
  CHECK(f.live_in_mirror("ARINVOICE", f.old_open));
  CHECK_FALSE(f.live_in_mirror("ARINVOICE", f.old_paid));
  // The bound: one listing page per object (≤ 2000 rows), reads of 100.
  CHECK(first.calls("CUSTOMER", "list") == 1);
  CHECK(first.calls("CUSTOMER", "read") == reads_for(customers));
  CHECK(first.calls("ARINVOICE", "read") == reads_for(invoices));
  CHECK(first.calls("ARPYMT", "read") == reads_for(payments));
  CHECK(f.calls("query") == 3);

  const auto reads_before = f.calls("read");
  auto second = f.run();
  INFO(second.text);

  CHECK(second.state() == "succeeded");
  for (const char* o : {"CUSTOMER", "ARINVOICE", "ARPYMT"}) {
    INFO(o);
    CHECK(second.obj(o, "missing") == 0);
    CHECK(second.obj(o, "stale") == 0);
    CHECK(second.obj(o, "gone_candidates") == 0);
    CHECK(second.obj(o, "created") + second.obj(o, "updated") + second.obj(o, "tombstoned") == 0);
    CHECK(second.calls(o, "list") == 1);
    CHECK(second.calls(o, "read") == 0);
  }
  CHECK(f.calls("read") == reads_before);
  CHECK(f.calls("query") == 6);
  // Neither old invoice is read again, nor does the paid one come in.
  CHECK_FALSE(f.live_in_mirror("ARINVOICE", f.old_paid));
}

TEST_CASE(
    "drift left by dropped events, silent deletes, a re-created invoice and a Draft is fixed "
    "exactly") {
  Seeded f;
  REQUIRE(f.run().state() == "succeeded");
  std::map<std::int64_t, std::string> customer_wm;
  for (const auto& c : f.list("CUSTOMER")) customer_wm[c.recordno] = c.fields.at("WHENMODIFIED");
  f.tick(10);
  // Changes whose events never came.
  auto customers = f.list("CUSTOMER");
  for (int i = 0; i < 10; ++i)
    f.set("CUSTOMER", customers[static_cast<std::size_t>(i)].recordno,
          {{"NAME", "Renamed " + std::to_string(i)}});
  for (int i = 0; i < 7; ++i) f.customer("NEW-" + std::to_string(i));
  std::vector<sandbox::Record> open;
  for (const auto& r : f.list("ARINVOICE")) {
    if (r.fields.at("STATE") == "Posted" && r.fields.at("TOTALPAID") == "0.00" &&
        r.recordno != f.old_open)
      open.push_back(r);
  }
  REQUIRE(open.size() >= 24);
  for (int i = 0; i < 20; ++i) f.remove("ARINVOICE", open[static_cast<std::size_t>(i)].recordno);
  // Re-created under a new RECORDNO (as Order Entry does).
  const auto& again = open[20];
  f.remove("ARINVOICE", again.recordno);
  auto recreated = f.add("ARINVOICE", {{"CUSTOMERID", again.fields.at("CUSTOMERID")},
                                       {"RECORDID", again.fields.at("RECORDID")},
                                       {"TOTALENTERED", again.fields.at("TOTALENTERED")}});
  // Turned Draft.
  f.set("ARINVOICE", open[21].recordno, {{"STATE", "Draft"}});
  // A payment whose event was dropped: the payment is missing, its invoice
  // stale (TOTALDUE moved).
  f.pay(open[22].fields.at("CUSTOMERID"), open[22].recordno, "1.00", "DRIFT-PAY");
  f.tick();

  // Customers changed: the 10 renamed, and those whose TOTALDUE moved with
  // their invoices.
  std::int64_t customers_changed = 0;
  for (const auto& c : f.list("CUSTOMER")) {
    auto it = customer_wm.find(c.recordno);
    customers_changed += it != customer_wm.end() && it->second != c.fields.at("WHENMODIFIED");
  }
  REQUIRE(customers_changed >= 10);
  auto r = f.run();
  INFO(r.text);
  CHECK(r.state() == "succeeded");
  CHECK(r.obj("CUSTOMER", "updated") == customers_changed);
  CHECK(r.obj("CUSTOMER", "created") == 7);
  CHECK(r.obj("CUSTOMER", "tombstoned") == 0);
  CHECK(r.obj("ARINVOICE", "tombstoned") == 21);
  CHECK(r.obj("ARINVOICE", "created") == 1);
  CHECK(r.obj("ARINVOICE", "drafts_removed") == 1);
  CHECK(r.obj("ARINVOICE", "updated") == 1);
  CHECK(r.obj("ARPYMT", "created") == 1);
  CHECK(f.live_in_mirror("ARINVOICE", recreated.recordno));
  CHECK_FALSE(f.live_in_mirror("ARINVOICE", again.recordno));
  {
    auto d = f.differences();
    for (const auto& line : d) INFO(line);
    std::string all;
    for (const auto& line : d) all += line + "\n";
    CHECK_MESSAGE(d.empty(), all);
  }
  // The bound: listing pages + ⌈(stale + missing + confirming) / 100⌉.
  CHECK(r.calls("CUSTOMER", "read") == 1);
  // 2 (missing, stale) + 21 confirming share one read call.
  CHECK(r.calls("ARINVOICE", "read") == 1);
  CHECK(r.calls("ARINVOICE", "list") == 1);

  auto next = f.run();
  INFO(next.text);
  for (const char* o : {"CUSTOMER", "ARINVOICE", "ARPYMT"}) CHECK(next.calls(o, "read") == 0);
}

TEST_CASE("a dry run reports the drift with sample keys and changes nothing") {
  Seeded f;
  REQUIRE(f.run().state() == "succeeded");
  f.tick(5);
  auto customers = f.list("CUSTOMER");
  f.set("CUSTOMER", customers[0].recordno, {{"NAME", "Silently renamed"}});
  f.customer("NEW-DRY");
  auto before = f.server.keys();
  auto diffs = f.differences();
  REQUIRE(diffs.size() >= 2);
  reconcile::RunRequest dry;
  dry.dry_run = true;
  auto r = f.run(dry);
  INFO(r.text);
  CHECK(r.obj("CUSTOMER", "stale") == 1);
  CHECK(r.obj("CUSTOMER", "missing") == 1);
  CHECK(r.obj("CUSTOMER", "updated") == 0);
  CHECK(r.doc["objects"]["CUSTOMER"]["samples"]["stale"][0].GetString() ==
        std::to_string(customers[0].recordno));
  CHECK(f.differences() == diffs);
  // Only the run's own report keys are new.
  auto after = f.server.keys();
  std::vector<std::string> added;
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                      std::back_inserter(added));
  for (const auto& k : added) CHECK(k.find(":reconcile:") != std::string::npos);
}

TEST_CASE("a listing longer than a page is paged by key within the call bound") {
  RunFixture f;
  for (int i = 0; i < 4100; ++i) f.customer("C-" + std::to_string(i));
  f.tick();
  auto first = f.run();
  INFO(first.text);
  CHECK(first.obj("CUSTOMER", "listed") == 4100);
  CHECK(first.obj("CUSTOMER", "totalcount") == 4100);
  CHECK(first.obj("CUSTOMER", "created") == 4100);
  CHECK(first.calls("CUSTOMER", "list") == 3);  // ⌈4100/2000⌉
  CHECK(first.calls("CUSTOMER", "read") == 41);
  // Deletes between pages' keys are found where they fall.
  auto customers = f.list("CUSTOMER");
  for (std::size_t i : {0u, 1999u, 2000u, 2001u, 4099u})
    f.remove("CUSTOMER", customers[i].recordno);
  f.tick();
  auto second = f.run();
  INFO(second.text);
  CHECK(second.calls("CUSTOMER", "list") == 3);
  CHECK(second.obj("CUSTOMER", "tombstoned") == 5);
  CHECK(second.calls("CUSTOMER", "read") == 1);
  CHECK(f.differences().empty());
}

TEST_CASE("records written before the index existed are compared once the back-fill has run") {
  Seeded f;
  REQUIRE(f.run().state() == "succeeded");
  // An upgrade: the index and its back-fill state are gone.
  for (const auto& k : f.server.keys()) {
    if (k.find(":idx") != std::string::npos) f.server.cmd({"DEL", k});
  }
  auto refused = f.start({});
  REQUIRE(refused.error);
  CHECK(refused.error->code == "index_building");
  f.build_index();
  auto r = f.run();
  INFO(r.text);
  for (const char* o : {"CUSTOMER", "ARINVOICE", "ARPYMT"}) {
    CHECK(r.obj(o, "missing") == 0);
    CHECK(r.obj(o, "gone_candidates") == 0);
  }
}

TEST_CASE("live events landing during a run are kept, and the run converges") {
  Seeded f;
  REQUIRE(f.run().state() == "succeeded");
  f.tick(5);
  auto customers = f.list("CUSTOMER");
  for (int i = 0; i < 5; ++i)
    f.set("CUSTOMER", customers[static_cast<std::size_t>(i)].recordno,
          {{"NAME", "Dropped " + std::to_string(i)}});
  auto finished = std::make_shared<std::promise<std::string>>();
  auto future = finished->get_future();
  REQUIRE_FALSE(f.start({}, finished).error);
  f.forward = true;
  for (int round = 0; round < 3; ++round) {
    f.tick();
    for (int i = 10; i < 20; ++i)
      f.set("CUSTOMER", customers[static_cast<std::size_t>(i)].recordno,
            {{"NAME", "Live " + std::to_string(round)}});
  }
  REQUIRE(future.wait_for(std::chrono::seconds(60)) == std::future_status::ready);
  f.drain_events();
  f.forward = false;
  {
    auto d = f.differences();
    for (const auto& line : d) INFO(line);
    std::string all;
    for (const auto& line : d) all += line + "\n";
    CHECK_MESSAGE(d.empty(), all);
  }
}

}  // namespace
}  // namespace isync::testing::run
