// Reconcile runs with several Intacct slots: the listing split into key
// ranges listed side by side, reads in parallel — the same fixes at the same
// cost as one call at a time.
#include <doctest/doctest.h>

#include "tests/reconcile/run_fixture.hpp"

namespace isync::testing::run {
namespace {

std::int64_t pages(std::int64_t listed) {
  return std::max<std::int64_t>(1, (listed + 1999) / 2000);
}

TEST_CASE("with three slots for reconcile, drift across the key ranges is fixed exactly") {
  RunFixture f(4);  // concurrency 4: reconcile may use 3
  f.company.seed_demo(500, 20000, 5);
  f.tick();
  auto first = f.run();
  INFO(first.text);
  REQUIRE(first.state() == "succeeded");
  // The first run into an empty mirror has no index to split by.
  CHECK(first.obj("ARINVOICE", "segments") == 1);

  f.tick(10);
  std::vector<sandbox::Record> open;
  for (const auto& r : f.list("ARINVOICE")) {
    if (r.fields.at("STATE") == "Posted" && r.fields.at("TOTALPAID") == "0.00") open.push_back(r);
  }
  REQUIRE(open.size() > 3000);
  // Spread over the whole key range: every 40th open invoice deleted, every
  // 40th (another) changed; new invoices above the highest RECORDNO.
  std::int64_t deleted = 0, changed = 0;
  for (std::size_t i = 0; i < open.size(); i += 40) {
    f.remove("ARINVOICE", open[i].recordno);
    ++deleted;
    if (i + 20 < open.size()) {
      f.set("ARINVOICE", open[i + 20].recordno, {{"DOCNUMBER", "moved-" + std::to_string(i)}});
      ++changed;
    }
  }
  for (int i = 0; i < 30; ++i) f.invoice("CUST-00001", "12.00");
  f.tick();

  auto r = f.run();
  INFO(r.text);
  CHECK(r.state() == "succeeded");
  CHECK(r.obj("ARINVOICE", "segments") == 3);
  CHECK(r.obj("ARINVOICE", "tombstoned") == deleted);
  CHECK(r.obj("ARINVOICE", "updated") == changed);
  CHECK(r.obj("ARINVOICE", "created") == 30);
  CHECK(r.obj("ARINVOICE", "listed") == r.obj("ARINVOICE", "totalcount"));
  {
    auto d = f.differences();
    std::string all;
    for (const auto& line : d) all += line + "\n";
    CHECK_MESSAGE(d.empty(), all);
  }
  // The bound: a page per 2000 listed, plus at most one short page per
  // further segment; reads of 100 from one pool.
  const auto listed = r.obj("ARINVOICE", "listed");
  CHECK(r.calls("ARINVOICE", "list") <= pages(listed) + r.obj("ARINVOICE", "segments") - 1);
  const auto to_read = r.obj("ARINVOICE", "missing") + r.obj("ARINVOICE", "stale") +
                       r.obj("ARINVOICE", "gone_candidates");
  CHECK(r.calls("ARINVOICE", "read") == (to_read + 99) / 100);

  // Right after: only the listing.
  const auto reads_before = f.calls("read");
  auto next = f.run();
  INFO(next.text);
  CHECK(next.state() == "succeeded");
  for (const char* o : {"CUSTOMER", "ARINVOICE", "ARPYMT"}) {
    INFO(o);
    CHECK(next.obj(o, "missing") + next.obj(o, "stale") + next.obj(o, "gone_candidates") == 0);
    CHECK(next.calls(o, "read") == 0);
  }
  CHECK(f.calls("read") == reads_before);
}

}  // namespace
}  // namespace isync::testing::run
