// The faults the gateway injects, read back with the client's parser: rate
// limits, server errors, denied reads, timeouts after a write, late writes,
// dropped events, and fault ratios drawn from the seed.
#include <doctest/doctest.h>

#include <algorithm>

#include "tests/sandbox/gateway_fixture.hpp"

using namespace isync::sandbox::test::gateway;

TEST_CASE("rate-limit faults answer GW-0010 as HTTP 429 or inside a 200, before anything runs") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  sb::Faults f;
  f.rate_limit = 2;
  c.set_faults(f);
  const auto body = request(fn("c", "<create>" + customer("C1", "One") + "</create>"));
  auto reply = c.handle_gateway(body, "application/xml");
  CHECK(reply.status == 429);
  auto r = *ii::parse_response(reply.status, reply.content_type, reply.body);
  CHECK(r.control_errors.at(0).errorno == "GW-0010");
  f.rate_limit = 1;
  f.rate_limit_http = false;
  c.set_faults(f);
  reply = c.handle_gateway(body, "application/xml");
  CHECK(reply.status == 200);
  r = *ii::parse_response(reply.status, reply.content_type, reply.body);
  CHECK(r.control_status == Status::failure);
  CHECK(r.control_errors.at(0).errorno == "GW-0010");
  CHECK(c.count("CUSTOMER") == 0);
  CHECK(c.faults().rate_limit == 0);
  CHECK(c.stats().faults_injected == 2);
  CHECK(c.handle_gateway(body, "application/xml").status == 200);
  CHECK(c.count("CUSTOMER") == 1);
}

TEST_CASE("server_error answers 503 without XML and runs nothing") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  sb::Faults f;
  f.server_error = 1;
  f.latency = std::chrono::milliseconds(250);
  c.set_faults(f);
  const auto body = request(fn("c", "<create>" + customer("C1", "One") + "</create>"));
  const auto reply = c.handle_gateway(body, "application/xml");
  CHECK(reply.status == 503);
  CHECK(reply.content_type == "text/plain");
  CHECK(reply.delay == std::chrono::milliseconds(250));
  CHECK(c.count("CUSTOMER") == 0);
  CHECK(c.handle_gateway(body, "application/xml").status == 200);
  CHECK(c.stats().requests == 2);
}

TEST_CASE("deny_reads fails the next read as a missing permission, at the result level") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  REQUIRE(call(c, request(fn("c", "<create>" + customer("C1", "One") + "</create>")))
              .results.at(0)
              .status == Status::success);
  sb::Faults f;
  f.deny_reads = 1;
  c.set_faults(f);
  const auto read = request(fn("r", "<read><object>CUSTOMER</object><keys>1</keys></read>"));
  auto r = call(c, read);
  REQUIRE(r.results.size() == 1);
  CHECK(r.results[0].status == Status::failure);
  REQUIRE(r.results[0].errors.size() == 1);
  CHECK(r.results[0].errors[0].errorno == "BL01001973");
  CHECK(r.results[0].errors[0].description2 ==
        "You do not have permission for API operation READ on objects of type customer.");
  CHECK(r.results[0].errors[0].correction ==
        "Ask a company administrator to give the Web Services user List and View permission on "
        "this object.");
  CHECK(c.faults().deny_reads == 0);
  CHECK(call(c, read).results.at(0).status == Status::success);
}

TEST_CASE("timeout_after_write runs the write, then answers 524; reads are not affected") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  sb::Faults f;
  f.timeout_after_write = 1;
  c.set_faults(f);
  CHECK(c.handle_gateway(request(fn("s", "<getAPISession/>")), "").status == 200);
  const auto reply =
      c.handle_gateway(request(fn("c", "<create>" + customer("C1", "One") + "</create>")), "");
  CHECK(reply.status == 524);
  CHECK(reply.content_type == "text/plain");
  CHECK(c.count("CUSTOMER") == 1);
  CHECK(c.faults().timeout_after_write == 0);
}

TEST_CASE(
    "land_later answers 524 at once and the write lands land_delay later with its reserved "
    "RECORDNO") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  std::vector<sb::Change> changes;
  c.on_change([&](const sb::Change& ch) { changes.push_back(ch); });
  sb::Faults f;
  f.land_later = 1;
  f.land_delay = std::chrono::milliseconds(3000);
  c.set_faults(f);
  const auto create = fn("late-1", "<create>" + customer("C1", "Late") + "</create>");
  const auto reply = c.handle_gateway(request(create, login(), false, true), "");
  CHECK(reply.status == 524);
  CHECK(c.count("CUSTOMER") == 0);
  // Another create meanwhile takes the next RECORDNO, not the reserved one.
  REQUIRE(c.add("CUSTOMER", {{"NAME", "Meanwhile"}}).has_value());
  CHECK(c.get("CUSTOMER", 2));
  // A retry of the same function before it lands is not run twice.
  CHECK(only(call(c, request(create, login(), false, true))).errors.at(0).errorno ==
        "SANDBOX_DUPLICATE_CONTROLID");
  clock.advance(2999);
  CHECK(c.run_due() == 0);
  clock.advance(1);
  CHECK(c.run_due() == 1);
  const auto landed = c.get("CUSTOMER", 1);
  REQUIRE(landed);
  CHECK(landed->fields.at("CUSTOMERID") == "C1");
  CHECK(landed->fields.at("WHENMODIFIED") == "11/22/2026 13:00:03");
  REQUIRE(changes.size() == 2);
  CHECK(changes[1].action == "add");
  CHECK(changes[1].recordno == 1);
  CHECK(changes[1].at_ms == kStart + 3000);
  CHECK(c.run_due() == 0);
  CHECK(c.stats().faults_injected == 1);
}

TEST_CASE("drop_events counts down through take_event_drop") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  sb::Faults f;
  f.drop_events = 2;
  c.set_faults(f);
  const sb::Change change{"CUSTOMER", "add", 1, "11/22/2026 13:00:00", kStart, {}};
  CHECK(c.take_event_drop(change));
  CHECK(c.take_event_drop(change));
  CHECK_FALSE(c.take_event_drop(change));
  CHECK(c.stats().faults_injected == 2);
}

TEST_CASE("fault ratios: 1 always faults, 0 never; each hit is counted by name") {
  isync::ManualClock clock(kStart);
  sb::Company c(options(), clock);
  const auto write = [&](int i) {
    return request(fn("c" + std::to_string(i),
                      "<create>" + customer("C" + std::to_string(i), "N") + "</create>"));
  };
  const auto read = request(fn("r", "<read><object>CUSTOMER</object><keys>1</keys></read>"));
  sb::Faults f;
  f.server_error_ratio = 1.0;
  c.set_faults(f);
  for (int i = 0; i < 5; ++i) CHECK(c.handle_gateway(read, "").status == 503);
  CHECK(c.stats().faults_by_name.at("server_error") == 5);

  f = {};
  f.timeout_after_write_ratio = 1.0;
  c.set_faults(f);
  CHECK(c.handle_gateway(read, "").status == 200);  // only requests with a write
  for (int i = 0; i < 3; ++i) CHECK(c.handle_gateway(write(i), "").status == 524);
  CHECK(c.count("CUSTOMER") == 3);
  CHECK(c.stats().faults_by_name.at("timeout_after_write") == 3);

  f = {};
  f.land_later_ratio = 1.0;
  f.land_delay = std::chrono::milliseconds(1000);
  c.set_faults(f);
  CHECK(c.handle_gateway(read, "").status == 200);
  CHECK(c.handle_gateway(write(10), "").status == 524);
  CHECK(c.count("CUSTOMER") == 3);
  clock.advance(1000);
  CHECK(c.run_due() == 1);
  CHECK(c.count("CUSTOMER") == 4);
  CHECK(c.stats().faults_by_name.at("land_later") == 1);

  f = {};  // every ratio 0: nothing injected
  c.set_faults(f);
  const auto before = c.stats().faults_injected;
  for (int i = 20; i < 40; ++i) CHECK(c.handle_gateway(write(i), "").status == 200);
  CHECK(c.stats().faults_injected == before);
  CHECK(before == 9);
}

TEST_CASE("a fault ratio draws deterministically from the seed and lands near its ratio") {
  const auto run = [](std::uint64_t seed) {
    isync::ManualClock clock(kStart);
    auto o = options();
    o.seed = seed;
    sb::Company c(o, clock);
    sb::Faults f;
    f.server_error_ratio = 0.25;
    c.set_faults(f);
    const auto read = request(fn("r", "<read><object>CUSTOMER</object><keys>1</keys></read>"));
    std::string pattern;
    for (int i = 0; i < 400; ++i) pattern += c.handle_gateway(read, "").status == 503 ? 'x' : '.';
    CHECK(c.stats().faults_by_name.at("server_error") ==
          static_cast<std::int64_t>(std::count(pattern.begin(), pattern.end(), 'x')));
    return pattern;
  };
  const auto a = run(7), b = run(7), other = run(8);
  CHECK(a == b);
  CHECK(a != other);
  const auto hits = std::count(a.begin(), a.end(), 'x');
  CHECK(hits > 60);
  CHECK(hits < 140);
}
