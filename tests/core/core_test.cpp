#include "core/core.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace isync;

TEST_CASE("ulids are 26 Crockford characters and strictly increase within a millisecond") {
  std::string prev;
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = make_ulid(1700000000000);
    CHECK(id.size() == 26);
    CHECK(id.find_first_not_of("0123456789ABCDEFGHJKMNPQRSTVWXYZ") == std::string::npos);
    CHECK(id > prev);
    prev = id;
    seen.insert(id);
  }
  CHECK(seen.size() == 1000);
}

TEST_CASE("ulids sort by time across milliseconds") {
  auto a = make_ulid(1800000000000);
  auto b = make_ulid(1800000000001);
  CHECK(a < b);
  CHECK(a.substr(0, 10) != b.substr(0, 10));
}

TEST_CASE("tenant ids are lower-case letters, digits, _ and -, 1 to 64 long") {
  CHECK(valid_tenant_id("acme"));
  CHECK(valid_tenant_id("a_b-9"));
  CHECK_FALSE(valid_tenant_id(""));
  CHECK_FALSE(valid_tenant_id("Acme"));
  CHECK_FALSE(valid_tenant_id("ac{me}"));
  CHECK_FALSE(valid_tenant_id(std::string(65, 'a')));
  CHECK(valid_tenant_id(std::string(64, 'a')));
}

TEST_CASE("constant-time comparison is plain equality") {
  CHECK(constant_time_equal("secret", "secret"));
  CHECK_FALSE(constant_time_equal("secret", "secreT"));
  CHECK_FALSE(constant_time_equal("secret", "secrets"));
}

TEST_CASE("sha256 of the empty string") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("log lines are JSON objects with escaped fields") {
  std::string captured;
  Log log(Level::info, [&](std::string_view line) { captured = line; });
  log.info("event applied", LogLine().str("tenant", "acme").num("attempt", 2).str("q", "a\"b\n"));
  CHECK(captured ==
        R"({"level":"info","msg":"event applied","tenant":"acme","attempt":2,"q":"a\"b\n"})");
  log.write(Level::debug, "hidden");
  CHECK(captured.find("hidden") == std::string::npos);
}

TEST_CASE("shorten keeps short text and marks cut text with an ellipsis") {
  CHECK(shorten("abc", 3) == "abc");
  CHECK(shorten("abcd", 3) == "abc...");
  CHECK(shorten("", 3) == "");
}

TEST_CASE("shorten never cuts a UTF-8 character in two") {
  // "aaé…": é is C3 A9; a cut at 3 would keep a lone C3.
  CHECK(shorten("aa\xc3\xa9" "bc", 3) == "aa...");
  CHECK(shorten("aa\xc3\xa9" "bc", 4) == "aa\xc3\xa9...");
  // A four-byte character (U+1F600) cut anywhere inside is dropped whole.
  for (std::size_t n = 2; n <= 4; ++n) CHECK(shorten("a\xf0\x9f\x98\x80" "b", n) == "a...");
  // Input that is not UTF-8 at all is cut at most 3 bytes early.
  CHECK(shorten(std::string(10, '\x80'), 5) == std::string(2, '\x80') + "...");
}
