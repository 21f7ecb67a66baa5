// What reconciliation tests need from the sandbox: a clock offset for
// writes, a ratio of dropped smart events with the list of those dropped,
// read denial per object, silent writes.
#include <doctest/doctest.h>

#include <algorithm>

#include "tests/sandbox/drift_fixture.hpp"

namespace sb = isync::sandbox;
namespace ii = isync::intacct;
using ii::Status;
using namespace std::chrono_literals;
using namespace isync::sandbox::test::drift;

TEST_CASE("the write clock offset stamps control and gateway writes in the past, nothing else") {
  Fixture fx;
  fx.offset(std::chrono::seconds(-k240Days));
  CHECK(fx.c.settings().write_clock_offset == std::chrono::seconds(-k240Days));
  // 2026-01-05 12:00:00 - 240 days = 2025-05-10 12:00:00.
  const auto cust = must(fx.c.add("CUSTOMER", {{"CUSTOMERID", "C-OLD"}, {"NAME", "Old Co"}}));
  CHECK(cust.fields.at("WHENMODIFIED") == "05/10/2025 12:00:00");
  CHECK(cust.fields.at("WHENCREATED") == "05/10/2025 12:00:00");
  const auto open = must(fx.c.add("ARINVOICE", {{"CUSTOMERID", "C-OLD"}, {"TOTALENTERED", "100"}}));
  CHECK(open.fields.at("WHENMODIFIED") == "05/10/2025 12:00:00");
  CHECK(open.fields.at("WHENCREATED") == "05/10/2025");
  CHECK(open.fields.at("WHENDUE") == "06/09/2025");
  // The smart event carries the shifted WHENMODIFIED, its clock time stays real.
  REQUIRE(fx.seen() >= 1);
  CHECK(fx.changes.back().at_ms >= kJan5);

  // A gateway create and a payment through the gateway: sessions keep the real clock.
  const auto created =
      run(fx.c, ii::Create{"ARINVOICE",
                           {ii::leaf("CUSTOMERID", "C-OLD"), ii::leaf("TOTALENTERED", "40.00")}});
  REQUIRE(created.status == Status::success);
  const auto paid_no = recordnos(created, "ARINVOICE").at(0);
  const auto paid = fx.c.add("ARPYMT", payment("C-OLD", paid_no, "40.00", "P-OLD"));
  REQUIRE(paid.has_value());
  CHECK(paid->fields.at("WHENCREATED") == "05/10/2025 12:00:00");
  CHECK(fx.f("ARINVOICE", paid_no, "WHENMODIFIED") == "05/10/2025 12:00:00");
  CHECK(fx.f("ARINVOICE", paid_no, "TOTALDUE") == "0.00");
  CHECK(fx.f("ARINVOICE", paid_no, "STATE") == "Paid");

  // Back to 0: the next write is stamped now; the old records keep their stamps.
  fx.offset(0s);
  fx.clock.advance(1000);
  const auto edited = must(fx.c.set("CUSTOMER", cust.recordno, {{"NAME", "Old Co Ltd"}}));
  CHECK(edited.fields.at("WHENMODIFIED") == "01/05/2026 12:00:01");
  CHECK(edited.fields.at("WHENCREATED") == "05/10/2025 12:00:00");
  CHECK(fx.f("ARINVOICE", open.recordno, "WHENMODIFIED") == "05/10/2025 12:00:00");
}

TEST_CASE("the write clock offset is capped at ten years either way") {
  Fixture fx;
  fx.offset(std::chrono::seconds(-100LL * 366 * 86400));
  CHECK(fx.c.settings().write_clock_offset == -sb::kMaxWriteClockOffset);
}

TEST_CASE("drop_events_ratio drops a seeded selection of events, listed with what they were") {
  const auto drops = [](std::uint64_t seed) {
    Fixture fx(seed);
    sb::Faults faults;
    faults.drop_events_ratio = 0.3;
    fx.c.set_faults(faults);
    std::vector<bool> out;
    for (int i = 0; i < 200; ++i) {
      const sb::Change ch{
          "ARINVOICE", i % 2 == 0 ? "add" : "set", 1000 + i, "01/05/2026 12:00:00", kJan5, {}};
      out.push_back(fx.c.take_event_drop(ch));
    }
    const auto listed = fx.c.dropped_events();
    const auto n = std::count(out.begin(), out.end(), true);
    CHECK(listed.count == n);
    REQUIRE(listed.events.size() == static_cast<std::size_t>(n));
    std::size_t k = 0;
    for (int i = 0; i < 200; ++i) {
      if (!out[static_cast<std::size_t>(i)]) continue;
      CHECK(listed.events[k].object == "ARINVOICE");
      CHECK(listed.events[k].recordno == 1000 + i);
      CHECK(listed.events[k].action == (i % 2 == 0 ? "add" : "set"));
      CHECK(listed.events[k].whenmodified == "01/05/2026 12:00:00");
      ++k;
    }
    CHECK(fx.c.stats().faults_by_name.at("drop_events") == n);
    return out;
  };
  const auto first = drops(7);
  const auto n = std::count(first.begin(), first.end(), true);
  CHECK(n > 30);  // about 60 of 200
  CHECK(n < 90);
  CHECK(drops(7) == first);  // same seed, same events: same drops
  CHECK(drops(8) != first);
}

TEST_CASE("the drop counter goes first, ratio 0 stops drops at once, and the list clears") {
  Fixture fx;
  sb::Faults faults;
  faults.drop_events = 2;
  faults.drop_events_ratio = 1;
  fx.c.set_faults(faults);
  const sb::Change ch{"CUSTOMER", "set", 5, "01/05/2026 12:00:00", kJan5, {}};
  for (int i = 0; i < 5; ++i) CHECK(fx.c.take_event_drop(ch));
  CHECK(fx.c.faults().drop_events == 0);
  faults = fx.c.faults();
  faults.drop_events_ratio = 0;
  fx.c.set_faults(faults);
  for (int i = 0; i < 5; ++i) CHECK_FALSE(fx.c.take_event_drop(ch));
  CHECK(fx.c.dropped_events().count == 5);
  fx.c.clear_dropped_events();
  CHECK(fx.c.dropped_events().count == 0);
  CHECK(fx.c.dropped_events().events.empty());
}

TEST_CASE("a denied object fails every read of it as a missing permission; others still read") {
  Fixture fx;
  must(fx.c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}));
  const auto inv = must(fx.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "50"}}));
  for (int i = 0; i < 3; ++i) {
    REQUIRE(fx.c.add("ARPYMT", payment("C1", inv.recordno, "1.00", "P" + std::to_string(i)))
                .has_value());
  }
  // A resultId taken before the denial is denied too once it is set.
  const auto first = run(fx.c, ii::ReadByQuery{"ARPYMT", {}, "", 1});
  REQUIRE(first.status == Status::success);
  REQUIRE(first.data->result_id);
  const auto result_id = *first.data->result_id;

  sb::Faults faults;
  faults.deny_read_objects = {"ARPYMT"};
  fx.c.set_faults(faults);
  ii::Query q;
  q.object = "ARPYMT";
  q.select = {"RECORDNO"};
  const std::vector<ii::Call> denied = {ii::Read{"ARPYMT", {"1"}, {}, ""},
                                        ii::ReadByQuery{"ARPYMT", {}, "", 100}, q,
                                        ii::ReadMore{result_id}};
  for (const auto& call : denied) {
    const auto r = run(fx.c, call);
    CAPTURE(ii::function_name(call));
    CHECK(r.status == Status::failure);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].errorno == "BL01001973");
    CHECK(r.errors[0].description == "Could not read records!");
    CHECK(r.errors[0].description2 ==
          "You do not have permission for API operation READ on objects of type arpymt.");
  }
  CHECK(fx.c.stats().faults_by_name.at("deny_read_objects") == 4);
  // Other objects, and writes of the denied one, are untouched.
  CHECK(run(fx.c, ii::Read{"ARINVOICE", {std::to_string(inv.recordno)}, {}, ""}).status ==
        Status::success);
  CHECK(run(fx.c, ii::ReadByQuery{"CUSTOMER", {}, "", 100}).status == Status::success);
  CHECK(fx.c.add("ARPYMT", payment("C1", inv.recordno, "1.00", "P9")).has_value());
  // Cleared: reads work again, and the count-based deny_reads is unchanged.
  fx.c.set_faults({});
  CHECK(run(fx.c, ii::Read{"ARPYMT", {"1"}, {}, ""}).status == Status::success);
}

TEST_CASE("silent writes change the company and tell no listener") {
  Fixture fx;
  const auto cust = must(fx.c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}));
  const auto inv = must(fx.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "80"}}));
  const auto before = fx.seen();
  const sb::WriteOptions silent{true};

  // (a) An Order Entry invoice re-created under a new RECORDNO.
  REQUIRE(fx.c.remove("ARINVOICE", inv.recordno, silent).has_value());
  const auto again =
      must(fx.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "80"}}, silent));
  CHECK(again.recordno > inv.recordno);
  CHECK_FALSE(fx.c.get("ARINVOICE", inv.recordno));
  // (b) Turned Draft, silently; the customer's TOTALDUE follows, silently too.
  CHECK(must(fx.c.set("ARINVOICE", again.recordno, {{"STATE", "Draft"}}, silent))
            .fields.at("STATE") == "Draft");
  CHECK(fx.f("CUSTOMER", cust.recordno, "TOTALDUE") == "0.00");
  must(fx.c.set("ARINVOICE", again.recordno, {{"STATE", "Posted"}}, silent));
  // (c) TOTALDUE changed by a silent payment; a field edited silently.
  REQUIRE(fx.c.add("ARPYMT", payment("C1", again.recordno, "30.00", "P1"), silent).has_value());
  CHECK(fx.f("ARINVOICE", again.recordno, "TOTALDUE") == "50.00");
  must(fx.c.set("CUSTOMER", cust.recordno, {{"NAME", "One Ltd"}}, silent));
  CHECK(fx.seen() == before);

  // The same without the flag: each write tells its listeners.
  must(fx.c.set("ARINVOICE", again.recordno, {{"DOCNUMBER", "PO-1"}}));
  CHECK(fx.seen() == before + 1);
  CHECK(fx.changes.back().object == "ARINVOICE");
  CHECK(fx.changes.back().action == "set");
  const auto draft = must(fx.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "5"}}));
  const auto after_add = fx.seen();
  must(fx.c.set("ARINVOICE", draft.recordno, {{"STATE", "Draft"}}));
  CHECK(fx.seen() > after_add);
  REQUIRE(fx.c.remove("ARINVOICE", draft.recordno).has_value());
  CHECK(fx.changes.back().action == "delete");
  CHECK(fx.changes.back().recordno == draft.recordno);
}
