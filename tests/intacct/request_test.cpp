// Request builder: the exact XML of each function, escaping, limits, redaction.
#include <doctest/doctest.h>

#include "intacct/intacct.hpp"

namespace ii = isync::intacct;

namespace {

ii::Request with(ii::Call call, std::string control_id = "f1") {
  ii::Request r;
  r.sender_id = "SENDER";
  r.sender_password = ii::Secret("SENDERPW");
  r.control_id = "1700000000";
  r.auth = ii::SessionId{ii::Secret("SESSION-abc")};
  r.functions.push_back(ii::Function{std::move(control_id), std::move(call)});
  return r;
}

// The <content> part of the request document.
std::string content_of(const ii::Request& r) {
  auto xml = ii::to_xml(r);
  REQUIRE_MESSAGE(xml.has_value(), (xml ? std::string() : xml.error().message));
  auto begin = xml->find("<content>");
  auto end = xml->find("</content>");
  REQUIRE(begin != std::string::npos);
  REQUIRE(end != std::string::npos);
  return xml->substr(begin + 9, end - begin - 9);
}

std::string problem(const ii::Request& r) {
  auto xml = ii::to_xml(r);
  REQUIRE_FALSE(xml.has_value());
  CHECK(xml.error().code == "invalid_request");
  return xml.error().message;
}

}  // namespace

TEST_CASE("the envelope: control, session authentication, operation") {
  auto xml = ii::to_xml(with(ii::GetApiSession{}));
  REQUIRE(xml.has_value());
  CHECK(*xml ==
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><request><control><senderid>SENDER</senderid>"
        "<password>SENDERPW</password><controlid>1700000000</controlid><uniqueid>false</uniqueid>"
        "<dtdversion>3.0</dtdversion><includewhitespace>false</includewhitespace></control>"
        "<operation transaction=\"false\"><authentication><sessionid>SESSION-abc</sessionid>"
        "</authentication><content><function controlid=\"f1\"><getAPISession/></function>"
        "</content></operation></request>");
}

TEST_CASE("login authentication, uniqueid and transaction true, several functions") {
  auto r = with(ii::GetApiSession{std::string("E1")});
  r.auth = ii::Login{"U", "C", ii::Secret("P"), "ENTITY"};
  r.unique_id = true;
  r.transaction = true;
  r.functions.push_back(ii::Function{"f2", ii::GetApiSession{std::string()}});
  auto xml = ii::to_xml(r);
  REQUIRE(xml.has_value());
  CHECK(xml->find("<uniqueid>true</uniqueid>") != std::string::npos);
  CHECK(xml->find("<operation transaction=\"true\"><authentication><login><userid>U</userid>"
                  "<companyid>C</companyid><password>P</password><locationid>ENTITY</locationid>"
                  "</login></authentication>") != std::string::npos);
  CHECK(content_of(r) ==
        "<function controlid=\"f1\"><getAPISession><locationid>E1</locationid></getAPISession>"
        "</function><function controlid=\"f2\"><getAPISession><locationid/></getAPISession>"
        "</function>");
  // Without an entity the login has no <locationid>.
  r.auth = ii::Login{"U", "C", ii::Secret("P"), ""};
  CHECK(ii::to_xml(r)->find("<password>P</password></login>") != std::string::npos);
}

TEST_CASE("read: keys joined, fields default to *, returnFormat xml, at most 100 keys") {
  CHECK(content_of(with(ii::Read{"ARINVOICE", {"1", "2"}, {}, ""})) ==
        "<function controlid=\"f1\"><read><object>ARINVOICE</object><keys>1,2</keys>"
        "<fields>*</fields><returnFormat>xml</returnFormat></read></function>");
  CHECK(content_of(with(ii::Read{"SODOCUMENT", {"7"}, {"RECORDNO", "STATE"}, "Sales Order"})) ==
        "<function controlid=\"f1\"><read><object>SODOCUMENT</object><keys>7</keys>"
        "<fields>RECORDNO,STATE</fields><returnFormat>xml</returnFormat>"
        "<docparid>Sales Order</docparid></read></function>");
  std::vector<std::string> keys;
  for (int i = 0; i < 100; ++i) keys.push_back(std::to_string(i + 1));
  CHECK(ii::to_xml(with(ii::Read{"CUSTOMER", keys, {}, ""})).has_value());
  keys.push_back("101");
  CHECK(problem(with(ii::Read{"CUSTOMER", keys, {}, ""})).find("101 keys") != std::string::npos);
  CHECK(problem(with(ii::Read{"CUSTOMER", {}, {}, ""})).find("no keys") != std::string::npos);
  CHECK(problem(with(ii::Read{"CUSTOMER", {"1,2"}, {}, ""})).find("comma") != std::string::npos);
}

TEST_CASE("readByQuery escapes the query text; pagesize 1-1000") {
  ii::ReadByQuery q{"CUSTOMER",
                    {"RECORDNO", "CUSTOMERID"},
                    "WHENMODIFIED >= '01/31/2024 00:00:00' AND NAME < 'A&B'",
                    1000};
  CHECK(content_of(with(q)) ==
        "<function controlid=\"f1\"><readByQuery><object>CUSTOMER</object>"
        "<fields>RECORDNO,CUSTOMERID</fields><query>WHENMODIFIED &gt;= '01/31/2024 00:00:00' AND "
        "NAME &lt; 'A&amp;B'</query><pagesize>1000</pagesize></readByQuery></function>");
  q.pagesize = 1001;
  CHECK(problem(with(q)).find("pagesize 1001") != std::string::npos);
  q.pagesize = 0;
  CHECK(problem(with(q)).find("pagesize 0") != std::string::npos);
  q = ii::ReadByQuery{"CUSTOMER", {}, "", 100};
  CHECK(content_of(with(q)) ==
        "<function controlid=\"f1\"><readByQuery><object>CUSTOMER</object><fields>*</fields>"
        "<query/><pagesize>100</pagesize></readByQuery></function>");
}

TEST_CASE("readMore") {
  CHECK(content_of(with(ii::ReadMore{"7765623332WU1hh8CoA4QAAHxI9i8AAAAA5"})) ==
        "<function controlid=\"f1\"><readMore><resultId>7765623332WU1hh8CoA4QAAHxI9i8AAAAA5"
        "</resultId></readMore></function>");
  CHECK(problem(with(ii::ReadMore{""})).find("resultId") != std::string::npos);
}

TEST_CASE("query: select, filter tree, orderby, options, pagesize, offset") {
  using Op = ii::Filter::Op;
  ii::Query q;
  q.select = {"RECORDNO", "WHENMODIFIED"};
  q.object = "ARINVOICE";
  q.filter = ii::all_of(
      {ii::where(Op::greaterthanorequalto, "WHENMODIFIED", {"01/31/2024 00:00:00"}),
       ii::any_of({ii::where(Op::equalto, "CUSTOMERID", {"C-1"}),
                   ii::where(Op::in, "STATE", {"Posted", "Paid"})}),
       ii::where(Op::between, "TOTALDUE", {"0", "10"}), ii::where(Op::isnull, "PRBATCH")});
  q.order_by = {{"RECORDNO", true}, {"WHENMODIFIED", false}};
  q.case_insensitive = true;
  q.show_private = true;
  q.pagesize = 2000;
  q.offset = 2000;
  CHECK(content_of(with(q)) ==
        "<function controlid=\"f1\"><query><select><field>RECORDNO</field><field>WHENMODIFIED"
        "</field></select><object>ARINVOICE</object><filter><and><greaterthanorequalto><field>"
        "WHENMODIFIED</field><value>01/31/2024 00:00:00</value></greaterthanorequalto><or><equalto>"
        "<field>CUSTOMERID</field><value>C-1</value></equalto><in><field>STATE</field><value>Posted"
        "</value><value>Paid</value></in></or><between><field>TOTALDUE</field><value>0</value>"
        "<value>10</value></between><isnull><field>PRBATCH</field></isnull></and></filter><orderby>"
        "<order><field>RECORDNO</field><ascending/></order><order><field>WHENMODIFIED</field>"
        "<descending/></order></orderby><options><caseinsensitive>true</caseinsensitive>"
        "<showprivate>true</showprivate></options><pagesize>2000</pagesize><offset>2000</offset>"
        "</query></function>");

  SUBCASE("minimal query omits filter, orderby, options and a zero offset") {
    ii::Query m;
    m.select = {"RECORDNO"};
    m.object = "CUSTOMER";
    CHECK(content_of(with(m)) ==
          "<function controlid=\"f1\"><query><select><field>RECORDNO</field></select><object>"
          "CUSTOMER</object><pagesize>100</pagesize></query></function>");
  }
  SUBCASE("rules") {
    auto bad = q;
    bad.select = {};
    CHECK(problem(with(bad)).find("select") != std::string::npos);
    bad.select = {"*"};
    CHECK(problem(with(bad)).find("wildcard") != std::string::npos);
    bad = q;
    bad.pagesize = 2001;
    CHECK(problem(with(bad)).find("2001") != std::string::npos);
    bad = q;
    bad.offset = -1;
    CHECK(problem(with(bad)).find("negative") != std::string::npos);
    bad = q;
    bad.filter = ii::all_of({ii::where(Op::equalto, "A", {"1"})});
    CHECK(problem(with(bad)).find("<and> needs at least two") != std::string::npos);
    bad.filter = ii::any_of({});
    CHECK(problem(with(bad)).find("<or> needs at least two") != std::string::npos);
    bad.filter = ii::where(Op::between, "A", {"1"});
    CHECK(problem(with(bad)).find("<between> on A has 1 values") != std::string::npos);
    bad.filter = ii::where(Op::isnotnull, "A", {"1"});
    CHECK(problem(with(bad)).find("<isnotnull>") != std::string::npos);
    bad.filter = ii::where(Op::like, "", {"x%"});
    CHECK(problem(with(bad)).find("no field") != std::string::npos);
  }
}

TEST_CASE("create and update: ordered fields, nesting, repeated children, escaping") {
  ii::Create c{"CUSTOMER",
               {ii::leaf("NAME", "Smith & <Sons> \"Ltd\" 'UK'"),
                ii::group("DISPLAYCONTACT", {ii::leaf("PRINTAS", "Smith & Sons")})}};
  CHECK(content_of(with(c)) ==
        "<function controlid=\"f1\"><create><CUSTOMER><NAME>Smith &amp; &lt;Sons&gt; \"Ltd\" 'UK'"
        "</NAME><DISPLAYCONTACT><PRINTAS>Smith &amp; Sons</PRINTAS></DISPLAYCONTACT></CUSTOMER>"
        "</create></function>");
  ii::Create pay{"ARPYMT",
                 {ii::leaf("CUSTOMERID", "JHC"), ii::leaf("RECEIPTDATE", "05/15/2019"),
                  ii::group("ARPYMTDETAILS",
                            {ii::group("ARPYMTDETAIL", {ii::leaf("RECORDKEY", "101"),
                                                        ii::leaf("TRX_PAYMENTAMOUNT", "125")}),
                             ii::group("ARPYMTDETAIL", {ii::leaf("RECORDKEY", "102"),
                                                        ii::leaf("TRX_PAYMENTAMOUNT", "5")})})}};
  CHECK(content_of(with(pay)) ==
        "<function controlid=\"f1\"><create><ARPYMT><CUSTOMERID>JHC</CUSTOMERID><RECEIPTDATE>"
        "05/15/2019</RECEIPTDATE><ARPYMTDETAILS><ARPYMTDETAIL><RECORDKEY>101</RECORDKEY>"
        "<TRX_PAYMENTAMOUNT>125</TRX_PAYMENTAMOUNT></ARPYMTDETAIL><ARPYMTDETAIL><RECORDKEY>102"
        "</RECORDKEY><TRX_PAYMENTAMOUNT>5</TRX_PAYMENTAMOUNT></ARPYMTDETAIL></ARPYMTDETAILS>"
        "</ARPYMT></create></function>");
  ii::Update u{"CUSTOMER", {ii::leaf("CUSTOMERID", "C1"), ii::leaf("STATUS", "inactive")}};
  CHECK(content_of(with(u)) ==
        "<function controlid=\"f1\"><update><CUSTOMER><CUSTOMERID>C1</CUSTOMERID><STATUS>inactive"
        "</STATUS></CUSTOMER></update></function>");

  CHECK(problem(with(ii::Create{"CUSTOMER", {ii::leaf("NA ME", "x")}})).find("NA ME") !=
        std::string::npos);
  CHECK(problem(with(ii::Create{"CUST<OMER", {ii::leaf("NAME", "x")}})).find("object") !=
        std::string::npos);
  CHECK(problem(with(ii::Update{"CUSTOMER", {}})).find("no fields") != std::string::npos);
  CHECK(problem(with(ii::Create{"CUSTOMER", {ii::leaf("NAME", "a\x01")}}))
            .find("control character") != std::string::npos);
}

TEST_CASE("delete") {
  CHECK(content_of(with(ii::Delete{"ARPYMT", {"69"}})) ==
        "<function controlid=\"f1\"><delete><object>ARPYMT</object><keys>69</keys></delete>"
        "</function>");
  CHECK(problem(with(ii::Delete{"ARPYMT", {}})).find("no keys") != std::string::npos);
}

TEST_CASE("controlids: attribute escaping, length, uniqueness") {
  CHECK(content_of(with(ii::ReadMore{"r"}, "a\"<&'b")) ==
        "<function controlid=\"a&quot;&lt;&amp;'b\"><readMore><resultId>r</resultId></readMore>"
        "</function>");
  CHECK(problem(with(ii::ReadMore{"r"}, "")).find("controlid") != std::string::npos);
  CHECK(problem(with(ii::ReadMore{"r"}, std::string(257, 'x'))).find("256") != std::string::npos);
  auto r = with(ii::ReadMore{"r"});
  r.functions.push_back(r.functions.front());
  CHECK(problem(r).find("share controlid") != std::string::npos);
  r.functions.clear();
  CHECK(problem(r).find("no function") != std::string::npos);
}

TEST_CASE("describe() redacts every secret and keeps the rest") {
  auto r = with(ii::Read{"CUSTOMER", {"1"}, {}, ""});
  auto log = ii::describe(r);
  CHECK(log.find("SENDERPW") == std::string::npos);
  CHECK(log.find("SESSION-abc") == std::string::npos);
  CHECK(log.find("<password>***</password>") != std::string::npos);
  CHECK(log.find("<sessionid>***</sessionid>") != std::string::npos);
  CHECK(log.find("<keys>1</keys>") != std::string::npos);
  r.auth = ii::Login{"U", "C", ii::Secret("USERPW"), ""};
  log = ii::describe(r);
  CHECK(log.find("USERPW") == std::string::npos);
  CHECK(log.find("<userid>U</userid><companyid>C</companyid><password>***</password>") !=
        std::string::npos);
  r.functions.clear();
  CHECK(ii::describe(r) == "invalid request: the request has no function");
  std::ostringstream os;
  os << ii::Secret("hidden");
  CHECK(os.str() == "***");
}

TEST_CASE("function names and writes") {
  CHECK(ii::function_name(ii::ReadByQuery{}) == "readByQuery");
  CHECK(ii::function_name(ii::GetApiSession{}) == "getAPISession");
  CHECK(ii::function_name(ii::Delete{}) == "delete");
  CHECK(ii::is_write(ii::Create{}));
  CHECK(ii::is_write(ii::Update{}));
  CHECK(ii::is_write(ii::Delete{}));
  CHECK_FALSE(ii::is_write(ii::Query{}));
  CHECK_FALSE(ii::is_write(ii::Read{}));
}

TEST_CASE("legacy function: element, attributes in order, child fields, escaping") {
  ii::Legacy reverse{"reverse_arpayment",
                     {{"key", "7"}},
                     {ii::group("datereversed", {ii::leaf("year", "2026"), ii::leaf("month", "11"),
                                                 ii::leaf("day", "22")}),
                      ii::leaf("memo", "Refund <full> & final")},
                     true};
  CHECK(content_of(with(reverse)) ==
        "<function controlid=\"f1\"><reverse_arpayment key=\"7\"><datereversed><year>2026</year>"
        "<month>11</month><day>22</day></datereversed><memo>Refund &lt;full&gt; &amp; final</memo>"
        "</reverse_arpayment></function>");
  CHECK(content_of(
            with(ii::Legacy{"delete_customer", {{"customerid", "C\"1"}, {"b", "2"}}, {}, true})) ==
        "<function controlid=\"f1\"><delete_customer customerid=\"C&quot;1\" b=\"2\"/></function>");
  CHECK(ii::function_name(reverse) == "reverse_arpayment");
  CHECK(ii::is_write(reverse));
  reverse.write = false;
  CHECK_FALSE(ii::is_write(reverse));
}

TEST_CASE("legacy function: a name or attribute name that is not an XML name is invalid_request") {
  CHECK(problem(with(ii::Legacy{"reverse arpayment", {}, {}, true})) ==
        "function reverse arpayment (controlid \"f1\"): function name \"reverse arpayment\" is "
        "not a valid element name");
  CHECK(problem(with(ii::Legacy{"", {}, {}, true})).find("function name \"\"") !=
        std::string::npos);
  CHECK(problem(with(ii::Legacy{"reverse_arpayment", {{"k=y", "7"}}, {}, true})) ==
        "function reverse_arpayment (controlid \"f1\"): attribute name \"k=y\" is not a valid "
        "XML name");
  CHECK(problem(with(ii::Legacy{"reverse_arpayment", {{"key", "7"}, {"key", "8"}}, {}, true}))
            .find("given twice") != std::string::npos);
  CHECK(problem(with(ii::Legacy{"reverse_arpayment", {{"key", "7\x01"}}, {}, true}))
            .find("control character") != std::string::npos);
  CHECK(problem(with(ii::Legacy{"reverse_arpayment", {}, {ii::leaf("a b", "1")}, true}))
            .find("field name \"a b\"") != std::string::npos);
}
