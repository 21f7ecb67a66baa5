// The sandbox server over real loopback sockets: the XML gateway and the
// control API (faults, settings, stats, its token, its answers to bad input).
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "tests/sandbox/server_fixture.hpp"

namespace http = boost::beast::http;
namespace intacct = isync::intacct;
namespace sandbox = isync::sandbox;
using isync::testing::eventually;
using namespace std::chrono_literals;
using namespace isync::sandbox::test::server;

TEST_CASE("a gateway login and read of a seeded customer round-trips through parse_response") {
  Fixture fx;
  auto first = fx.company->list("CUSTOMER", 0, 1);
  REQUIRE(first.size() == 1);
  auto recordno = std::to_string(first[0].recordno);
  auto res = post_gateway(
      fx.gateway_port, login_request({{"read-1", intacct::Read{"CUSTOMER", {recordno}, {}, ""}}}));
  REQUIRE(res.status == 200);
  auto parsed = intacct::parse_response(200, "text/xml", res.body);
  REQUIRE(parsed.has_value());
  CHECK(parsed->control_status == intacct::Status::success);
  REQUIRE(parsed->authentication);
  CHECK(parsed->authentication->status == intacct::Status::success);
  auto* result = parsed->result("read-1");
  REQUIRE(result != nullptr);
  CHECK(result->status == intacct::Status::success);
  REQUIRE(result->data);
  auto rows = result->data->rows_of("CUSTOMER");
  REQUIRE(rows.size() == 1);
  REQUIRE(rows[0]->get("RECORDNO") != nullptr);
  CHECK(*rows[0]->get("RECORDNO") == recordno);

  // The log line names the function and never a credential.
  REQUIRE(
      eventually([&] { return fx.logs().find("\"functions\":\"read\"") != std::string::npos; }));
  auto logs = fx.logs();
  CHECK(logs.find(kSenderPassword) == std::string::npos);
  CHECK(logs.find(kUserPassword) == std::string::npos);
  CHECK(logs.find(kEventToken) == std::string::npos);
}

TEST_CASE("the gateway answers 404 off its path and 405 to other methods") {
  Fixture fx;
  CHECK(call(fx.gateway_port, http::verb::post, "/ia/xml/other", "<x/>").status == 404);
  auto res = call(fx.gateway_port, http::verb::get, kGatewayPath);
  CHECK(res.status == 405);
  CHECK(res.allow == "POST");
}

TEST_CASE("the latency fault delays the gateway reply by at least the injected time") {
  Fixture fx;
  auto put = fx.control(http::verb::put, "/v1/faults", R"({"latency_ms":400})");
  REQUIRE(put.status == 200);
  CHECK(field_of(put.body, "latency_ms") == "400");
  auto started = std::chrono::steady_clock::now();
  auto res = post_gateway(fx.gateway_port,
                          login_request({{"q", intacct::ReadByQuery{"CUSTOMER", {}, "", 10}}}));
  auto elapsed = std::chrono::steady_clock::now() - started;
  CHECK(res.status == 200);
  CHECK(elapsed >= 400ms);
}

TEST_CASE("bad control input gets the exact status and message") {
  Fixture fx;
  auto r = fx.control(http::verb::get, "/v1/records/VENDOR/1");
  CHECK(r.status == 404);
  CHECK(
      r.body ==
      R"({"error":{"code":"unknown_object","message":"object \"VENDOR\" is not one of CUSTOMER, ARINVOICE, ARPYMT"}})");

  r = fx.control(http::verb::get, "/v1/records/CUSTOMER/999999");
  CHECK(r.status == 404);
  CHECK(r.body == R"({"error":{"code":"not_found","message":"no CUSTOMER with RECORDNO 999999"}})");

  r = fx.control(http::verb::post, "/v1/records/CUSTOMER", "{\"fields\":");
  CHECK(r.status == 400);
  CHECK(field_of(r.body, "code") == "malformed_body");

  r = fx.control(http::verb::post, "/v1/records/CUSTOMER", R"({"fields":{"NAME":"x"}} trailing)");
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"x({"error":{"code":"malformed_body","message":"the body has trailing bytes after the value, at offset 24"}})x");

  // The exact bytes of the deep-nesting input: 200,000 '[' (it once overflowed
  // the stack of a recursive parse).
  r = fx.control(http::verb::post, "/v1/records/CUSTOMER", std::string(200000, '['));
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"x({"error":{"code":"malformed_body","message":"the body is nested deeper than 64 levels"}})x");

  r = fx.control(http::verb::post, "/v1/records/CUSTOMER", R"({"name":"x"})");
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"({"error":{"code":"invalid_field","message":"unknown key \"name\"; send {\"fields\":{…}}"}})");

  r = fx.control(http::verb::put, "/v1/faults", R"({"latency":5})");
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"({"error":{"code":"invalid_field","message":"unknown fault \"latency\"; known: latency_ms, rate_limit, rate_limit_http, server_error, timeout_after_write, land_later, land_delay_ms, drop_events, deny_reads, server_error_ratio, timeout_after_write_ratio, land_later_ratio, drop_events_ratio, deny_read_objects"}})");

  r = fx.control(http::verb::put, "/v1/faults", R"({"rate_limit":-1})");
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"({"error":{"code":"invalid_field","message":"\"rate_limit\" must be an integer from 0 to 1000000"}})");

  r = fx.control(http::verb::get, "/v1/records/CUSTOMER?limit=1001");
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"({"error":{"code":"invalid_parameter","message":"limit \"1001\" is not an integer from 1 to 1000"}})");
  // A bad escape is refused, never taken as "no limit" ("%-1" is no hex byte).
  r = fx.control(http::verb::get, "/v1/records/CUSTOMER?limit=%-1");
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"({"error":{"code":"invalid_parameter","message":"limit \"%-1\" is not an integer from 1 to 1000"}})");

  r = fx.control(http::verb::put, "/v1/records/CUSTOMER/1", R"({"fields":{}})");
  CHECK(r.status == 405);
  CHECK(r.allow == "GET, PATCH, DELETE");

  r = fx.control(http::verb::get, "/v1/nothing");
  CHECK(r.status == 404);
  CHECK(r.body == R"({"error":{"code":"not_found","message":"no route for \"/v1/nothing\""}})");

  // The engine's own validation comes back as 400 with its message.
  r = fx.control(http::verb::post, "/v1/records/CUSTOMER", R"({"fields":{"CUSTOMERID":"C-X"}})");
  CHECK(r.status == 400);
  CHECK(field_of(r.body, "message") ==
        "Required field NAME is missing for CUSTOMER. Provide NAME.");
  CHECK(fx.sink.count() == 0);
}

TEST_CASE("a control token, when set, is required on every route but /healthz") {
  Fixture fx({}, "control-secret");
  auto r = fx.control(http::verb::get, "/v1/faults");
  CHECK(r.status == 401);
  CHECK(
      r.body ==
      R"({"error":{"code":"unauthorized","message":"the control token is missing or wrong; send Authorization: Bearer <control token>"}})");
  CHECK(call(fx.control_port, http::verb::get, "/v1/faults", {}, {}, "wrong").status == 401);
  CHECK(call(fx.control_port, http::verb::get, "/v1/faults", {}, {}, "control-secret").status ==
        200);
  CHECK(fx.control(http::verb::get, "/healthz").status == 200);
}

TEST_CASE("land_later makes a gateway create visible only after the delay") {
  Fixture fx;
  REQUIRE(
      fx.control(http::verb::put, "/v1/faults", R"({"land_later":1,"land_delay_ms":600})").status ==
      200);
  auto before = fx.company->count("CUSTOMER");
  auto started = std::chrono::steady_clock::now();
  auto res = post_gateway(
      fx.gateway_port,
      login_request({{"create-1", intacct::Create{"CUSTOMER",
                                                  {intacct::leaf("CUSTOMERID", "C-LATE"),
                                                   intacct::leaf("NAME", "Late Ltd")}}}}));
  CHECK(res.status == 524);
  CHECK(fx.company->count("CUSTOMER") == before);
  CHECK(fx.sink.count() == 0);
  REQUIRE(eventually([&] { return fx.company->count("CUSTOMER") == before + 1; }));
  CHECK(std::chrono::steady_clock::now() - started >= 600ms);
  REQUIRE(eventually([&] { return fx.sink.count() == 1; }));
  CHECK(fx.sink.received()[0].body.rfind("object=CUSTOMER&action=add&", 0) == 0);
}

TEST_CASE("/v1/settings shows and switches the payment settings; bad input gets 400") {
  Fixture fx;
  auto r = fx.control(http::verb::get, "/v1/settings");
  CHECK(r.status == 200);
  CHECK(
      r.body ==
      R"({"payment_batch_required":false,"unique_payment_numbers":false,"write_clock_offset_s":0})");
  r = fx.control(http::verb::put, "/v1/settings", R"({"payment_batch_required":true})");
  CHECK(r.status == 200);
  CHECK(
      r.body ==
      R"({"payment_batch_required":true,"unique_payment_numbers":false,"write_clock_offset_s":0})");
  CHECK(fx.company->settings().payment_batch_required);
  r = fx.control(http::verb::put, "/v1/settings",
                 R"({"unique_payment_numbers":true,"write_clock_offset_s":0})");
  CHECK(
      r.body ==
      R"({"payment_batch_required":true,"unique_payment_numbers":true,"write_clock_offset_s":0})");
  r = fx.control(http::verb::put, "/v1/settings", R"({"unique_payment_numbers":1})");
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"({"error":{"code":"invalid_field","message":"\"unique_payment_numbers\" must be true or false"}})");
  r = fx.control(http::verb::put, "/v1/settings", R"({"batch":true})");
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"({"error":{"code":"invalid_field","message":"unknown setting \"batch\"; known: payment_batch_required, unique_payment_numbers, write_clock_offset_s"}})");
  r = fx.control(http::verb::delete_, "/v1/settings");
  CHECK(r.status == 405);
  CHECK(r.allow == "GET, PUT");
  r = fx.control(http::verb::get, "/v1/settings");
  CHECK(
      r.body ==
      R"({"payment_batch_required":true,"unique_payment_numbers":true,"write_clock_offset_s":0})");
}

TEST_CASE("fault ratios through /v1/faults; a reverse_arpayment is counted in /v1/stats") {
  Fixture fx;
  auto r = fx.control(http::verb::put, "/v1/faults", R"({"server_error_ratio":1})");
  CHECK(r.status == 200);
  CHECK(field_of(r.body, "server_error_ratio") == "1.0");
  CHECK(field_of(fx.control(http::verb::get, "/v1/faults").body, "land_later_ratio") == "0.0");
  auto read = login_request({{"r", intacct::Read{"CUSTOMER", {"1"}, {}, ""}}});
  CHECK(post_gateway(fx.gateway_port, read).status == 503);
  CHECK(post_gateway(fx.gateway_port, read).status == 503);
  r = fx.control(http::verb::put, "/v1/faults", R"({"land_later_ratio":1.5})");
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"({"error":{"code":"invalid_field","message":"\"land_later_ratio\" must be a number from 0 to 1"}})");
  r = fx.control(http::verb::delete_, "/v1/faults");
  CHECK(field_of(r.body, "server_error_ratio") == "0.0");
  CHECK(post_gateway(fx.gateway_port, read).status == 200);

  // The seeded company has posted payments; reverse the first one.
  REQUIRE(fx.company->count("ARPYMT") > 0);
  const auto payment = fx.company->list("ARPYMT", 0, 1).at(0);
  intacct::Legacy reverse{
      "reverse_arpayment",
      {{"key", std::to_string(payment.recordno)}},
      {intacct::group("datereversed", {intacct::leaf("year", "2026"), intacct::leaf("month", "11"),
                                       intacct::leaf("day", "22")}),
       intacct::leaf("memo", "Refunded")},
      true};
  auto res = post_gateway(fx.gateway_port, login_request({{"rev-1", reverse}}));
  REQUIRE(res.status == 200);
  auto parsed = intacct::parse_response(200, "text/xml", res.body);
  REQUIRE(parsed.has_value());
  REQUIRE(parsed->results.size() == 1);
  CHECK(parsed->results[0].status == intacct::Status::success);
  REQUIRE(parsed->results[0].key);
  CHECK(*parsed->results[0].key == std::to_string(payment.recordno));
  CHECK(fx.company->get("ARPYMT", payment.recordno)->fields.at("STATE") == "Reversed");

  auto stats = fx.control(http::verb::get, "/v1/stats").body;
  CHECK(stats.find("\"reverse_arpayment\":1") != std::string::npos);
  CHECK(stats.find("\"faults_by_name\":{\"server_error\":2}") != std::string::npos);
  CHECK(field_of(stats, "faults_injected") == "2");
}
