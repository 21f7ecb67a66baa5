#include "ingest/detail/smart_event.hpp"

#include <doctest/doctest.h>

#include <string>

using isync::ingest::detail::body_encoding;
using isync::ingest::detail::BodyEncoding;
using isync::ingest::detail::form_unescape;
using isync::ingest::detail::parse_smart_event;

namespace {

constexpr const char* kForm = "application/x-www-form-urlencoded";
constexpr const char* kJson = "application/json";
constexpr const char* kXml = "application/xml";

void check_error(const isync::Result<isync::ingest::detail::SmartEvent>& r, const char* code,
                 const std::string& message) {
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == code);
  CHECK(r.error().message == message);
}

}  // namespace

TEST_CASE("content types are matched on the media type, any case, parameters allowed") {
  CHECK(body_encoding("application/x-www-form-urlencoded") == BodyEncoding::form);
  CHECK(body_encoding("Application/JSON; charset=utf-8") == BodyEncoding::json);
  CHECK(body_encoding(" text/xml ;charset=UTF-8") == BodyEncoding::xml);
  CHECK(body_encoding("application/xml") == BodyEncoding::xml);
  CHECK_FALSE(body_encoding("text/plain"));
  CHECK_FALSE(body_encoding(""));
  CHECK_FALSE(body_encoding("application/jsonx"));
  auto r = parse_smart_event("text/plain", "object=CUSTOMER");
  check_error(r, "unsupported_media_type",
              "Content-Type \"text/plain\" is not accepted; send "
              "application/x-www-form-urlencoded, application/json or application/xml");
}

TEST_CASE("a form body with & separators decodes %-escapes and +") {
  auto r = parse_smart_event(kForm,
                             "object=arinvoice&action=SET&recordno=42&whenmodified=01%2F02%2F2024+"
                             "10%3A20%3A30&customerid=C%2B1&Description=two+words%21");
  REQUIRE(r.has_value());
  CHECK(r->object == "ARINVOICE");
  CHECK(r->action == "set");
  CHECK(r->recordno == "42");
  CHECK(r->whenmodified == "01/02/2024 10:20:30");
  CHECK(r->version == 1704190830);
  REQUIRE(r->snapshot.size() == 2);
  CHECK(r->snapshot[0].first == "CUSTOMERID");
  CHECK(r->snapshot[0].second == "C+1");
  CHECK(r->snapshot[1].first == "DESCRIPTION");
  CHECK(r->snapshot[1].second == "two words!");
}

TEST_CASE("a form body with CRLF, LF and CR line breaks skips blank lines") {
  for (std::string sep : {"\r\n", "\n", "\r"}) {
    std::string body = "object=CUSTOMER" + sep + sep + "action=add" + sep + "recordno=7" + sep +
                       "  " + sep + "whenmodified=01/02/2024" + sep;
    auto r = parse_smart_event(kForm, body);
    REQUIRE(r.has_value());
    CHECK(r->object == "CUSTOMER");
    CHECK(r->recordno == "7");
    CHECK(r->snapshot.empty());
  }
}

TEST_CASE("a form pair without = or with a bad %-escape is malformed") {
  check_error(parse_smart_event(kForm, "object=CUSTOMER&action"), "malformed_body",
              "pair \"action\" has no '='");
  check_error(parse_smart_event(kForm, "object=CUSTOMER&name=50%zz"), "malformed_body",
              "field \"name\" has a bad %-escape in its value");
  check_error(parse_smart_event(kForm, "object=CUSTOMER&name=50%2"), "malformed_body",
              "field \"name\" has a bad %-escape in its value");
  CHECK_FALSE(form_unescape("%"));
  CHECK(*form_unescape("a%20b+c") == "a b c");
}

TEST_CASE("duplicate field names are malformed whatever their case") {
  check_error(parse_smart_event(kForm, "object=CUSTOMER&OBJECT=CUSTOMER"), "malformed_body",
              "field \"OBJECT\" appears more than once");
  check_error(parse_smart_event(kJson, R"({"recordno":"1","RecordNo":"2"})"), "malformed_body",
              "field \"RecordNo\" appears more than once");
  check_error(parse_smart_event(kXml, "<event><name>a</name><NAME>b</NAME></event>"),
              "malformed_body", "field \"NAME\" appears more than once");
}

TEST_CASE("a JSON object with string and number values is accepted, numbers kept as written") {
  auto r = parse_smart_event(kJson, R"( {"Object":"ARPYMT","action":"delete","recordno":12,)"
                                    R"("whenmodified":"2024-01-02T10:20:30Z","TOTALDUE":12.50} )"
                                    "\n");
  REQUIRE(r.has_value());
  CHECK(r->object == "ARPYMT");
  CHECK(r->action == "delete");
  CHECK(r->recordno == "12");
  CHECK(r->version == 1704190830);
  REQUIRE(r->snapshot.size() == 1);
  CHECK(r->snapshot[0].first == "TOTALDUE");
  CHECK(r->snapshot[0].second == "12.50");
}

TEST_CASE("JSON with trailing bytes, not an object, or not parsing is malformed") {
  auto zeros = parse_smart_event(kJson, R"({"recordno":007})");
  REQUIRE_FALSE(zeros.has_value());
  CHECK(zeros.error().code == "malformed_body");
  check_error(parse_smart_event(kJson, R"({"object":"CUSTOMER"} x)"), "malformed_body",
              "the JSON body has trailing bytes after the value, at offset 22");
  check_error(parse_smart_event(kJson, R"({"object":"CUSTOMER"}{"a":"b"})"), "malformed_body",
              "the JSON body has trailing bytes after the value, at offset 21");
  check_error(parse_smart_event(kJson, R"(["object"])"), "malformed_body",
              "the JSON body must be one object");
  check_error(parse_smart_event(kJson, std::string("{\"a\":\"b\"}\0", 10)), "malformed_body",
              "the JSON body has trailing bytes after the value, at offset 9");
  auto r = parse_smart_event(kJson, R"({"object":)");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "malformed_body");
  CHECK(r.error().message.rfind("the JSON body does not parse: ", 0) == 0);
}

TEST_CASE("a JSON body ending in a UTF-8 lead byte, or with a lone surrogate, is malformed") {
  // The exact bytes of the UTF-8-tail input: the validator once read past
  // the end of the body.
  const std::string tail = "{\"object\":\"CUSTOMER\",\"NAME\":\"\xf0";
  REQUIRE(tail.size() == 30);
  check_error(parse_smart_event(kJson, tail), "malformed_body",
              "the JSON body has invalid UTF-8 in a string, at offset 29");
  check_error(parse_smart_event(kJson, R"({"object":"CUSTOMER","NAME":"\ude00"})"),
              "malformed_body",
              "the JSON body has a lone surrogate \\ude00 in a string (not a character), before "
              "offset 36");
  check_error(parse_smart_event(kJson, R"({"object":"CUSTOMER","object":"ARPYMT"})"),
              "malformed_body", "the JSON body has the key \"object\" twice in one object");
}

TEST_CASE("nested JSON values, booleans and nulls are invalid_field naming the field") {
  check_error(parse_smart_event(kJson, R"({"object":"CUSTOMER","address":{"city":"X"}})"),
              "invalid_field", "field \"address\" must be a string or a number");
  check_error(parse_smart_event(kJson, R"({"tags":["a"]})"), "invalid_field",
              "field \"tags\" must be a string or a number");
  check_error(parse_smart_event(kJson, R"({"active":true})"), "invalid_field",
              "field \"active\" must be a string or a number");
  // Deep nesting stops at the depth cap, long before the stack could run out.
  std::string deep = "{\"x\":" + std::string(200000, '[') + std::string(200000, ']') + "}";
  check_error(parse_smart_event(kJson, deep), "malformed_body",
              "the JSON body is nested deeper than 64 levels");
}

TEST_CASE("an XML event with flat children is accepted") {
  auto r = parse_smart_event(
      "text/xml; charset=utf-8",
      "<?xml version=\"1.0\"?>\n<event><object>customer</object><action>add</action>"
      "<recordno> 99 </recordno><whenmodified>01/02/2024 10:20:30</whenmodified>"
      "<Name>A &amp; B</Name><empty/></event>\n");
  REQUIRE(r.has_value());
  CHECK(r->object == "CUSTOMER");
  CHECK(r->recordno == "99");
  REQUIRE(r->snapshot.size() == 2);
  CHECK(r->snapshot[0].first == "EMPTY");
  CHECK(r->snapshot[0].second.empty());
  CHECK(r->snapshot[1].first == "NAME");
  CHECK(r->snapshot[1].second == "A & B");
}

TEST_CASE("XML with a DOCTYPE, trailing content, another root or nesting is refused") {
  check_error(
      parse_smart_event(kXml, "<!DOCTYPE event [<!ENTITY x \"y\">]><event><a>&x;</a></event>"),
      "malformed_body", "the XML body has a DOCTYPE; DTDs are not accepted");
  check_error(parse_smart_event(kXml, "<!DOCTYPE event><event><a>1</a></event>"), "malformed_body",
              "the XML body has a DOCTYPE; DTDs are not accepted");
  check_error(parse_smart_event(kXml, "<event><a>1</a></event><event/>"), "malformed_body",
              "the XML body has content after the <event> element");
  check_error(parse_smart_event(kXml, "<event><a>1</a></event>junk"), "malformed_body",
              "the XML body has content after the <event> element");
  check_error(parse_smart_event(kXml, "junk<event><a>1</a></event>"), "malformed_body",
              "the XML body has content outside the <event> element");
  check_error(parse_smart_event(kXml, ""), "malformed_body",
              "the XML body must have <event> as its root element");
  check_error(parse_smart_event(kXml, "<record><a>1</a></record>"), "malformed_body",
              "the XML body must have <event> as its root element");
  check_error(parse_smart_event(kXml, "<event><a><b>1</b></a></event>"), "invalid_field",
              "field \"a\" must be flat text, not nested elements");
  auto broken = parse_smart_event(kXml, "<event><a>1</event>");
  REQUIRE_FALSE(broken.has_value());
  CHECK(broken.error().code == "malformed_body");
}

TEST_CASE("required fields are named when missing or invalid") {
  const std::string full = "object=CUSTOMER&action=set&recordno=5&whenmodified=01/02/2024";
  check_error(parse_smart_event(kForm, "action=set&recordno=5&whenmodified=01/02/2024"),
              "invalid_field", "field \"object\" is required");
  check_error(parse_smart_event(kForm, "object=CUSTOMER&recordno=5&whenmodified=01/02/2024"),
              "invalid_field", "field \"action\" is required");
  check_error(parse_smart_event(kForm, "object=CUSTOMER&action=set&whenmodified=01/02/2024"),
              "invalid_field", "field \"recordno\" is required");
  check_error(parse_smart_event(kForm, "object=CUSTOMER&action=set&recordno=5"), "invalid_field",
              "field \"whenmodified\" is required");
  check_error(parse_smart_event(kForm, "object=VENDOR&action=set&recordno=5&whenmodified=x"),
              "invalid_field",
              "field \"object\" must be CUSTOMER, ARINVOICE or ARPYMT, not \"VENDOR\"");
  check_error(parse_smart_event(kForm, "object=CUSTOMER&action=update&recordno=5"), "invalid_field",
              "field \"action\" must be add, set or delete, not \"update\"");
  CHECK(parse_smart_event(kForm, full).has_value());
}

TEST_CASE("recordno is a positive int64 without sign; leading zeros are dropped") {
  auto with = [](const std::string& recordno) {
    return parse_smart_event(
        kForm, "object=CUSTOMER&action=set&whenmodified=01/02/2024&recordno=" + recordno);
  };
  CHECK(with("007")->recordno == "7");
  check_error(with("%2B7"), "invalid_field",
              "field \"recordno\" must be a positive integer, not \"+7\"");
  CHECK(with("+7")->recordno == "7");  // '+' is a space in a form body
  CHECK(with("9223372036854775807")->recordno == "9223372036854775807");
  check_error(with("9223372036854775808"), "invalid_field",
              "field \"recordno\" \"9223372036854775808\" is too large for a record number");
  check_error(with("0"), "invalid_field",
              "field \"recordno\" must be a positive integer, not \"0\"");
  check_error(with("-3"), "invalid_field",
              "field \"recordno\" must be a positive integer, not \"-3\"");
  check_error(with("1+2"), "invalid_field",
              "field \"recordno\" must be a positive integer, not \"1 2\"");
  check_error(with("12a"), "invalid_field",
              "field \"recordno\" must be a positive integer, not \"12a\"");
}

TEST_CASE("every whenmodified form parses; anything else is invalid_field naming the value") {
  auto at = [](const std::string& when) {
    return parse_smart_event(kForm, "object=CUSTOMER&action=set&recordno=1&whenmodified=" + when);
  };
  CHECK(at("01/02/2024 10:20:30")->version == 1704190830);
  CHECK(at("01/02/2024")->version == 1704153600);
  CHECK(at("2024-01-02")->version == 1704153600);
  CHECK(at("2024-01-02T10:20:30")->version == 1704190830);
  CHECK(at("2024-01-02T10:20:30Z")->version == 1704190830);
  CHECK(at("2024-01-02T10:20:30.250Z")->version == 1704190830);
  CHECK(at("2024-01-02T12:20:30%2B02:00")->version == 1704190830);
  CHECK(at("2024-01-02T08:20:30-0200")->version == 1704190830);
  check_error(at("13/02/2024"), "invalid_field",
              "field \"whenmodified\" \"13/02/2024\" is not a date: expected MM/DD/YYYY "
              "HH:MM:SS, MM/DD/YYYY or ISO-8601");
  check_error(at("yesterday"), "invalid_field",
              "field \"whenmodified\" \"yesterday\" is not a date: expected MM/DD/YYYY HH:MM:SS, "
              "MM/DD/YYYY or ISO-8601");
}

TEST_CASE("200 fields are accepted, 201 are malformed; long or odd names are refused") {
  std::string body = "object=CUSTOMER&action=set&recordno=1&whenmodified=01/02/2024";
  for (int i = 0; i < 196; ++i) body += "&F" + std::to_string(i) + "=v";
  auto ok = parse_smart_event(kForm, body);
  REQUIRE(ok.has_value());
  CHECK(ok->snapshot.size() == 196);
  check_error(parse_smart_event(kForm, body + "&EXTRA=1"), "malformed_body",
              "the body has more than 200 fields");
  std::string long_name(129, 'A');
  check_error(parse_smart_event(kForm, long_name + "=1"), "malformed_body",
              "field name \"" + std::string(64, 'A') + "...\" is longer than 128 characters");
  check_error(parse_smart_event(kForm, "=1"), "malformed_body", "a field has an empty name");
  check_error(parse_smart_event(kForm, "a%20b=1"), "invalid_field",
              "field name \"a b\" may hold only letters, digits, '_', '.' and '-'");
}
