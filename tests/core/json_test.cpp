// core/json: the one JSON parser — bounds, depth, strictness by policy, and
// the RapidJSON 1.1.0 inputs that once crashed or misled it.
#include "core/json.hpp"

#include <doctest/doctest.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>
#include <vector>

using namespace isync;

namespace {

std::string error_of(std::string_view text, const json::Policy& policy = json::kStrict) {
  auto r = json::parse(text, policy);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "malformed_body");
  return r.error().message;
}

// Records the tokens a SAX pass sees, numbers as their text.
struct Tokens {
  std::vector<std::string> seen;
  bool add(std::string s) {
    seen.push_back(std::move(s));
    return true;
  }
  bool Null() { return add("null"); }
  bool Bool(bool b) { return add(b ? "true" : "false"); }
  bool Int(int i) { return add("int " + std::to_string(i)); }
  bool Uint(unsigned u) { return add("uint " + std::to_string(u)); }
  bool Int64(std::int64_t i) { return add("int64 " + std::to_string(i)); }
  bool Uint64(std::uint64_t u) { return add("uint64 " + std::to_string(u)); }
  bool Double(double) { return add("double"); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    return add("num " + std::string(s, n));
  }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    return add("str " + std::string(s, n));
  }
  bool StartObject() { return add("{"); }
  bool Key(const char* s, rapidjson::SizeType n, bool) { return add("key " + std::string(s, n)); }
  bool EndObject(rapidjson::SizeType) { return add("}"); }
  bool StartArray() { return add("["); }
  bool EndArray(rapidjson::SizeType) { return add("]"); }
};

}  // namespace

TEST_CASE("a JSON text is read only within its view, with no terminator needed") {
  const std::string buffer = R"({"a":1}{"b":2})";
  auto doc = json::parse(std::string_view(buffer).substr(0, 7));
  REQUIRE(doc.has_value());
  CHECK((*doc)["a"].GetInt() == 1);
  CHECK(error_of(std::string_view(buffer).substr(0, 5)) ==
        "the JSON body does not parse: Invalid value. at offset 5");
  CHECK(error_of("") == "the JSON body does not parse: The document is empty. at offset 0");
}

TEST_CASE("bytes after the value are refused, blanks are not") {
  CHECK(json::parse("{} \r\n\t").has_value());
  CHECK(error_of(R"({"a":1} x)") ==
        "the JSON body has trailing bytes after the value, at offset 8");
  CHECK(error_of(std::string("{}\0", 3)) ==
        "the JSON body has trailing bytes after the value, at offset 2");
  CHECK(error_of("[1][2]", {.subject = "the body"}) ==
        "the body has trailing bytes after the value, at offset 3");
}

TEST_CASE("200,000 nested brackets are refused at the depth cap under every policy") {
  // The exact bytes of the deep-nesting input: 200,000 '['.
  const std::string deep(200000, '[');
  CHECK(error_of(deep) == "the JSON body is nested deeper than 64 levels");
  CHECK(error_of(deep, json::kTrusted) == "the JSON text is nested deeper than 64 levels");
  std::string at_cap = std::string(64, '[') + std::string(64, ']');
  CHECK(json::parse(at_cap).has_value());
  CHECK(error_of(std::string(65, '[') + std::string(65, ']')) ==
        "the JSON body is nested deeper than 64 levels");
  CHECK(error_of(R"({"a":{"b":[1]}})", {.max_depth = 2}) ==
        "the JSON body is nested deeper than 2 levels");
}

TEST_CASE("the strict policy refuses a key twice in one object; the trusted one keeps both") {
  CHECK(error_of(R"({"a":1,"b":{"a":2},"a":3})") ==
        "the JSON body has the key \"a\" twice in one object");
  CHECK(json::parse(R"({"a":1,"b":{"a":2},"c":{"a":3}})").has_value());
  auto trusted = json::parse(R"({"a":1,"a":2})", json::kTrusted);
  REQUIRE(trusted.has_value());
  CHECK(trusted->MemberCount() == 2);
}

TEST_CASE("a body whose last byte is a UTF-8 lead byte is invalid UTF-8, read no further") {
  // The exact bytes of the UTF-8-tail input (a smart-event body).
  const std::string tail = "{\"object\":\"CUSTOMER\",\"NAME\":\"\xf0";
  CHECK(error_of(tail) == "the JSON body has invalid UTF-8 in a string, at offset 29");
  // The same, cut out of a longer buffer: nothing past the view is read.
  const std::string longer = tail + "\x9f\x98\x80\"}";
  CHECK(error_of(std::string_view(longer).substr(0, tail.size())) ==
        "the JSON body has invalid UTF-8 in a string, at offset 29");
  CHECK(json::parse(longer).has_value());
  CHECK(error_of("{\"a\":\"\xed\xa0\x80\"}") ==
        "the JSON body has invalid UTF-8 in a string, at offset 6");
}

TEST_CASE("a lone surrogate escape is refused by the strict policy, in keys and values") {
  // The exact bytes of the lone-surrogate input (a signed Stripe body).
  const std::string body = R"({"id":"evt_","type":"e","data":{"object":{"\ude00":{}}}})";
  CHECK(error_of(body) ==
        "the JSON body has a lone surrogate \\ude00 in a string (not a character), before offset "
        "50");
  CHECK(error_of(R"({"a":"x\udbff"})") ==
        "the JSON body does not parse: The surrogate pair in string is invalid. at offset 7");
  CHECK(error_of(R"({"a":"\udc00y"})").starts_with("the JSON body has a lone surrogate \\udc00"));
  auto pair = json::parse(R"({"a":"\ud83d\ude00"})");
  REQUIRE(pair.has_value());
  CHECK(std::string((*pair)["a"].GetString()) == "\xf0\x9f\x98\x80");
}

TEST_CASE("the trusted policy passes bytes through as written") {
  auto doc = json::parse("{\"raw\":\"\xff\xfe\"}", json::kTrusted);
  REQUIRE(doc.has_value());
  CHECK(std::string((*doc)["raw"].GetString()) == "\xff\xfe");
}

TEST_CASE("numbers that break full-precision parsing parse, and keep their text as strings") {
  // The long number of the crashing Stripe body, and the zero with a large exponent.
  const std::string n =
      "11844184067474435070.951617443023372000000000000000000000000000000000000000000000000000000"
      "000000000000000000000000000000000000000000000000000000000000000000000000000001E-491";
  for (const std::string& number :
       {n, std::string("0E80"), std::string("0e100"), std::string("3e308"), std::string("-0")}) {
    CAPTURE(number);
    auto doc = json::parse("[" + number + "]");
    REQUIRE(doc.has_value());
    CHECK((*doc)[0].IsNumber());
    Tokens tokens;
    REQUIRE(json::parse_events("[" + number + "]", {.numbers_as_strings = true}, tokens));
    CHECK(tokens.seen == std::vector<std::string>{"[", "num " + number, "]"});
  }
  auto zero = json::parse("[0e100]");
  REQUIRE(zero.has_value());
  CHECK((*zero)[0].GetDouble() == 0.0);
  CHECK(error_of("[1e400]") ==
        "the JSON body does not parse: Number too big to be stored in double. at offset 1");
}

TEST_CASE("an empty object parses and writes back") {
  // The exact bytes of the input every parse and Writer once tripped on.
  auto doc = json::parse("{}");
  REQUIRE(doc.has_value());
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> writer(out);
  CHECK(doc->Accept(writer));
  CHECK(std::string(out.GetString()) == "{}");
}

TEST_CASE("a handler that stops the parse is reported with the offset") {
  struct StopAtKey : Tokens {
    bool Key(const char*, rapidjson::SizeType, bool) { return false; }
  } handler;
  auto r = json::parse_events(R"({"a":1})", json::kStrict, handler);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "the JSON body was refused by its reader at offset 4");
}
