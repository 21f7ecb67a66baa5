// The control API routes reconciliation tests use, called in process
// (handle_control is a pure function of the request): the write clock
// offset, the drop ratio and the list of dropped events, read denial per
// object, and silent writes; each with its exact answer to bad input.
#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <mutex>

#include "sandbox/detail/control_routes.hpp"
#include "sandbox/sandbox.hpp"

namespace sb = isync::sandbox;
namespace sd = isync::sandbox::detail;
namespace http = boost::beast::http;

namespace {

constexpr std::int64_t kJan5 = 1767614400000;  // 2026-01-05T12:00:00Z

struct Fixture {
  isync::ManualClock clock{kJan5};
  sb::Company c{[] {
                  sb::Options o;
                  o.credentials = {"SENDER", "sender-pw", "ACME", "ws_user", "user-pw"};
                  return o;
                }(),
                clock};
  isync::Secret token;
  std::mutex mu;
  std::vector<sb::Change> changes;

  Fixture() {
    c.on_change([this](const sb::Change& ch) {
      std::lock_guard lock(mu);
      changes.push_back(ch);
    });
  }
  std::size_t seen() {
    std::lock_guard lock(mu);
    return changes.size();
  }
  sd::Answer call(http::verb method, const std::string& target, const std::string& body = {}) {
    sd::HttpRequest req{method, target, 11};
    req.body() = body;
    req.prepare_payload();
    return sd::handle_control({c, nullptr, token}, req);
  }
};

}  // namespace

TEST_CASE("PUT /v1/settings sets the write clock offset; writes after it are stamped back") {
  Fixture fx;
  auto r = fx.call(http::verb::put, "/v1/settings", R"({"write_clock_offset_s":-20736000})");
  CHECK(r.status == 200);
  CHECK(
      r.body ==
      R"({"payment_batch_required":false,"unique_payment_numbers":false,"write_clock_offset_s":-20736000})");
  r = fx.call(http::verb::post, "/v1/records/CUSTOMER", R"({"fields":{"NAME":"Old"}})");
  CHECK(r.status == 201);
  CHECK(r.body.find(R"("WHENMODIFIED":"05/10/2025 12:00:00")") != std::string::npos);

  r = fx.call(http::verb::put, "/v1/settings", R"({"write_clock_offset_s":"-1"})");
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"x({"error":{"code":"invalid_field","message":"\"write_clock_offset_s\" must be an integer from -316224000 to 316224000 (seconds)"}})x");
  r = fx.call(http::verb::put, "/v1/settings", R"({"write_clock_offset_s":316224001})");
  CHECK(r.status == 400);
  CHECK(fx.c.settings().write_clock_offset == std::chrono::seconds(-20736000));
}

TEST_CASE("drop_events_ratio and deny_read_objects are faults; dropped events are listed") {
  Fixture fx;
  auto r = fx.call(http::verb::put, "/v1/faults",
                   R"({"drop_events_ratio":1,"deny_read_objects":["arpymt","CUSTOMER"]})");
  CHECK(r.status == 200);
  CHECK(r.body.find(R"("drop_events_ratio":1.0,"deny_read_objects":["ARPYMT","CUSTOMER"]})") !=
        std::string::npos);
  CHECK(fx.c.faults().deny_read_objects == std::set<std::string>{"ARPYMT", "CUSTOMER"});

  const sb::Change ch{"ARINVOICE", "delete", 42, "01/05/2026 12:00:00", kJan5, {}};
  CHECK(fx.c.take_event_drop(ch));
  r = fx.call(http::verb::get, "/v1/events/dropped");
  CHECK(r.status == 200);
  CHECK(
      r.body ==
      R"({"count":1,"truncated":false,"events":[{"object":"ARINVOICE","recordno":42,"action":"delete","whenmodified":"01/05/2026 12:00:00","at_ms":1767614400000}]})");
  r = fx.call(http::verb::delete_, "/v1/events/dropped");
  CHECK(r.status == 200);
  CHECK(r.body == R"({"count":0,"truncated":false,"events":[]})");
  r = fx.call(http::verb::put, "/v1/events/dropped");
  CHECK(r.status == 405);
  CHECK(r.allow == "GET, DELETE");

  // An empty array lifts the denial; DELETE /v1/faults clears everything.
  r = fx.call(http::verb::put, "/v1/faults", R"({"deny_read_objects":[]})");
  CHECK(r.status == 200);
  CHECK(fx.c.faults().deny_read_objects.empty());
  CHECK(fx.c.faults().drop_events_ratio == 1);
  fx.call(http::verb::delete_, "/v1/faults");
  CHECK(fx.c.faults().drop_events_ratio == 0);

  r = fx.call(http::verb::put, "/v1/faults", R"({"deny_read_objects":["VENDOR"]})");
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"({"error":{"code":"invalid_field","message":"\"deny_read_objects\" names \"VENDOR\", not one of CUSTOMER, ARINVOICE, ARPYMT"}})");
  r = fx.call(http::verb::put, "/v1/faults", R"({"deny_read_objects":"ARPYMT"})");
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"({"error":{"code":"invalid_field","message":"\"deny_read_objects\" must be an array of CUSTOMER, ARINVOICE, ARPYMT"}})");
  r = fx.call(http::verb::put, "/v1/faults", R"({"drop_events_ratio":1.5})");
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"({"error":{"code":"invalid_field","message":"\"drop_events_ratio\" must be a number from 0 to 1"}})");
}

TEST_CASE("\"silent\":true on a record write or delete tells no listener") {
  Fixture fx;
  auto r = fx.call(http::verb::post, "/v1/records/CUSTOMER",
                   R"({"fields":{"CUSTOMERID":"C1","NAME":"One"},"silent":true})");
  CHECK(r.status == 201);
  r = fx.call(http::verb::post, "/v1/records/ARINVOICE",
              R"({"fields":{"CUSTOMERID":"C1","TOTALENTERED":"9.00"},"silent":true})");
  CHECK(r.status == 201);
  r = fx.call(http::verb::patch, "/v1/records/ARINVOICE/1",
              R"({"fields":{"STATE":"Draft"},"silent":true})");
  CHECK(r.status == 200);
  CHECK(r.body.find(R"("STATE":"Draft")") != std::string::npos);
  r = fx.call(http::verb::delete_, "/v1/records/ARINVOICE/1", R"({"silent":true})");
  CHECK(r.status == 204);
  CHECK(fx.seen() == 0);
  CHECK(fx.c.count("ARINVOICE") == 0);

  // "silent":false, or no body, is a normal delete.
  r = fx.call(http::verb::post, "/v1/records/ARINVOICE",
              R"({"fields":{"CUSTOMERID":"C1","TOTALENTERED":"9.00"},"silent":false})");
  CHECK(r.status == 201);
  CHECK(fx.seen() == 2);  // the invoice and its customer's TOTALDUE
  r = fx.call(http::verb::delete_, "/v1/records/ARINVOICE/2");
  CHECK(r.status == 204);
  CHECK(fx.seen() == 4);

  r = fx.call(http::verb::delete_, "/v1/records/CUSTOMER/1", R"({"silent":1})");
  CHECK(r.status == 400);
  CHECK(r.body ==
        R"({"error":{"code":"invalid_field","message":"\"silent\" must be true or false"}})");
  r = fx.call(http::verb::delete_, "/v1/records/CUSTOMER/1", R"({"quiet":true})");
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"({"error":{"code":"invalid_field","message":"unknown key \"quiet\"; send nothing or {\"silent\":true}"}})");
  CHECK(fx.c.count("CUSTOMER") == 1);
}

TEST_CASE("GET and PUT /v1/push switch the webhooks a change posts and the token's form") {
  Fixture fx;
  auto push = std::make_shared<sd::PushSwitch>();
  auto call = [&](http::verb method, const std::string& body = {}) {
    sd::HttpRequest req{method, "/v1/push", 11};
    req.body() = body;
    req.prepare_payload();
    return sd::handle_control({fx.c, nullptr, fx.token, nullptr, push}, req);
  };
  auto r = call(http::verb::get);
  CHECK(r.status == 200);
  CHECK(r.body == R"({"mode":"smart-events","trigger_token":"envelope"})");
  r = call(http::verb::put, R"({"mode":"both"})");
  CHECK(r.body == R"({"mode":"both","trigger_token":"envelope"})");
  CHECK(push->mode.load() == sb::PushMode::both);
  r = call(http::verb::put, R"({"trigger_token":"bare","mode":"triggers"})");
  CHECK(r.body == R"({"mode":"triggers","trigger_token":"bare"})");
  CHECK(push->bare.load());
  r = call(http::verb::put, R"({"mode":"all"})");
  CHECK(r.status == 400);
  CHECK(
      r.body ==
      R"x({"error":{"code":"invalid_field","message":"\"mode\" must be \"smart-events\", \"triggers\" or \"both\""}})x");
  r = call(http::verb::put, R"({"pace":1})");
  CHECK(r.status == 400);
  CHECK(r.body.find("unknown push setting") != std::string::npos);
  CHECK(call(http::verb::delete_).status == 405);
  CHECK(push->mode.load() == sb::PushMode::triggers);
  // Without a switch (an engine alone) there is no such route.
  CHECK(fx.call(http::verb::get, "/v1/push").status == 404);
}

TEST_CASE("a trigger post carries the template, a signed token over its exact body, the context") {
  sb::Change change{"CUSTOMER", "delete", 7, "01/16/2026 21:28:00", 0, {}};
  sb::TriggerOptions o;
  o.client_secret = isync::Secret("sandbox-secret");
  o.client_id = "sbx.INTACCT.app.sage.com";
  o.company = "ACME";
  auto post = sd::trigger_post(change, o, true, 1768598880000);
  CHECK(
      post.body ==
      R"({"object":"CUSTOMER","recordno":"7","whenmodified":"01/16/2026 21:28:00","company":"ACME","action":"delete"})");
  CHECK(post.content_type == "application/json");
  REQUIRE(post.headers.size() == 3);
  CHECK(post.headers[0].first == "X-IA-Sage-Signature");
  const std::string& jwt = post.headers[0].second;
  CHECK(std::count(jwt.begin(), jwt.end(), '.') == 2);
  CHECK(post.headers[1].first == "X-ClientContext");
  CHECK(post.headers[2].first == "X-IdempotencyKey");
  CHECK(post.headers[2].second.size() == 32);
  // The envelope form is base64 (no dots) and a new key each time.
  auto enveloped = sd::trigger_post(change, o, false, 1768598880000);
  CHECK(enveloped.headers[0].second.find('.') == std::string::npos);
  CHECK(enveloped.headers[2].second != post.headers[2].second);
}
