// The channel of the events that put a record on the read schedule: a
// deferred read is audited with it ("channel":"trigger"), a smart event's
// deferred read exactly as before, and the schedule's channels hash holds an
// entry only while its record is on the schedule.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

#include "tests/handlers/mirror_intacct_fixture.hpp"

namespace isync::testing {
namespace {

const std::string kChannels = queue::key(kTenant, "recheck:channel");

struct ChannelFixture : IntacctFixture {
  ChannelFixture() { clock.set(kChangeMs + 100); }  // within the changes' second

  // A thin trigger of `r`; `n` tells its event id apart.
  static queue::Envelope trigger(const sandbox::Record& r, int n) {
    auto e = thin(r);
    e.event_id = make_ulid(kStartMs + n);
    e.channel = "trigger";
    return e;
  }
  std::string channels(const std::string& member) {
    auto r = server.cmd({"HGET", kChannels, member});
    return r.type == redis::Reply::Type::string ? r.str : std::string("(nil)");
  }
  // Works the schedule once its second has settled, until it is empty.
  void work_schedule() {
    handler->start_rechecks(io->executor(), {kTenant}, std::chrono::milliseconds(20));
    clock.set(kSettledMs);
    REQUIRE(eventually([&] {
      return server.cmd({"ZCARD", queue::key(kTenant, "recheck")}).integer == 0;
    }));
  }
  std::string newest_audit(const std::string& recordno) {
    return server.cmd({"LINDEX", audit_key("CUSTOMER", recordno), "0"}).str;
  }
  std::uint64_t rechecks(const std::string& result) {
    return metrics
        .counter("isync_mirror_rechecks_total", "", {{"tenant", kTenant}, {"result", result}})
        .value();
  }
};

TEST_CASE("a thin trigger's deferred read is audited with the trigger channel") {
  ChannelFixture f;
  auto rec = f.add_customer("C-700", "By trigger");
  const std::string recordno = std::to_string(rec.recordno);
  REQUIRE(f.apply(ChannelFixture::trigger(rec, 1)).result == "deferred");
  CHECK(f.channels("CUSTOMER:" + recordno) == "trigger");
  // Another trigger of the record before the read names it once.
  REQUIRE(f.apply(ChannelFixture::trigger(rec, 2)).result == "deferred");
  CHECK(f.channels("CUSTOMER:" + recordno) == "trigger");
  f.work_schedule();
  REQUIRE(f.fields("CUSTOMER", recordno)["NAME"] == "By trigger");
  const std::string entry = f.newest_audit(recordno);
  CHECK(
      entry.find(
          R"("source":"intacct_recheck","channel":"trigger","action":"set","result":"applied")") !=
      std::string::npos);
  CHECK(f.server.cmd({"EXISTS", kChannels}).integer == 0);
  CHECK(f.reads() == 1);
}

TEST_CASE("a thin smart event's deferred read is audited without a channel, as before") {
  ChannelFixture f;
  auto rec = f.add_customer("C-701", "By smart event");
  const std::string recordno = std::to_string(rec.recordno);
  REQUIRE(f.apply(IntacctFixture::thin(rec)).result == "deferred");
  CHECK(f.server.cmd({"EXISTS", kChannels}).integer == 0);
  f.work_schedule();
  REQUIRE(f.fields("CUSTOMER", recordno)["NAME"] == "By smart event");
  const std::string entry = f.newest_audit(recordno);
  CHECK(entry.starts_with(R"({"event_id":")"));
  CHECK(
      entry.find(R"(","source":"intacct_recheck","action":"set","result":"applied","version":)") !=
      std::string::npos);
  CHECK(entry.find("channel") == std::string::npos);
  CHECK(f.server.cmd({"EXISTS", kChannels}).integer == 0);
}

TEST_CASE("a record put on the schedule by a smart event and a trigger is audited as trigger") {
  ChannelFixture f;
  auto rec = f.add_customer("C-702", "Both");
  const std::string recordno = std::to_string(rec.recordno);
  REQUIRE(f.apply(IntacctFixture::thin(rec)).result == "deferred");
  REQUIRE(f.apply(ChannelFixture::trigger(rec, 3)).result == "deferred");
  CHECK(f.channels("CUSTOMER:" + recordno) == "trigger");
  f.work_schedule();
  CHECK(f.newest_audit(recordno).find(R"("source":"intacct_recheck","channel":"trigger")") !=
        std::string::npos);
  CHECK(f.server.cmd({"EXISTS", kChannels}).integer == 0);
}

TEST_CASE("a deferred trigger whose record Intacct no longer has is tombstoned with its channel") {
  ChannelFixture f;
  auto rec = f.add_customer("C-703", "Going");
  const std::string recordno = std::to_string(rec.recordno);
  REQUIRE(f.apply(ChannelFixture::trigger(rec, 4)).result == "deferred");
  REQUIRE(f.company.remove("CUSTOMER", rec.recordno).has_value());
  f.work_schedule();
  CHECK(f.hget("CUSTOMER", recordno, "del") == "1");
  CHECK(
      f.newest_audit(recordno).find(
          R"("source":"intacct_recheck","channel":"trigger","action":"set","result":"tombstoned")") !=
      std::string::npos);
  CHECK(f.rechecks("gone") == 1);
  CHECK(f.server.cmd({"EXISTS", kChannels}).integer == 0);
}

TEST_CASE("a deferred trigger's channel leaves with its record when the scheduled read is held") {
  ChannelFixture f;
  auto rec = f.add_customer("C-704", "Read early");
  const std::string recordno = std::to_string(rec.recordno);
  REQUIRE(f.apply(ChannelFixture::trigger(rec, 5)).result == "deferred");
  // Once the second has settled, a smart event's read brings the version
  // (audited without a channel) before the schedule is worked.
  f.clock.set(kSettledMs);
  auto smart = IntacctFixture::thin(rec);
  smart.event_id = make_ulid(kStartMs + 6);
  REQUIRE(f.apply(smart).result == "applied");
  CHECK(f.newest_audit(recordno).find("channel") == std::string::npos);
  CHECK(f.channels("CUSTOMER:" + recordno) == "trigger");
  f.work_schedule();
  CHECK(f.rechecks("held") == 1);
  CHECK(f.server.cmd({"EXISTS", kChannels}).integer == 0);
  CHECK(f.reads() == 1);
}

}  // namespace
}  // namespace isync::testing
