// The query function ordered by RECORDNO pages through a kept selection of
// its filter: the same rows, totalcount and numremaining as the general path
// (scan and sort), also when records change between pages.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "intacct/intacct.hpp"
#include "sandbox/sandbox.hpp"
#include "tests/sandbox/options.hpp"

namespace sb = isync::sandbox;
namespace ii = isync::intacct;
using ii::Status;

namespace {

using isync::sandbox::test::kStart;
using isync::sandbox::test::options;

ii::FunctionResult run(sb::Company& c, const std::string& body) {
  const auto reply = c.handle_gateway(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?><request><control><senderid>SENDER</senderid>"
      "<password>sender-pw</password><controlid>q</controlid><uniqueid>false</uniqueid>"
      "<dtdversion>3.0</dtdversion></control><operation><authentication><login><userid>ws_user"
      "</userid><companyid>ACME</companyid><password>user-pw</password></login>"
      "</authentication><content><function controlid=\"f\">" +
          body + "</function></content></operation></request>",
      "application/xml");
  auto r = ii::parse_response(reply.status, reply.content_type, reply.body);
  REQUIRE_MESSAGE(r.has_value(), reply.body);
  REQUIRE_MESSAGE(r->results.size() == 1, reply.body);
  REQUIRE_MESSAGE(r->results[0].status == Status::success, reply.body);
  return r->results[0];
}

struct Page {
  std::vector<std::string> rows;  // RECORDNO|WHENMODIFIED|CUSTOMERID
  std::int64_t totalcount = 0, count = 0, numremaining = 0;
  bool operator==(const Page&) const = default;
};

// `general`: a second order key (RECORDNO is unique, so the order is the
// same) takes the scan-and-sort path.
Page page(sb::Company& c, const std::string& object, const std::string& filter, bool general,
          int pagesize = 50, int offset = 0) {
  std::string orders = "<order><field>RECORDNO</field></order>";
  if (general) orders += "<order><field>WHENMODIFIED</field></order>";
  const auto res = run(
      c, "<query><object>" + object +
             "</object><select><field>RECORDNO</field><field>WHENMODIFIED</field><field>CUSTOMERID"
             "</field></select>" +
             (filter.empty() ? "" : "<filter>" + filter + "</filter>") + "<orderby>" + orders +
             "</orderby><pagesize>" + std::to_string(pagesize) + "</pagesize><offset>" +
             std::to_string(offset) + "</offset></query>");
  Page p;
  for (const auto& row : res.data->rows) {
    p.rows.push_back(*row.get("RECORDNO") + "|" + *row.get("WHENMODIFIED") + "|" +
                     *row.get("CUSTOMERID"));
  }
  p.totalcount = res.data->totalcount.value_or(-1);
  p.count = res.data->count.value_or(-1);
  p.numremaining = res.data->numremaining.value_or(-1);
  return p;
}

std::string cond(const char* op, const std::string& field, const std::string& value) {
  return std::string("<") + op + "><field>" + field + "</field><value>" + value + "</value></" +
         op + ">";
}

std::string key_gt(std::int64_t last) {
  return cond("greaterthan", "RECORDNO", std::to_string(last));
}

std::string scope(std::int64_t last) {
  return "<and>" + key_gt(last) + "<or>" +
         cond("greaterthanorequalto", "WHENMODIFIED", "11/22/2026 13:00:05") +
         cond("notequalto", "TOTALDUE", "0") + "</or></and>";
}

std::int64_t last_of(const Page& p) {
  return std::stoll(p.rows.back().substr(0, p.rows.back().find('|')));
}

}  // namespace

TEST_CASE("query by RECORDNO: key paging gives the general path's rows and counts") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  c.seed_demo(40, 400, 7);
  clock.advance(10'000);
  for (std::int64_t no = 3; no <= 400; no += 37) {
    REQUIRE(c.set("ARINVOICE", no, {{"DOCNUMBER", "later-" + std::to_string(no)}}).has_value());
  }
  const std::vector<std::pair<std::string, std::function<std::string(std::int64_t)>>> filters = {
      {"ARINVOICE", scope},
      {"CUSTOMER", key_gt},
      {"ARINVOICE",
       [](std::int64_t last) {
         return "<and>" + key_gt(last) + cond("equalto", "STATE", "Draft") + "</and>";
       }},
      {"ARPYMT", [](std::int64_t last) {
         return "<and>" + key_gt(last) +
                cond("greaterthanorequalto", "WHENMODIFIED", "11/22/2026 13:00:00") + "</and>";
       }}};
  for (const auto& [object, filter] : filters) {
    CAPTURE(object);
    std::int64_t last = 0, listed = 0, total = -1;
    for (int pages = 0; pages < 100; ++pages) {
      const auto indexed = page(c, object, filter(last), false);
      CHECK(indexed == page(c, object, filter(last), true));
      if (total < 0) total = indexed.totalcount;
      listed += indexed.count;
      if (indexed.numremaining == 0) break;
      last = last_of(indexed);
    }
    CHECK(listed == total);
    CHECK(total > 0);
  }
}

TEST_CASE("query by RECORDNO: bounds of every kind, offsets and an empty range") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  c.seed_demo(30, 0, 3);
  const std::vector<std::string> filters = {
      "",
      cond("greaterthanorequalto", "RECORDNO", "12.5"),
      cond("greaterthan", "RECORDNO", "12.5"),
      cond("lessthan", "RECORDNO", "7"),
      cond("lessthanorequalto", "RECORDNO", "7.5"),
      cond("equalto", "RECORDNO", "9"),
      cond("equalto", "RECORDNO", "9.5"),
      "<and>" + cond("greaterthan", "RECORDNO", "20") + cond("lessthan", "RECORDNO", "10") +
          "</and>",
      "<and>" + cond("greaterthan", "RECORDNO", "3") + cond("lessthanorequalto", "RECORDNO", "25") +
          cond("notequalto", "NAME", "none") + "</and>",
      "<or>" + cond("lessthan", "RECORDNO", "4") + cond("greaterthan", "RECORDNO", "27") + "</or>",
      "<between><field>RECORDNO</field><value>4</value><value>8</value></between>"};
  for (const auto& f : filters) {
    CAPTURE(f);
    for (int offset : {0, 3, 40}) {
      const auto indexed = page(c, "CUSTOMER", f, false, 4, offset);
      CHECK(indexed == page(c, "CUSTOMER", f, true, 4, offset));
    }
  }
  CHECK(page(c, "CUSTOMER", cond("equalto", "RECORDNO", "9.5"), false).totalcount == 0);
  CHECK(page(c, "CUSTOMER", cond("greaterthan", "RECORDNO", "12.5"), false).totalcount == 18);
}

TEST_CASE("query by RECORDNO: records added, changed and deleted between pages are seen") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  c.seed_demo(20, 200, 11);
  const std::string object = "ARINVOICE";
  auto first = page(c, object, scope(0), false);
  REQUIRE(first.numremaining > 0);
  // Changes after the first page (the selection exists now): a new invoice,
  // one paid in full (leaves the TOTALDUE ≠ 0 half of the filter), one
  // deleted, one changed later (enters by WHENMODIFIED).
  clock.advance(10'000);
  const auto added = c.add(object, {{"CUSTOMERID", "CUST-00001"}, {"TOTALENTERED", "10.00"}});
  REQUIRE(added.has_value());
  const auto deleted = c.list(object, last_of(first) + 10, 1).at(0).recordno;
  REQUIRE(c.remove(object, deleted).has_value());
  const auto changed = c.list(object, last_of(first) + 20, 1).at(0).recordno;
  REQUIRE(c.set(object, changed, {{"DOCNUMBER", "moved"}}).has_value());
  sb::Record paid;
  for (const auto& r : c.list(object, last_of(first) + 30, 200)) {
    if (r.fields.at("STATE") == "Posted") {
      paid = r;
      break;
    }
  }
  REQUIRE(paid.recordno != 0);
  REQUIRE(c.add("ARPYMT",
                {{"CUSTOMERID", paid.fields.at("CUSTOMERID")},
                 {"PAYMENTMETHOD", "Cash"},
                 {"UNDEPOSITEDACCOUNTNO", "1010"},
                 {"RECEIPTDATE", "11/22/2026"},
                 {"ARPYMTDETAILS.ARPYMTDETAIL.0.RECORDKEY", std::to_string(paid.recordno)},
                 {"ARPYMTDETAILS.ARPYMTDETAIL.0.TRX_PAYMENTAMOUNT", paid.fields.at("TOTALDUE")}})
              .has_value());
  std::int64_t last = last_of(first);
  std::vector<std::string> seen;
  for (int pages = 0; pages < 100; ++pages) {
    const auto indexed = page(c, object, scope(last), false);
    CHECK(indexed == page(c, object, scope(last), true));
    seen.insert(seen.end(), indexed.rows.begin(), indexed.rows.end());
    if (indexed.numremaining == 0) break;
    last = last_of(indexed);
  }
  const auto has = [&](std::int64_t no) {
    for (const auto& r : seen) {
      if (r.starts_with(std::to_string(no) + "|")) return true;
    }
    return false;
  };
  CHECK(has(added->recordno));
  CHECK_FALSE(has(deleted));
  CHECK(has(changed));
}
