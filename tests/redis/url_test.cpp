#include <doctest/doctest.h>

#include "redis/redis.hpp"

using isync::redis::parse_url;

TEST_CASE("a full redis url gives host, port, db, user and decoded password") {
  auto ep = parse_url("redis://ops:p%40ss@cache.internal:6380/3");
  REQUIRE(ep.has_value());
  CHECK(ep->host == "cache.internal");
  CHECK(ep->port == 6380);
  CHECK(ep->db == 3);
  CHECK(ep->user == "ops");
  CHECK(ep->password == "p@ss");
}

TEST_CASE("a bare redis url takes the defaults") {
  auto ep = parse_url("redis://localhost");
  REQUIRE(ep.has_value());
  CHECK(ep->host == "localhost");
  CHECK(ep->port == 6379);
  CHECK(ep->db == 0);
  CHECK(ep->password.empty());
}

TEST_CASE("an IPv6 host in brackets and a lone password are understood") {
  auto ep = parse_url("redis://secret@[::1]:7000/0");
  REQUIRE(ep.has_value());
  CHECK(ep->host == "::1");
  CHECK(ep->port == 7000);
  CHECK(ep->user.empty());
  CHECK(ep->password == "secret");
}

TEST_CASE("a bad redis url is an error naming the part at fault, never the password") {
  auto scheme = parse_url("http://localhost");
  REQUIRE(!scheme);
  CHECK(scheme.error().code == "invalid_config");
  CHECK(scheme.error().message.find("must start with redis://") != std::string::npos);

  auto port = parse_url("redis://:hunter2@localhost:99999");
  REQUIRE(!port);
  CHECK(port.error().message.find("port '99999'") != std::string::npos);
  CHECK(port.error().message.find("hunter2") == std::string::npos);

  auto db = parse_url("redis://localhost/x");
  REQUIRE(!db);
  CHECK(db.error().message.find("database 'x'") != std::string::npos);

  CHECK(!parse_url("redis://:6379"));
  CHECK(!parse_url("redis://a:b%zz@localhost"));
}
