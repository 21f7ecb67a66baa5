// The company's data rules through the control API (and the gateway where a
// rule lives there): records and their changes, errors, seeding, snapshots,
// the cost of a read, several threads.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "intacct/intacct.hpp"
#include "tests/sandbox/company_fixture.hpp"

namespace sb = isync::sandbox;
namespace ii = isync::intacct;
using namespace isync::sandbox::test::company;

namespace {

using isync::sandbox::test::kStart;
using isync::sandbox::test::options;

}  // namespace

TEST_CASE("add assigns RECORDNO and stamps; set and remove change it; each emits one Change") {
  Fixture x;
  auto rec =
      must(x.c.add("customer", {{"RECORDNO", "999"}, {"CUSTOMERID", "C1"}, {"NAME", "One"}}));
  CHECK(rec.object == "CUSTOMER");
  CHECK(rec.recordno == 1);
  CHECK(rec.fields.at("WHENCREATED") == "11/22/2026 13:00:00");
  CHECK(rec.fields.at("WHENMODIFIED") == "11/22/2026 13:00:00");
  CHECK(rec.fields.at("STATUS") == "active");
  x.clock.advance(61 * 1000);
  rec = must(x.c.set("CUSTOMER", 1, {{"DISPLAYCONTACT.EMAIL1", "b@example.com"}}));
  CHECK(rec.fields.at("WHENMODIFIED") == "11/22/2026 13:01:01");
  CHECK(rec.fields.at("NAME") == "One");
  REQUIRE(x.c.remove("CUSTOMER", 1).has_value());
  CHECK_FALSE(x.c.get("CUSTOMER", 1));
  REQUIRE(x.changes.size() == 3);
  CHECK(x.changes[0].action == "add");
  CHECK(x.changes[0].object == "CUSTOMER");
  CHECK(x.changes[0].recordno == 1);
  CHECK(x.changes[0].at_ms == kStart);
  CHECK(x.changes[0].fields.at("CUSTOMERID") == "C1");
  CHECK(x.changes[1].action == "set");
  CHECK(x.changes[1].whenmodified == "11/22/2026 13:01:01");
  CHECK(x.changes[1].fields.at("DISPLAYCONTACT.EMAIL1") == "b@example.com");
  CHECK(x.changes[2].action == "delete");
  CHECK(x.changes[2].fields.empty());
  CHECK(x.changes[2].whenmodified == "11/22/2026 13:01:01");
}

TEST_CASE("control API errors name the problem") {
  Fixture x;
  CHECK(error_of(x.c.add("VENDOR", {{"NAME", "x"}})) ==
        "unknown_object: Object definition VENDOR not found");
  CHECK(error_of(x.c.add("CUSTOMER", {{"NAME", "x"}, {"COLOUR", "red"}})) ==
        "unknown_field: Unknown field 'COLOUR' on object CUSTOMER. Use a field of CUSTOMER; see "
        "lookup.");
  must(x.c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}));
  CHECK(error_of(x.c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "x"}})) ==
        "duplicate: Another Customer with the given value(s) C1  already exists Use a unique value "
        "instead.");
  CHECK(error_of(x.c.set("CUSTOMER", 5, {{"NAME", "x"}})) ==
        "not_found: CUSTOMER record '5' does not exist. Check the key; the record may have been "
        "deleted.");
  CHECK(error_of(x.c.add("ARINVOICE", {{"CUSTOMERID", "C9"}, {"TOTALENTERED", "1"}})) ==
        "invalid_value: Invalid Customer 'C9' specified. Use the CUSTOMERID of an existing "
        "customer.");
  CHECK(error_of(x.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "1.005"}})) ==
        "invalid_value: Invalid value '1.005' for ARINVOICE.TOTALENTERED. Use a decimal amount "
        "with at most 2 "
        "decimals.");
  const auto gone = x.c.remove("ARPYMT", 3);
  REQUIRE_FALSE(gone.has_value());
  CHECK(gone.error().code == "not_found");
  CHECK(x.c.count("CUSTOMER") == 1);
}

TEST_CASE("changes within one second share WHENMODIFIED, as in Intacct") {
  Fixture x;
  must(x.c.add("CUSTOMER", {{"NAME", "a"}}));
  x.clock.advance(400);
  must(x.c.add("CUSTOMER", {{"NAME", "b"}}));
  CHECK(x.changes.at(0).whenmodified == x.changes.at(1).whenmodified);
  CHECK(x.changes.at(0).at_ms != x.changes.at(1).at_ms);
}

TEST_CASE("a listener may call back into the company") {
  Fixture x;
  std::size_t seen = 0;
  x.c.on_change([&](const sb::Change&) { seen = x.c.count("CUSTOMER"); });
  must(x.c.add("CUSTOMER", {{"NAME", "a"}}));
  CHECK(seen == 1);
}

TEST_CASE("seed_demo builds the company deterministically without notifications") {
  isync::ManualClock clock(kStart);
  sb::Company a(options(), clock), b(options(), clock);
  int notified = 0;
  a.on_change([&](const sb::Change&) { ++notified; });
  a.seed_demo(500, 2000, 42);
  b.seed_demo(500, 2000, 42);
  CHECK(notified == 0);
  CHECK(a.count("CUSTOMER") == 500);
  CHECK(a.count("ARINVOICE") == 2000);
  CHECK(a.count("ARPYMT") > 500);
  CHECK(a.snapshot_json() == b.snapshot_json());
  std::map<std::string, int> states;
  for (const auto& inv : a.list("ARINVOICE", 0, 5000)) ++states[inv.fields.at("STATE")];
  CHECK(states["Paid"] > 300);
  CHECK(states["Partially Paid"] > 100);
  CHECK(states["Draft"] > 20);
  CHECK(states["Posted"] > 500);
  CHECK(a.list("ARINVOICE", 1990, 100).size() == 10);
  CHECK(a.list("CUSTOMER", 0, 7).size() == 7);
}

TEST_CASE("snapshot_json round-trips records, counters, sessions and executed controlids") {
  isync::ManualClock clock(kStart);
  sb::Company a(options(), clock);
  a.seed_demo(20, 60, 7);
  const std::string once =
      "<request><control><senderid>SENDER</senderid><password>sender-pw</password><controlid>1</"
      "controlid>"
      "<uniqueid>true</uniqueid><dtdversion>3.0</dtdversion></"
      "control><operation><authentication><login><userid>"
      "ws_user</userid><companyid>ACME</companyid><password>user-pw</password></login></"
      "authentication><content>"
      "<function controlid=\"once\"><create><CUSTOMER><NAME>x</NAME></CUSTOMER></create></function>"
      "</content></operation></request>";
  const auto reply = a.handle_gateway(once, "");
  REQUIRE(reply.body.find("<status>success</status><function>create</function>") !=
          std::string::npos);
  const auto json = a.snapshot_json();
  sb::Company b(options(), clock);
  REQUIRE(b.load_snapshot_json(json).has_value());
  CHECK(b.snapshot_json() == json);
  CHECK(b.count("CUSTOMER") == 21);
  // RECORDNO counters resume; the replay is still refused.
  CHECK(must(b.add("CUSTOMER", {{"NAME", "next"}})).recordno == 22);
  CHECK(b.handle_gateway(once, "").body.find("SANDBOX_DUPLICATE_CONTROLID") != std::string::npos);
  CHECK(b.count("CUSTOMER") == 22);
  const auto again = b.load_snapshot_json("{\"format\":\"other\"}");
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error().code == "bad_snapshot");
  CHECK(again.error().message == "Snapshot rejected: \"format\" must be \"isync-sandbox-1\".");
  CHECK_FALSE(b.load_snapshot_json("{").has_value());
  CHECK(b.count("CUSTOMER") == 22);  // a rejected snapshot changes nothing
}

TEST_CASE("a read of 100 keys on the demo company is cheap") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  c.seed_demo(500, 2000, 1);
  std::string keys;
  for (int i = 1; i <= 100; ++i) keys += (i > 1 ? "," : "") + std::to_string(i * 17);
  const auto body =
      "<request><control><senderid>SENDER</senderid><password>sender-pw</password><controlid>1</"
      "controlid>"
      "<uniqueid>false</uniqueid><dtdversion>3.0</dtdversion></"
      "control><operation><authentication><login><userid>"
      "ws_user</userid><companyid>ACME</companyid><password>user-pw</password></login></"
      "authentication><content>"
      "<function controlid=\"r\"><read><object>ARINVOICE</object><keys>" +
      keys + "</keys></read></function></content></operation></request>";
  const auto t0 = std::chrono::steady_clock::now();
  constexpr int kRounds = 50;
  std::string last;
  for (int i = 0; i < kRounds; ++i) last = c.handle_gateway(body, "").body;
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  MESSAGE("read of 100 ARINVOICE keys: " << us / kRounds << " us per request");
  const auto r = ii::parse_response(200, "text/xml", last);
  REQUIRE(r.has_value());
  CHECK(r->results.at(0).data->count == 100);
  CHECK(c.stats().records_read == 100 * kRounds);
}

TEST_CASE("the company serves several threads at once") {
  Fixture x;
  must(x.c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}));
  const std::string read =
      "<request><control><senderid>SENDER</senderid><password>sender-pw</password><controlid>1</"
      "controlid>"
      "<uniqueid>false</uniqueid><dtdversion>3.0</dtdversion></"
      "control><operation><authentication><login><userid>"
      "ws_user</userid><companyid>ACME</companyid><password>user-pw</password></login></"
      "authentication><content>"
      "<function "
      "controlid=\"r\"><readByQuery><object>ARINVOICE</object><fields>*</fields><query>CUSTOMERID "
      "= 'C1'"
      "</query></readByQuery></function></content></operation></request>";
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        if (t % 2 == 0) {
          if (!x.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "1"}})) ++failures;
        } else if (x.c.handle_gateway(read, "").body.find("<status>success</status><function>") ==
                   std::string::npos) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  CHECK(x.c.count("ARINVOICE") == 200);
  CHECK(x.f("CUSTOMER", 1, "TOTALDUE") == "200.00");
  CHECK(x.changes.size() == 1 + 2 * 200);  // customer add, then per invoice: add + customer set
}
