#include "ingest/detail/http_util.hpp"

#include <doctest/doctest.h>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "ingest/detail/router.hpp"

using namespace isync::ingest::detail;
namespace http = boost::beast::http;
using boost::asio::ip::make_address;

TEST_CASE("targets split at ? and query parameters are decoded") {
  auto t = split_target("/v1/intacct/acme/events?token=a%2Bb+c&x=1");
  CHECK(t.path == "/v1/intacct/acme/events");
  CHECK(t.query == "token=a%2Bb+c&x=1");
  CHECK(*query_param(t.query, "token") == "a+b c");
  CHECK(*query_param(t.query, "x") == "1");
  CHECK_FALSE(query_param(t.query, "y"));
  CHECK_FALSE(query_param("token=%zz", "token"));
  CHECK(split_target("/healthz").query.empty());
}

TEST_CASE("bearer tokens are read with any case of the scheme") {
  CHECK(bearer_token("Bearer abc") == "abc");
  CHECK(bearer_token("bearer   abc ") == "abc");
  CHECK(bearer_token("Basic abc").empty());
  CHECK(bearer_token("Bearer").empty());
  CHECK(bearer_token("Bearerabc").empty());
  CHECK(bearer_token("").empty());
}

TEST_CASE("CIDRs match v4, v6 and v4-mapped addresses; bad ones are errors") {
  auto net = Cidr::parse("10.1.0.0/16");
  REQUIRE(net.has_value());
  CHECK(net->contains(make_address("10.1.200.3")));
  CHECK_FALSE(net->contains(make_address("10.2.0.1")));
  CHECK(net->contains(make_address("::ffff:10.1.0.9")));
  auto one = Cidr::parse("192.0.2.7");
  REQUIRE(one.has_value());
  CHECK(one->contains(make_address("192.0.2.7")));
  CHECK_FALSE(one->contains(make_address("192.0.2.8")));
  auto v6 = Cidr::parse("fd00::/8");
  REQUIRE(v6.has_value());
  CHECK(v6->contains(make_address("fd12::1")));
  CHECK_FALSE(v6->contains(make_address("fe80::1")));
  CHECK(Cidr::parse("0.0.0.0/0")->contains(make_address("8.8.8.8")));
  CHECK_FALSE(Cidr::parse("10.0.0.0/33").has_value());
  CHECK_FALSE(Cidr::parse("10.0.0.0/").has_value());
  CHECK_FALSE(Cidr::parse("nope/8").has_value());
  CHECK(Cidr::parse("nope/8").error().message ==
        "\"nope/8\" is not a CIDR such as 10.0.0.0/8 or fd00::/8");
}

TEST_CASE("X-Forwarded-For is believed only from trusted proxies, right to left") {
  std::vector<Cidr> trusted{*Cidr::parse("10.0.0.0/8")};
  auto peer_proxy = make_address("10.0.0.1");
  auto peer_other = make_address("198.51.100.1");
  CHECK(*client_address(peer_other, "203.0.113.5", trusted) == peer_other);
  CHECK(*client_address(peer_proxy, "203.0.113.5", trusted) == make_address("203.0.113.5"));
  CHECK(*client_address(peer_proxy, "1.1.1.1, 203.0.113.5, 10.0.0.7", trusted) ==
        make_address("203.0.113.5"));
  CHECK_FALSE(client_address(peer_proxy, "garbage", trusted));
  CHECK(*client_address(peer_proxy, "", trusted) == peer_proxy);
}

TEST_CASE("error bodies are JSON with escaped text") {
  CHECK(error_body("not_found", "no route for \"/x\"") ==
        R"({"error":{"code":"not_found","message":"no route for \"/x\""}})");
}

TEST_CASE("routes are matched on method and path; templates label metrics") {
  auto m = match_public(http::verb::post, "/v1/intacct/acme/events", false);
  CHECK(m.id == RouteId::events);
  CHECK(m.method_allowed);
  CHECK(m.tenant == "acme");
  CHECK(m.route == "/v1/intacct/{tenant}/events");
  auto wrong = match_public(http::verb::get, "/v1/intacct/acme/events", false);
  CHECK(wrong.id == RouteId::events);
  CHECK_FALSE(wrong.method_allowed);
  CHECK(wrong.allow == "POST");
  CHECK(match_public(http::verb::post, "/v1/noop/acme/events", false).id == RouteId::none);
  CHECK(match_public(http::verb::post, "/v1/noop/acme/events", true).id == RouteId::noop);
  CHECK(match_public(http::verb::post, "/v1/intacct//events", false).id == RouteId::none);
  CHECK(match_public(http::verb::post, "/v1/intacct/acme/events/", false).id == RouteId::none);
  CHECK(match_public(http::verb::get, "/healthz", false).id == RouteId::healthz);
  CHECK(match_public(http::verb::get, "/metrics", false).id == RouteId::none);
  CHECK(match_admin(http::verb::get, "/metrics").id == RouteId::metrics);
  auto rec = match_admin(http::verb::get, "/v1/tenants/acme/invoices/12");
  CHECK(rec.id == RouteId::mirror_record);
  CHECK(rec.collection == "invoices");
  CHECK(rec.recordno == "12");
  CHECK(match_admin(http::verb::get, "/v1/tenants/acme/customers").id == RouteId::mirror_find);
  CHECK(match_admin(http::verb::get, "/v1/tenants/acme/vendors/1").id == RouteId::none);
  CHECK_FALSE(match_admin(http::verb::delete_, "/v1/tenants/acme/payments/1").method_allowed);
}

TEST_CASE("response_head writes the bytes Beast's serializer writes for the same answer") {
  // Every combination the listener answers by hand (session.cpp).
  struct Extra {
    std::string allow, retry_after;
  };
  const std::vector<unsigned> statuses{200, 202, 400, 401, 404, 405, 413, 415, 422, 431, 503};
  const std::vector<Extra> extras{{"", ""}, {"POST", ""}, {"", "1"}, {"GET, DELETE", "30"}};
  int compared = 0;
  for (unsigned version : {10u, 11u}) {
    for (unsigned status : statuses) {
      for (bool keep_alive : {true, false}) {
        for (const auto& extra : extras) {
          for (const std::string& body : {std::string(), std::string(R"({"event_id":"x"})")}) {
            boost::beast::http::response<boost::beast::http::string_body> res;
            res.result(status);
            res.version(version);
            res.set(boost::beast::http::field::content_type, "application/json");
            res.set(boost::beast::http::field::cache_control, "no-store");
            if (!extra.allow.empty()) res.set(boost::beast::http::field::allow, extra.allow);
            if (!extra.retry_after.empty()) {
              res.set(boost::beast::http::field::retry_after, extra.retry_after);
            }
            res.body() = body;
            res.keep_alive(keep_alive);
            res.prepare_payload();
            std::ostringstream beast_bytes;
            beast_bytes << res;
            std::string ours =
                response_head(version, status, "application/json", "no-store", extra.allow,
                              extra.retry_after, keep_alive, body.size()) +
                body;
            CAPTURE(version);
            CAPTURE(status);
            CAPTURE(keep_alive);
            CHECK(ours == beast_bytes.str());
            ++compared;
          }
        }
      }
    }
  }
  CHECK(compared == 2 * 11 * 2 * 4 * 2);
}
