// Thin and conflicting smart events settled by reads from Intacct: the
// handler against a real Redis and the sandbox's gateway over real HTTP.
#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <thread>

#include "tests/handlers/mirror_intacct_fixture.hpp"

namespace isync::testing {
namespace {

TEST_CASE("a thin event is settled by reading the record from Intacct") {
  IntacctFixture f;
  auto rec = f.add_customer("C-100", "Acme Widgets");
  auto out = f.apply(IntacctFixture::thin(rec, "add"));
  CHECK(out.kind == queue::Outcome::Kind::done);
  CHECK(out.result == "applied");
  auto stored = f.fields("CUSTOMER", std::to_string(rec.recordno));
  for (const auto& [k, v] : rec.fields) {
    INFO("field " << k);
    CHECK(stored[k] == v);
  }
  CHECK(stored["RECORDNO"] == std::to_string(rec.recordno));
  CHECK(f.reads() == 1);
  CHECK(f.read_results("CUSTOMER", "applied") == 1);
  CHECK(f.hget("CUSTOMER", std::to_string(rec.recordno), "wm") == rec.fields.at("WHENMODIFIED"));
}

TEST_CASE("no read is made when the mirror already holds that version or newer") {
  IntacctFixture f;
  auto rec = f.add_customer("C-101", "First Name");
  // Read once the second of its WHENMODIFIED has settled: final for that
  // version, so a redelivered or late thin event of the same or an older
  // version needs no read.
  REQUIRE(f.apply(IntacctFixture::thin(rec)).result == "applied");
  REQUIRE(f.reads() == 1);
  CHECK(f.server.cmd({"ZCARD", queue::key(kTenant, "recheck")}).integer == 0);
  auto same = IntacctFixture::thin(rec);
  CHECK(f.apply(same).result == "ignored");
  auto older = IntacctFixture::thin(rec);
  older.version -= 60;
  older.whenmodified = format_whenmodified(older.version);
  CHECK(f.apply(older).result == "ignored");
  CHECK(f.reads() == 1);
}

TEST_CASE("thin events due together are read from Intacct in one call") {
  IntacctFixture f;
  std::vector<queue::Envelope> events;
  for (int i = 0; i < 30; ++i)
    events.push_back(
        IntacctFixture::thin(f.add_customer("C-2" + std::to_string(i), "N" + std::to_string(i))));
  // Two events for one record share the read's key.
  events.push_back(events.front());
  events.back().event_id = make_ulid(kStartMs + 1);
  std::vector<std::future<queue::Outcome>> results;
  std::vector<queue::Delivery> deliveries(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    deliveries[i].tenant = kTenant;
    deliveries[i].stream = queue::key(kTenant, "events");
    deliveries[i].entry_id = "1-" + std::to_string(i + 1);
    deliveries[i].envelope = events[i];
    auto p = std::make_shared<std::promise<queue::Outcome>>();
    results.push_back(p->get_future());
    f.handler->handle(deliveries[i], [p](queue::Outcome o) { p->set_value(std::move(o)); });
  }
  int applied = 0;
  for (auto& r : results) {
    REQUIRE(r.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    auto o = r.get();
    CHECK(o.kind == queue::Outcome::Kind::done);
    applied += o.result == "applied";
  }
  CHECK(applied == 30);  // the 31st found the record already applied
  CHECK(f.reads() == 1);
}

TEST_CASE("a thin event for a record Intacct no longer has leaves a tombstone") {
  IntacctFixture f;
  auto rec = f.add_customer("C-300", "Gone Soon");
  REQUIRE(f.apply(IntacctFixture::thin(rec)).result == "applied");
  REQUIRE(f.company.remove("CUSTOMER", rec.recordno).has_value());
  auto later = IntacctFixture::thin(rec);
  later.version += 5;
  later.whenmodified = format_whenmodified(later.version);
  f.clock.advance(5000);  // that second has settled too
  auto out = f.apply(later);
  CHECK(out.kind == queue::Outcome::Kind::done);
  CHECK(out.result == "tombstoned");
  CHECK(f.hget("CUSTOMER", std::to_string(rec.recordno), "del") == "1");
  auto doc = f.get("customers", std::to_string(rec.recordno));
  REQUIRE(doc.has_value());
  CHECK(doc->find("\"deleted\":true") != std::string::npos);
  CHECK(f.read_results("CUSTOMER", "gone") == 1);
}

TEST_CASE("a same-second conflict between snapshots is settled by the record Intacct has") {
  IntacctFixture f;
  auto rec = f.add_customer("C-400", "Truth");
  const std::string recordno = std::to_string(rec.recordno);
  auto v = *parse_whenmodified(rec.fields.at("WHENMODIFIED"));
  REQUIRE(f.apply(make_event("CUSTOMER", recordno, "set", v, {{"NAME", "Stale A"}})).result ==
          "applied");
  auto out = f.apply(make_event("CUSTOMER", recordno, "set", v, {{"NAME", "Stale B"}}));
  CHECK(out.kind == queue::Outcome::Kind::done);
  CHECK(out.result == "applied");
  CHECK(f.fields("CUSTOMER", recordno).at("NAME") == "Truth");
  CHECK(f.reads() == 1);
}

TEST_CASE("a failed read from Intacct is retried later with Intacct's words on the attempt") {
  IntacctFixture f;
  auto rec = f.add_customer("C-500", "Busy");
  sandbox::Faults faults;
  faults.server_error = 1;
  f.company.set_faults(faults);
  auto out = f.apply(IntacctFixture::thin(rec));
  CHECK(out.kind == queue::Outcome::Kind::retry);
  CHECK(out.failure.cls == queue::FailureClass::transient);
  CHECK(out.failure.code == "intacct_error");
  CHECK(out.failure.message.find("reading the record from Intacct failed") != std::string::npos);
  // The next delivery goes through.
  CHECK(f.apply(IntacctFixture::thin(rec)).result == "applied");
}

TEST_CASE("rejected credentials park the tenant's thin events instead of retrying them") {
  IntacctFixture f("wrong-password");
  auto rec = f.add_customer("C-600", "Locked");
  auto out = f.apply(IntacctFixture::thin(rec));
  CHECK(out.kind == queue::Outcome::Kind::park);
  CHECK(out.failure.code == "intacct_circuit_open");
  // The circuit is open: the next event is parked without calling Intacct.
  const auto requests = f.company.stats().requests;
  auto again = f.apply(IntacctFixture::thin(f.add_customer("C-601", "Locked too")));
  CHECK(again.kind == queue::Outcome::Kind::park);
  CHECK(again.failure.code == "intacct_circuit_open");
  CHECK(f.company.stats().requests == requests);
}

TEST_CASE("without Intacct access for the tenant a thin event is parked") {
  MirrorFixture f;
  auto out = f.apply(make_event("CUSTOMER", "7", "set", 1700000000));
  CHECK(out.kind == queue::Outcome::Kind::park);
  CHECK(out.failure.code == "thin_event");
}

TEST_CASE("read at once, a second change within the second of the read is caught by the recheck") {
  IntacctFixture f("user-secret", false);
  f.clock.set(kChangeMs + 100);
  auto rec = f.add_customer("C-700", "First");
  const std::string recordno = std::to_string(rec.recordno);
  REQUIRE(f.apply(IntacctFixture::thin(rec)).result == "applied");
  // Read 100 ms into the record's second: not final for that version, so the
  // record is due again 2 s after the second ends.
  const std::string member = "CUSTOMER:" + recordno;
  CHECK(f.server.cmd({"ZSCORE", queue::key(kTenant, "recheck"), member}).str ==
        std::to_string(kSettledMs));
  // Changed again in the same second: the same WHENMODIFIED, so its smart
  // event is a duplicate of the first and never reaches a worker.
  auto second = f.company.set("CUSTOMER", rec.recordno, {{"NAME", "Second"}});
  REQUIRE(second.has_value());
  REQUIRE(second->fields.at("WHENMODIFIED") == rec.fields.at("WHENMODIFIED"));
  f.handler->start_rechecks(f.io->executor(), {kTenant}, std::chrono::milliseconds(20));
  // Not due yet: nothing is read.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(f.reads() == 1);
  f.clock.set(kSettledMs);
  CHECK(eventually([&] { return f.fields("CUSTOMER", recordno)["NAME"] == "Second"; }));
  CHECK(eventually([&] {
    return f.server.cmd({"ZCARD", queue::key(kTenant, "recheck")}).integer == 0;
  }));
  CHECK(f.reads() == 2);
  CHECK(
      f.metrics
          .counter("isync_mirror_rechecks_total", "", {{"tenant", kTenant}, {"result", "applied"}})
          .value() == 1);
  CHECK(f.hget("CUSTOMER", recordno, "rt") == std::to_string(kSettledMs));
  // Settled now: a thin event of that version needs no read.
  CHECK(f.apply(IntacctFixture::thin(rec)).result == "ignored");
  CHECK(f.reads() == 2);
}

TEST_CASE("read at once, a thin event of the version last read within its second is read again") {
  IntacctFixture f("user-secret", false);
  f.clock.set(kChangeMs + 100);
  auto rec = f.add_customer("C-800", "One");
  REQUIRE(f.apply(IntacctFixture::thin(rec)).result == "applied");
  REQUIRE(f.company.set("CUSTOMER", rec.recordno, {{"NAME", "Two"}}).has_value());
  // Another event of the same version (e.g. after the dedup window, or a
  // second smart event of the same change) is not taken as settled.
  auto again = IntacctFixture::thin(rec);
  again.event_id = make_ulid(kStartMs + 5);
  CHECK(f.apply(again).result == "applied");
  CHECK(f.fields("CUSTOMER", std::to_string(rec.recordno))["NAME"] == "Two");
  CHECK(f.reads() == 2);
}

TEST_CASE("a thin event within its record's second is acked and the record read once it settles") {
  IntacctFixture f;
  f.clock.set(kChangeMs + 100);
  auto rec = f.add_customer("C-900", "First");
  const std::string recordno = std::to_string(rec.recordno);
  auto out = f.apply(IntacctFixture::thin(rec, "add"));
  CHECK(out.kind == queue::Outcome::Kind::done);
  CHECK(out.result == "deferred");
  CHECK(f.reads() == 0);
  CHECK(f.server.cmd({"ZSCORE", queue::key(kTenant, "recheck"), "CUSTOMER:" + recordno}).str ==
        std::to_string(kSettledMs));
  // A second change in the same second: its event would be a duplicate.
  REQUIRE(f.company.set("CUSTOMER", rec.recordno, {{"NAME", "Second"}}).has_value());
  f.handler->start_rechecks(f.io->executor(), {kTenant}, std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(f.reads() == 0);  // not due yet
  f.clock.set(kSettledMs);
  CHECK(eventually([&] { return f.fields("CUSTOMER", recordno)["NAME"] == "Second"; }));
  CHECK(eventually([&] {
    return f.server.cmd({"ZCARD", queue::key(kTenant, "recheck")}).integer == 0;
  }));
  CHECK(f.reads() == 1);  // both changes, one read, never repeated
  auto doc = f.get("customers", recordno);
  REQUIRE(doc.has_value());
  CHECK(doc->find("\"source\":\"intacct_recheck\"") != std::string::npos);
}

TEST_CASE("a deferred read is made even when an older version of the record is settled") {
  IntacctFixture f;
  auto rec = f.add_customer("C-950", "Old");
  const std::string recordno = std::to_string(rec.recordno);
  REQUIRE(f.apply(IntacctFixture::thin(rec)).result == "applied");  // settled at its version
  f.sandbox_clock.advance(5000);
  auto changed = f.company.set("CUSTOMER", rec.recordno, {{"NAME", "New"}});
  REQUIRE(changed.has_value());
  f.clock.set(kChangeMs + 5100);  // within the new change's second
  CHECK(f.apply(IntacctFixture::thin(*changed)).result == "deferred");
  f.handler->start_rechecks(f.io->executor(), {kTenant}, std::chrono::milliseconds(20));
  f.clock.set(kSettledMs + 5000);
  CHECK(eventually([&] { return f.fields("CUSTOMER", recordno)["NAME"] == "New"; }));
  CHECK(f.reads() == 2);
  CHECK(f.hget("CUSTOMER", recordno, "need") == "(nil)");
}

}  // namespace
}  // namespace isync::testing
