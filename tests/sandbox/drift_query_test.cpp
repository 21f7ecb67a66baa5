// The query and read shapes reconcile sends, through the client's own request
// writer: the invoice listing paged by key, and the payment read-back.
#include <doctest/doctest.h>

#include <algorithm>

#include "tests/sandbox/drift_fixture.hpp"

namespace ii = isync::intacct;
using ii::Status;
using namespace std::chrono_literals;
using namespace isync::sandbox::test::drift;

// The listing reconcile sends for invoices: RECORDNO > last seen AND
// (WHENMODIFIED >= since OR TOTALDUE != 0), RECORDNO ascending, showprivate.
ii::Query invoice_listing(std::int64_t after, const std::string& since, int pagesize) {
  ii::Query q;
  q.object = "ARINVOICE";
  q.select = {"RECORDNO", "WHENMODIFIED", "STATE", "TOTALDUE"};
  q.filter = ii::all_of(
      {ii::where(ii::Filter::Op::greaterthan, "RECORDNO", {std::to_string(after)}),
       ii::any_of({ii::where(ii::Filter::Op::greaterthanorequalto, "WHENMODIFIED", {since}),
                   ii::where(ii::Filter::Op::notequalto, "TOTALDUE", {"0"})})});
  q.order_by = {{"RECORDNO", true}};
  q.show_private = true;
  q.pagesize = pagesize;
  return q;
}

TEST_CASE("reconcile's invoice listing pages by key, compares times and amounts by value") {
  Fixture fx;
  must(fx.c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}));
  // Old (05/10/2025): 1 open, 2 paid, 3 open; new (01/05/2026): 4 paid, 5 open, 6 draft.
  fx.offset(std::chrono::seconds(-k240Days));
  std::vector<std::int64_t> inv;
  for (int i = 0; i < 3; ++i) {
    inv.push_back(
        must(fx.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "10.00"}})).recordno);
  }
  REQUIRE(fx.c.add("ARPYMT", payment("C1", inv[1], "10.00", "P-OLD")).has_value());
  fx.offset(0s);
  for (int i = 0; i < 3; ++i) {
    inv.push_back(
        must(fx.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "10.00"}})).recordno);
  }
  REQUIRE(fx.c.add("ARPYMT", payment("C1", inv[3], "10.00", "P-NEW")).has_value());
  must(fx.c.set("ARINVOICE", inv[5], {{"STATE", "Draft"}}));
  REQUIRE(fx.f("ARINVOICE", inv[1], "TOTALDUE") == "0.00");
  REQUIRE(fx.f("ARINVOICE", inv[1], "WHENMODIFIED") == "05/10/2025 12:00:00");

  // "12/01/2025 00:00:00" sorts after "01/05/2026 …" as text: only a time
  // comparison includes the new invoices.
  const std::string since = "12/01/2025 00:00:00";
  std::vector<std::int64_t> listed;
  std::int64_t after = 0;
  int pages = 0;
  for (;;) {
    const auto r = run(fx.c, invoice_listing(after, since, 2));
    REQUIRE(r.status == Status::success);
    ++pages;
    const auto rows = r.data->rows_of("ARINVOICE");
    for (const auto* row : rows) {
      CHECK(row->fields.size() == 4);  // exactly the selected fields
      CHECK(text(row, "STATE") != "<absent>");
    }
    const auto nos = recordnos(r, "ARINVOICE");
    CHECK(std::is_sorted(nos.begin(), nos.end()));
    CHECK(r.data->count == static_cast<std::int64_t>(nos.size()));
    CHECK(r.data->totalcount == *r.data->count + *r.data->numremaining);
    listed.insert(listed.end(), nos.begin(), nos.end());
    if (*r.data->numremaining == 0) break;
    REQUIRE(!nos.empty());
    after = nos.back();
    REQUIRE(pages < 10);
  }
  // Everything but the old paid invoice; the draft is listed (as STATE Draft).
  CHECK(listed == std::vector<std::int64_t>{inv[0], inv[2], inv[3], inv[4], inv[5]});
  CHECK(pages == 3);

  // One page of 2000: count = totalcount, numremaining 0; "0.00" is 0.
  auto whole = invoice_listing(0, since, 2000);
  whole.filter->children[1].children[1].values = {"0.00"};
  const auto r = run(fx.c, whole);
  REQUIRE(r.status == Status::success);
  CHECK(r.data->count == 5);
  CHECK(r.data->totalcount == 5);
  CHECK(r.data->numremaining == 0);
  CHECK(r.data->offset == 0);
  CHECK(r.data->listtype == "ARINVOICE");
  const auto* first = r.data->rows_of("ARINVOICE").at(0);
  CHECK(text(first, "WHENMODIFIED") == "05/10/2025 12:00:00");
  CHECK(text(first, "TOTALDUE") == "10.00");
  CHECK(text(first, "STATE") == "Posted");
}

TEST_CASE(
    "reconcile's payment read-back: <in> on DOCNUMBER with 100 values, and read of 100 keys") {
  Fixture fx;
  must(fx.c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}));
  const auto inv = must(fx.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "500"}}));
  std::vector<std::int64_t> pays;
  for (int i = 0; i < 10; ++i) {
    pays.push_back(
        must(fx.c.add("ARPYMT", payment("C1", inv.recordno, std::to_string(i + 1) + ".00",
                                        "pi_" + std::to_string(i))))
            .recordno);
  }
  ii::Query q;
  q.object = "ARPYMT";
  q.select = {"RECORDNO",  "DOCNUMBER", "CUSTOMERID",  "TOTALENTERED",
              "TOTALPAID", "STATE",     "WHENMODIFIED"};
  std::vector<std::string> wanted;
  for (int i = 0; i < 100; ++i)
    wanted.push_back("pi_" + std::to_string(i * 3));  // 0, 3, 6, 9 exist
  q.filter = ii::where(ii::Filter::Op::in, "DOCNUMBER", wanted);
  q.order_by = {{"RECORDNO", true}};
  q.show_private = true;
  q.pagesize = 2000;
  const auto r = run(fx.c, q);
  REQUIRE(r.status == Status::success);
  CHECK(recordnos(r, "ARPYMT") == std::vector<std::int64_t>{pays[0], pays[3], pays[6], pays[9]});
  CHECK(r.data->numremaining == 0);
  const auto* row = r.data->rows_of("ARPYMT").at(1);
  CHECK(text(row, "DOCNUMBER") == "pi_3");
  CHECK(text(row, "CUSTOMERID") == "C1");
  CHECK(text(row, "TOTALENTERED") == "4.00");
  CHECK(text(row, "STATE") == "Posted");

  // read: 100 keys, of which 10 exist; missing ones are simply absent.
  std::vector<std::string> keys;
  for (int i = 0; i < 100; ++i) keys.push_back(std::to_string(pays[0] + i));
  const auto read = run(fx.c, ii::Read{"ARPYMT", keys, {"RECORDNO", "WHENMODIFIED", "STATE"}, ""});
  REQUIRE(read.status == Status::success);
  CHECK(recordnos(read, "ARPYMT") == pays);
  CHECK(read.data->count == 10);
}
