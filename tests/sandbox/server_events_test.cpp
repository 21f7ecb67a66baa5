// Smart-event posts from the sandbox server, received by an in-test HTTP sink:
// one post per change, with the token, a bearer token and snapshots; dropped
// events, a receiver that is down, the order per record, a full post queue,
// and the events URLs the server accepts.
#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <string>
#include <thread>
#include <vector>

#include "sandbox/detail/poster_queue.hpp"
#include "tests/sandbox/server_fixture.hpp"

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace intacct = isync::intacct;
namespace sandbox = isync::sandbox;
using asio::ip::tcp;
using isync::testing::eventually;
using isync::testing::free_port;
using namespace std::chrono_literals;
using namespace isync::sandbox::test::server;

TEST_CASE("control add, patch and delete each post exactly one smart event with the token") {
  Fixture fx;
  auto added = fx.control(http::verb::post, "/v1/records/CUSTOMER",
                          R"({"fields":{"NAME":"Acme & Sons","CUSTOMERID":"C-T1"}})");
  REQUIRE(added.status == 201);
  auto recordno = field_of(added.body, "recordno");
  REQUIRE(!recordno.empty());
  CHECK(field_of(added.body, "object") == "CUSTOMER");
  REQUIRE(eventually([&] { return fx.sink.count() >= 1; }));

  auto patched = fx.control(http::verb::patch, "/v1/records/customer/" + recordno,
                            R"({"fields":{"NAME":"Acme Ltd"}})");
  REQUIRE(patched.status == 200);
  CHECK(field_of(patched.body, "NAME") == "Acme Ltd");
  REQUIRE(eventually([&] { return fx.sink.count() >= 2; }));

  auto deleted = fx.control(http::verb::delete_, "/v1/records/CUSTOMER/" + recordno);
  CHECK(deleted.status == 204);
  CHECK(deleted.body.empty());
  REQUIRE(eventually([&] { return fx.server->poster_stats().posted >= 3; }));
  std::this_thread::sleep_for(200ms);  // room for a wrongly repeated post to arrive

  auto got = fx.sink.received();
  REQUIRE(got.size() == 3);
  const char* actions[] = {"add", "set", "delete"};
  for (std::size_t i = 0; i < got.size(); ++i) {
    CAPTURE(got[i].body);
    CHECK(got[i].target == std::string("/v1/intacct/demo/events?token=") + kEventToken);
    CHECK(got[i].content_type == "application/x-www-form-urlencoded");
    CHECK(got[i].user_agent == "Intacct Standard HTTP Agent");
    CHECK(got[i].authorization.empty());
    CHECK(got[i].body.rfind("object=CUSTOMER&action=" + std::string(actions[i]) +
                                "&recordno=" + recordno + "&whenmodified=",
                            0) == 0);
    CHECK(looks_like_encoded_stamp(form_value(got[i].body, "whenmodified")));
    CHECK(form_value(got[i].body, "NAME") == "<absent>");  // thin by default
  }
  auto stats = fx.control(http::verb::get, "/v1/stats");
  REQUIRE(stats.status == 200);
  CHECK(field_of(stats.body, "posted") == "3");
  CHECK(field_of(stats.body, "failed") == "0");
  CHECK(fx.control(http::verb::get, "/v1/records/CUSTOMER/" + recordno).status == 404);
  CHECK(fx.logs().find(kEventToken) == std::string::npos);
}

TEST_CASE("with a bearer token and snapshots, posts carry the header and every field") {
  EventSink sink;
  sandbox::EventOptions events;
  events.url = "http://127.0.0.1:" + std::to_string(sink.port()) + "/hook";
  events.bearer_token = isync::Secret("bearer-for-events");
  events.snapshot = true;
  Fixture fx(events);
  auto added = fx.control(http::verb::post, "/v1/records/CUSTOMER",
                          R"({"fields":{"NAME":"Snap & Co","CUSTOMERID":"C-SNAP"}})");
  REQUIRE(added.status == 201);
  REQUIRE(eventually([&] { return sink.count() == 1; }));
  auto got = sink.received()[0];
  CHECK(got.target == "/hook");
  CHECK(got.authorization == "Bearer bearer-for-events");
  CHECK(form_value(got.body, "NAME") == "Snap+%26+Co");
  CHECK(form_value(got.body, "CUSTOMERID") == "C-SNAP");
  CHECK(form_value(got.body, "RECORDNO") == "<absent>");  // not repeated beside recordno
  CHECK(fx.logs().find("bearer-for-events") == std::string::npos);
}

TEST_CASE("drop_events drops exactly N smart events") {
  Fixture fx;
  REQUIRE(fx.control(http::verb::put, "/v1/faults", R"({"drop_events":2})").status == 200);
  for (int i = 0; i < 4; ++i) {
    auto r = fx.control(http::verb::post, "/v1/records/CUSTOMER",
                        R"({"fields":{"NAME":"Drop )" + std::to_string(i) + R"("}})");
    REQUIRE(r.status == 201);
  }
  REQUIRE(eventually([&] { return fx.server->poster_stats().posted == 2; }));
  std::this_thread::sleep_for(200ms);
  CHECK(fx.sink.count() == 2);
  auto stats = fx.server->poster_stats();
  CHECK(stats.dropped == 2);
  CHECK(stats.failed == 0);
  CHECK(field_of(fx.control(http::verb::get, "/v1/faults").body, "drop_events") == "0");
}

TEST_CASE("drop_events_ratio 1 keeps every event from the sink and lists it; ratio 0 posts again") {
  Fixture fx;
  REQUIRE(fx.control(http::verb::put, "/v1/faults", R"({"drop_events_ratio":1})").status == 200);
  auto r = fx.control(http::verb::post, "/v1/records/CUSTOMER", R"({"fields":{"NAME":"Gone"}})");
  REQUIRE(r.status == 201);
  const auto recordno = field_of(r.body, "recordno");
  REQUIRE(fx.control(http::verb::put, "/v1/faults", R"({"drop_events_ratio":0})").status == 200);
  REQUIRE(fx.control(http::verb::patch, "/v1/records/CUSTOMER/" + recordno,
                     R"({"fields":{"NAME":"Back"}})")
              .status == 200);
  REQUIRE(eventually([&] { return fx.server->poster_stats().posted == 1; }));
  std::this_thread::sleep_for(200ms);
  REQUIRE(fx.sink.count() == 1);
  CHECK(form_value(fx.sink.received()[0].body, "action") == "set");
  CHECK(fx.server->poster_stats().dropped == 1);
  const auto dropped = fx.control(http::verb::get, "/v1/events/dropped");
  CHECK(dropped.status == 200);
  CHECK(field_of(dropped.body, "count") == "1");
  CHECK(dropped.body.find(R"("object":"CUSTOMER","recordno":)" + recordno + R"(,"action":"add")") !=
        std::string::npos);
}

TEST_CASE("a receiver that is down counts failed posts without retrying") {
  sandbox::EventOptions events;
  events.url = "http://127.0.0.1:" + std::to_string(free_port()) + "/down?token=secret-in-query";
  Fixture fx(events);
  REQUIRE(fx.control(http::verb::post, "/v1/records/CUSTOMER", R"({"fields":{"NAME":"Nobody"}})")
              .status == 201);
  REQUIRE(eventually([&] { return fx.server->poster_stats().failed == 1; }));
  CHECK(fx.server->poster_stats().posted == 0);
  CHECK(fx.server->poster_stats().queued == 0);
  auto logs = fx.logs();
  CHECK(logs.find("smart event post failed") != std::string::npos);
  CHECK(logs.find("/down") != std::string::npos);
  CHECK(logs.find("secret-in-query") == std::string::npos);
}

TEST_CASE("posts about one record arrive in the order of its changes") {
  EventSink sink;
  sandbox::EventOptions events;
  events.url = "http://127.0.0.1:" + std::to_string(sink.port()) + "/hook";
  events.snapshot = true;
  events.connections = 4;
  Fixture fx(events);
  auto added = fx.company->add("CUSTOMER", {{"NAME", "N-0"}});
  REQUIRE(added.has_value());
  constexpr int kChanges = 60;
  for (int i = 1; i < kChanges; ++i) {
    // A second record between each change keeps the other lanes busy too.
    REQUIRE(fx.company->add("CUSTOMER", {{"NAME", "other"}}).has_value());
    REQUIRE(fx.company->set("CUSTOMER", added->recordno, {{"NAME", "N-" + std::to_string(i)}})
                .has_value());
  }
  REQUIRE(eventually([&] { return sink.count() == 2 * kChanges - 1; }));
  std::vector<std::string> names;
  for (const auto& r : sink.received()) {
    if (form_value(r.body, "recordno") == std::to_string(added->recordno)) {
      names.push_back(form_value(r.body, "NAME"));
    }
  }
  REQUIRE(names.size() == kChanges);
  for (int i = 0; i < kChanges; ++i)
    CHECK(names[static_cast<std::size_t>(i)] == "N-" + std::to_string(i));
}

TEST_CASE("a full post queue drops changes and counts them; a silent receiver times out") {
  // A listener that never answers: the first post waits out its deadline.
  asio::io_context ioc;
  tcp::acceptor silent(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  sandbox::EventOptions events;
  events.url = "http://127.0.0.1:" + std::to_string(silent.local_endpoint().port()) + "/hook";
  events.queue_limit = 1;
  events.response_timeout = 300ms;
  Fixture fx(events);
  for (int i = 0; i < 3; ++i) {
    REQUIRE(fx.company->add("CUSTOMER", {{"NAME", "Q" + std::to_string(i)}}).has_value());
  }
  CHECK(fx.server->poster_stats().dropped == 2);
  REQUIRE(eventually([&] { return fx.server->poster_stats().failed == 1; }));
  CHECK(fx.server->poster_stats().queued == 0);
  CHECK(fx.logs().find("the post queue is full") != std::string::npos);
}

TEST_CASE("events URLs: plain http only, the query kept for the request and hidden from logs") {
  using sandbox::detail::parse_event_url;
  auto u = parse_event_url("http://127.0.0.1:8080/v1/intacct/demo/events?token=abc");
  REQUIRE(u.has_value());
  CHECK(u->host == "127.0.0.1");
  CHECK(u->port == "8080");
  CHECK(u->target == "/v1/intacct/demo/events?token=abc");
  CHECK(u->shown == "http://127.0.0.1:8080/v1/intacct/demo/events");
  auto bare = parse_event_url("HTTP://[::1]?token=x");
  REQUIRE(bare.has_value());
  CHECK(bare->host == "::1");
  CHECK(bare->port == "80");
  CHECK(bare->target == "/?token=x");
  CHECK(bare->shown == "http://[::1]/");

  auto https = parse_event_url("https://127.0.0.1/hook");
  REQUIRE_FALSE(https.has_value());
  CHECK(https.error().message ==
        "events URL: https is not supported (plain HTTP only); expected "
        "http://HOST[:PORT]/PATH[?QUERY]");
  CHECK_FALSE(parse_event_url("http://user:pw@127.0.0.1/hook").has_value());
  CHECK_FALSE(parse_event_url("http://127.0.0.1:0/hook").has_value());
  CHECK_FALSE(parse_event_url("http://127.0.0.1:99999/hook").has_value());
  CHECK_FALSE(parse_event_url("http:///hook").has_value());

  CHECK(sandbox::detail::form_encode("11/22/2026 13:00:00") == "11%2F22%2F2026+13%3A00%3A00");
  CHECK(sandbox::detail::form_encode("a-b_c.d~e&f=g") == "a-b_c.d~e%26f%3Dg");
}

TEST_CASE("start() refuses an events URL it cannot post to") {
  isync::SystemClock clock;
  sandbox::Company company(sandbox::Options{}, clock);
  isync::Log log{isync::Level::error, [](std::string_view) {}};
  isync::testing::Loop loop;
  sandbox::ServerOptions so;
  so.gateway_port = 0;
  so.control_port = 0;
  so.events.url = "https://127.0.0.1/hook";
  sandbox::Server server(loop.ioc.get_executor(), company, so, log);
  auto r = server.start();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "invalid_config");
}
