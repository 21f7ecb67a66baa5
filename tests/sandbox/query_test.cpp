// readByQuery query text, readMore paging on a snapshot, and the query function.
#include <doctest/doctest.h>

#include <set>

#include "intacct/intacct.hpp"
#include "sandbox/sandbox.hpp"
#include "tests/sandbox/options.hpp"

namespace sb = isync::sandbox;
namespace ii = isync::intacct;
using ii::Status;

namespace {

using isync::sandbox::test::kStart;
using isync::sandbox::test::options;

std::string request(const std::string& body) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><request><control><senderid>SENDER</senderid>"
         "<password>sender-pw</password><controlid>q</controlid><uniqueid>false</"
         "uniqueid><dtdversion>3.0</dtdversion>"
         "</control><operation><authentication><login><userid>ws_user</userid><companyid>ACME</"
         "companyid>"
         "<password>user-pw</password></login></authentication><content><function "
         "controlid=\"f\">" +
         body + "</function></content></operation></request>";
}

ii::FunctionResult run(sb::Company& c, const std::string& body) {
  const auto reply = c.handle_gateway(request(body), "application/xml");
  auto r = ii::parse_response(reply.status, reply.content_type, reply.body);
  REQUIRE_MESSAGE(r.has_value(), reply.body);
  REQUIRE_MESSAGE(r->results.size() == 1, reply.body);
  return r->results[0];
}

std::string rbq(const std::string& query, const std::string& fields = "RECORDNO",
                const std::string& extra = "") {
  std::string q;
  for (char ch : query) {
    if (ch == '<')
      q += "&lt;";
    else if (ch == '&')
      q += "&amp;";
    else if (ch == '>')
      q += "&gt;";
    else
      q += ch;
  }
  return "<readByQuery><object>CUSTOMER</object><fields>" + fields + "</fields><query>" + q +
         "</query>" + extra + "</readByQuery>";
}

// RECORDNOs matching `query`, sorted.
std::vector<std::int64_t> matching(sb::Company& c, const std::string& query) {
  const auto res = run(c, rbq(query, "RECORDNO", "<pagesize>1000</pagesize>"));
  REQUIRE_MESSAGE(res.status == Status::success,
                  query << ": " << (res.errors.empty() ? "" : res.errors[0].description2));
  std::vector<std::int64_t> out;
  for (const auto& row : res.data->rows) out.push_back(std::stoll(*row.get("RECORDNO")));
  std::sort(out.begin(), out.end());
  return out;
}

using V = std::vector<std::int64_t>;

// Five customers: 1 Alpha (active, due 0), 2 Beta O'Neil (inactive), 3 gamma (no email),
// 4 Delta, 5 Epsilon; created one second apart.
void five(sb::Company& c, isync::ManualClock& clock) {
  const char* names[] = {"Alpha", "Beta O'Neil", "gamma", "Delta", "Epsilon"};
  for (int i = 0; i < 5; ++i) {
    std::map<std::string, std::string> f = {{"NAME", names[i]},
                                            {"CUSTOMERID", "C" + std::to_string(i + 1)}};
    if (i != 2) f["DISPLAYCONTACT.EMAIL1"] = "c" + std::to_string(i + 1) + "@example.com";
    if (i == 1) f["STATUS"] = "inactive";
    REQUIRE(c.add("CUSTOMER", f).has_value());
    clock.advance(1000);
  }
}

}  // namespace

TEST_CASE("readByQuery query text: comparisons, like, in, IS NULL, AND/OR/NOT and parentheses") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  five(c, clock);
  CHECK(matching(c, "") == V{1, 2, 3, 4, 5});
  CHECK(matching(c, "NAME = 'Alpha'") == V{1});
  CHECK(matching(c, "NAME = 'alpha'") == V{});  // case-sensitive
  CHECK(matching(c, "NAME = 'Beta O\\'Neil'") == V{2});
  CHECK(matching(c, "RECORDNO != 3") == V{1, 2, 4, 5});
  CHECK(matching(c, "RECORDNO <> 3") == V{1, 2, 4, 5});
  CHECK(matching(c, "RECORDNO < 3") == V{1, 2});
  CHECK(matching(c, "RECORDNO <= 3") == V{1, 2, 3});
  CHECK(matching(c, "RECORDNO > 3") == V{4, 5});
  CHECK(matching(c, "RECORDNO >= '3'") == V{3, 4, 5});
  CHECK(matching(c, "RECORDNO >= 10") == V{});  // numbers compare as numbers, not text
  CHECK(matching(c, "WHENMODIFIED >= '11/22/2026 13:00:02'") == V{3, 4, 5});
  CHECK(matching(c, "WHENMODIFIED > '11/22/2026 13:00:00'") == V{2, 3, 4, 5});
  CHECK(matching(c, "WHENMODIFIED > '11/22/2026'") == V{1, 2, 3, 4, 5});
  CHECK(matching(c, "WHENMODIFIED >= '11/23/2026'") == V{});
  CHECK(matching(c, "NAME like '%a'") == V{1, 3, 4});
  CHECK(matching(c, "NAME not like '_eta%'") == V{1, 3, 4, 5});
  CHECK(matching(c, "CUSTOMERID in ('C1', 'C4', 'C9')") == V{1, 4});
  CHECK(matching(c, "CUSTOMERID not in ('C1','C4')") == V{2, 3, 5});
  CHECK(matching(c, "DISPLAYCONTACT.EMAIL1 IS NULL") == V{3});
  CHECK(matching(c, "DISPLAYCONTACT.EMAIL1 is not null") == V{1, 2, 4, 5});
  CHECK(matching(c, "STATUS = 'active' AND RECORDNO > 2 AND NOT NAME = 'Delta'") == V{3, 5});
  CHECK(matching(c, "NAME = 'Alpha' OR NAME = 'gamma' AND STATUS = 'inactive'") == V{1});
  CHECK(matching(c, "(NAME = 'Alpha' OR NAME = 'gamma') AND STATUS = 'active'") == V{1, 3});
  CHECK(matching(c, "NOT (RECORDNO < 2 OR RECORDNO > 4)") == V{2, 3, 4});
  CHECK(matching(c, "name = 'Alpha'") == V{1});  // field names are not case-sensitive
}

TEST_CASE(
    "readByQuery refuses unknown fields, bad syntax, bad literals and pagesize out of 1-1000") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  auto res = run(c, rbq("COLOUR = 'red'"));
  CHECK(res.status == Status::failure);
  CHECK(res.errors.at(0).errorno == "DL02000001");
  CHECK(res.errors.at(0).description2 == "Unknown field 'COLOUR' on object CUSTOMER.");
  res = run(c, rbq("NAME = 'x'", "NAME,COLOUR"));
  CHECK(res.errors.at(0).description2 == "Unknown field 'COLOUR' on object CUSTOMER.");
  res = run(c, rbq("NAME = 'unterminated"));
  CHECK(res.errors.at(0).errorno == "DL02000001");
  CHECK(res.errors.at(0).description2 == "Invalid query: unterminated string");
  res = run(c, rbq("NAME 'x'"));
  CHECK(res.errors.at(0).description2 == "Invalid query: expected an operator after NAME");
  res = run(c, rbq("(NAME = 'x'"));
  CHECK(res.errors.at(0).description2 == "Invalid query: missing ')'");
  res = run(c, rbq("WHENMODIFIED > '2026-11-22T00:00:00Z'"));
  CHECK(res.errors.at(0).errorno == "DL02000001");
  res = run(c, rbq("", "RECORDNO", "<pagesize>1001</pagesize>"));
  CHECK(res.errors.at(0).description2 == "pagesize must be between 1 and 1000.");
  res = run(c, rbq("", "RECORDNO", "<pagesize>0</pagesize>"));
  CHECK(res.status == Status::failure);
}

TEST_CASE(
    "readByQuery pages with resultId through readMore to numremaining 0, on the first call's "
    "snapshot") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  for (int i = 0; i < 25; ++i)
    REQUIRE(c.add("CUSTOMER", {{"NAME", "N" + std::to_string(i)}}).has_value());
  auto res = run(c, rbq("", "RECORDNO,NAME", "<pagesize>10</pagesize>"));
  REQUIRE(res.status == Status::success);
  REQUIRE(res.data);
  CHECK(res.data->listtype == "customer");
  CHECK(res.data->rows.at(0).element == "customer");
  CHECK(res.data->count == 10);
  CHECK(res.data->totalcount == 25);
  CHECK(res.data->numremaining == 15);
  REQUIRE(res.data->result_id);
  const auto id = *res.data->result_id;
  CHECK_FALSE(id.empty());
  std::set<std::string> seen;
  std::vector<std::string> order;
  for (const auto& row : res.data->rows) {
    seen.insert(*row.get("RECORDNO"));
    order.push_back(*row.get("RECORDNO"));
  }
  // Added after the first page: not part of this result set.
  REQUIRE(c.add("CUSTOMER", {{"NAME", "late"}}).has_value());
  const auto more = "<readMore><resultId>" + id + "</resultId></readMore>";
  res = run(c, more);
  CHECK(res.data->count == 10);
  CHECK(res.data->numremaining == 5);
  for (const auto& row : res.data->rows) seen.insert(*row.get("RECORDNO"));
  res = run(c, more);
  CHECK(res.function == "readMore");
  CHECK(res.data->count == 5);
  CHECK(res.data->totalcount == 25);
  CHECK(res.data->numremaining == 0);
  for (const auto& row : res.data->rows) seen.insert(*row.get("RECORDNO"));
  CHECK(seen.size() == 25);
  CHECK(seen.count("26") == 0);
  // Rows do not come in RECORDNO order (PROTOCOL.md §3).
  CHECK_FALSE(std::is_sorted(
      order.begin(), order.end(),
      [](const std::string& a, const std::string& b) { return std::stoll(a) < std::stoll(b); }));
  res = run(c, more);
  CHECK(res.status == Status::failure);
  CHECK(res.errors.at(0).errorno == "DL02000001");
  CHECK(res.errors.at(0).description2 == "resultId '" + id + "' is unknown or has expired.");
}

TEST_CASE(
    "a single page answers an empty resultId; an idle resultId expires after result_id_lifetime") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  for (int i = 0; i < 3; ++i) REQUIRE(c.add("CUSTOMER", {{"NAME", "N"}}).has_value());
  auto res = run(c, rbq(""));
  CHECK(res.data->count == 3);
  CHECK(res.data->numremaining == 0);
  CHECK(res.data->result_id == std::string{});
  res = run(c, rbq("NAME = 'none'"));
  CHECK(res.data->count == 0);
  CHECK(res.data->totalcount == 0);
  res = run(c, rbq("", "RECORDNO", "<pagesize>1</pagesize>"));
  const auto id = *res.data->result_id;
  clock.advance(30 * 60 * 1000);
  res = run(c, "<readMore><resultId>" + id + "</resultId></readMore>");
  CHECK(res.status == Status::failure);
  CHECK(res.errors.at(0).description2 == "resultId '" + id + "' is unknown or has expired.");
}

TEST_CASE("query: select, filter tree, orderby, caseinsensitive, pagesize and offset") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  five(c, clock);
  const std::string select =
      "<select><field>RECORDNO</field><field>NAME</field></select><object>CUSTOMER</object>";
  auto res =
      run(c, "<query>" + select +
                 "<filter><or><equalto><field>STATUS</field><value>inactive</value></equalto>"
                 "<like><field>NAME</field><value>%a</value></like></or></filter>"
                 "<orderby><order><field>NAME</field><descending/></order></orderby></query>");
  REQUIRE(res.status == Status::success);
  CHECK(res.data->listtype == "CUSTOMER");
  CHECK(res.data->rows.at(0).element == "CUSTOMER");
  CHECK(res.data->totalcount == 4);
  CHECK(res.data->offset == 0);
  CHECK(res.data->count == 4);
  CHECK(res.data->numremaining == 0);
  std::vector<std::string> names;
  for (const auto& row : res.data->rows) names.push_back(*row.get("NAME"));
  CHECK(names == std::vector<std::string>{"gamma", "Delta", "Beta O'Neil", "Alpha"});
  CHECK(res.data->rows[0].fields.size() == 2);

  res = run(c, "<query>" + select +
                   "<orderby><order><field>RECORDNO</field><ascending/></order></orderby>"
                   "<pagesize>2</pagesize><offset>2</offset></query>");
  CHECK(res.data->totalcount == 5);
  CHECK(res.data->offset == 2);
  CHECK(res.data->count == 2);
  CHECK(res.data->numremaining == 1);
  CHECK(*res.data->rows.at(0).get("RECORDNO") == "3");
  res = run(c, "<query>" + select + "<pagesize>2</pagesize><offset>4</offset></query>");
  CHECK(res.data->count == 1);
  CHECK(res.data->numremaining == 0);

  const std::string gamma =
      "<filter><equalto><field>NAME</field><value>GAMMA</value></equalto></filter>";
  CHECK(run(c, "<query>" + select + gamma + "</query>").data->count == 0);
  CHECK(run(c, "<query>" + select + gamma +
                   "<options><caseinsensitive>true</caseinsensitive></options></query>")
            .data->count == 1);
  res = run(c, "<query>" + select +
                   "<filter><between><field>RECORDNO</field><value>2</value><value>4</value></"
                   "between></filter></query>");
  CHECK(res.data->count == 3);
  res = run(c, "<query>" + select +
                   "<filter><in><field>CUSTOMERID</field><value>C1</value><value>C5</value></in></"
                   "filter></query>");
  CHECK(res.data->count == 2);
  res =
      run(c, "<query>" + select +
                 "<filter><isnull><field>DISPLAYCONTACT.EMAIL1</field></isnull></filter></query>");
  CHECK(res.data->count == 1);
}

TEST_CASE(
    "query refuses '*', a missing select, unknown fields, one-child and/or and pagesize over "
    "2000") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  auto res = run(c, "<query><select><field>*</field></select><object>CUSTOMER</object></query>");
  CHECK(res.status == Status::failure);
  CHECK(res.errors.at(0).description2 == "query does not accept '*' in <select>.");
  res = run(c, "<query><object>CUSTOMER</object></query>");
  CHECK(res.errors.at(0).description2 == "query needs <select> with at least one <field>.");
  res = run(c, "<query><select><field>COLOUR</field></select><object>CUSTOMER</object></query>");
  CHECK(res.errors.at(0).errorno == "DL02000001");
  res = run(c,
            "<query><select><field>NAME</field></select><object>CUSTOMER</object><filter><and>"
            "<equalto><field>NAME</field><value>x</value></equalto></and></filter></query>");
  CHECK(res.errors.at(0).description2 == "Invalid query: <and> needs at least two conditions");
  res = run(c,
            "<query><select><field>NAME</field></select><object>CUSTOMER</object><pagesize>2001</"
            "pagesize></query>");
  CHECK(res.errors.at(0).description2 == "pagesize must be between 1 and 2000.");
  res = run(c, "<query><select><field>NAME</field></select><object>NOPE</object></query>");
  CHECK(res.errors.at(0).errorno == "Query Failed");
}

TEST_CASE("readByQuery on invoices compares amounts and dates by value") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  REQUIRE(c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}).has_value());
  REQUIRE(c.add("ARINVOICE",
                {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "9.50"}, {"WHENCREATED", "01/15/2026"}})
              .has_value());
  REQUIRE(c.add("ARINVOICE",
                {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "100"}, {"WHENCREATED", "12/01/2025"}})
              .has_value());
  auto res = run(c,
                 "<readByQuery><object>ARINVOICE</object><fields>*</fields><query>TOTALDUE &gt; 10 "
                 "AND WHENCREATED "
                 "&lt; '01/01/2026'</query></readByQuery>");
  REQUIRE(res.status == Status::success);
  REQUIRE(res.data->rows.size() == 1);
  CHECK(*res.data->rows[0].get("TOTALENTERED") == "100.00");
  CHECK(*res.data->rows[0].get("WHENDUE") == "12/31/2025");
  CHECK(*res.data->rows[0].get("CUSTOMERNAME") == "One");
}
