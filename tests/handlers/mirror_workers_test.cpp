// The mirror under the real queue: a Producer fills the tenant's stream and a
// WorkerPool of four workers drains it through MirrorHandler.
#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "tests/handlers/mirror_fixture.hpp"

using isync::testing::Fields;
using isync::testing::kTenant;
using isync::testing::make_event;

namespace isync::testing {
namespace {

constexpr std::int64_t kBase = 1714564800;  // 05/01/2024 12:00:00 UTC
constexpr int kRecords = 100;
constexpr int kVersions = 4;
constexpr int kRedeliveries = 3;  // per record: same version, identical content
constexpr int kPartials = 3;      // per record: same version, a subset of its fields

struct Expected {
  std::int64_t version = 0;
  std::map<std::string, std::string> fields;
};

Fields full_snapshot(int record, int k) {
  // CUSTOMERID changes once for every tenth record, so the index moves too.
  std::string id = "C" + std::to_string(record);
  if (record % 10 == 0 && k >= 2) id += "-renamed";
  return {{"CUSTOMERID", id},
          {"NAME", "Customer " + std::to_string(record) + " v" + std::to_string(k)},
          {"STATUS", k % 2 == 0 ? "active" : "inactive"},
          {"TOTALDUE", std::to_string(record * 100 + k) + ".00"}};
}

queue::Envelope clone_with_new_id(const queue::Envelope& e) {
  queue::Envelope c = e;
  c.event_id = make_ulid(kStartMs);
  return c;
}

}  // namespace
}  // namespace isync::testing

using namespace isync;
using namespace isync::testing;

TEST_CASE("1,000 shuffled events over 100 records leave exactly the newest state") {
  RedisServer server;
  Metrics metrics;
  SystemClock clock;
  Log log{Level::warn, [](std::string_view) {}};
  auto io = std::make_unique<IoThread>();
  auto conn = connect(io->executor(), server.endpoint());
  handlers::MirrorHandler handler(conn, handlers::MirrorOptions{}, metrics, clock, log);
  queue::Producer producer(conn, metrics);

  std::mt19937 rng(20240501);
  std::vector<queue::Envelope> events;
  std::map<std::string, Expected> expected;
  for (int r = 1; r <= kRecords; ++r) {
    const std::string recordno = std::to_string(1000 + r);
    std::vector<queue::Envelope> full;
    for (int k = 0; k < kVersions; ++k) {
      full.push_back(make_event("CUSTOMER", recordno, k == 0 ? "add" : "set", kBase + k * 60,
                                full_snapshot(r, k)));
      events.push_back(full.back());
    }
    for (int i = 0; i < kRedeliveries; ++i) {
      events.push_back(clone_with_new_id(full[rng() % kVersions]));
    }
    for (int i = 0; i < kPartials; ++i) {
      const auto& source = full[rng() % kVersions];
      auto partial = clone_with_new_id(source);
      std::vector<std::pair<std::string, std::string>> subset;
      for (const auto& f : source.snapshot) {
        if (rng() % 2 == 0) subset.push_back(f);
      }
      if (subset.empty()) subset.push_back(source.snapshot.front());
      partial.snapshot = subset;
      events.push_back(partial);
    }
    Expected ex;
    ex.version = kBase + (kVersions - 1) * 60;
    for (const auto& [name, value] : full.back().snapshot) ex.fields[name] = value;
    expected[recordno] = ex;
  }
  REQUIRE(events.size() == 1000);
  std::shuffle(events.begin(), events.end(), rng);

  queue::WorkerOptions wopts;
  wopts.workers = 4;
  wopts.visibility_timeout = std::chrono::milliseconds(5000);
  queue::WorkerPool pool(io->executor(), server.endpoint(), {kTenant}, handler, wopts, metrics,
                         clock, log);
  pool.start();

  std::atomic<int> accepted{0};
  std::atomic<int> failed{0};
  for (const auto& e : events) {
    // Distinct dedup keys: redeliveries must really reach the workers.
    producer.accept(e, sha256_hex("test:" + e.event_id), std::chrono::hours(1),
                    [&](Result<queue::AcceptResult> r) {
                      if (r && !r->duplicate) {
                        accepted.fetch_add(1);
                      } else {
                        failed.fetch_add(1);
                      }
                    });
  }
  REQUIRE(eventually([&] { return accepted.load() + failed.load() == 1000; },
                     std::chrono::seconds(60)));
  REQUIRE(failed.load() == 0);

  const std::string stream = queue::key(kTenant, "events");
  auto drained = [&] {
    auto len = server.cmd({"XLEN", stream});
    auto pending = server.cmd({"XPENDING", stream, std::string(queue::kGroup)});
    return len.integer == 0 && pending.type == redis::Reply::Type::array &&
           !pending.elements.empty() && pending.elements[0].integer == 0;
  };
  CHECK(eventually(drained, std::chrono::seconds(60)));

  for (const auto& [recordno, ex] : expected) {
    const std::string rec = queue::key(kTenant, "rec:CUSTOMER:" + recordno);
    auto v = server.cmd({"HGET", rec, "v"});
    CHECK_MESSAGE(v.str == std::to_string(ex.version), "record " << recordno);
    auto f = server.cmd({"HGET", rec, "f"});
    rapidjson::Document doc;
    doc.Parse(f.str.c_str(), f.str.size());
    REQUIRE(doc.IsObject());
    std::map<std::string, std::string> got;
    for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
      got[it->name.GetString()] = it->value.GetString();
    }
    CHECK_MESSAGE(got == ex.fields, "record " << recordno);
    auto by_id = queue::key(kTenant, "id:CUSTOMER:" + ex.fields.at("CUSTOMERID"));
    CHECK(server.cmd({"SISMEMBER", by_id, recordno}).integer == 1);
  }
  CHECK(server.cmd({"ZCARD", queue::key(kTenant, "dead")}).integer == 0);
  CHECK(server.cmd({"ZCARD", queue::key(kTenant, "parked")}).integer == 0);
  CHECK(server.cmd({"ZCARD", queue::key(kTenant, "retry")}).integer == 0);

  auto stopped = std::make_shared<std::promise<void>>();
  pool.stop([stopped] { stopped->set_value(); });
  CHECK(stopped->get_future().wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  close_and_wait(*conn);
  io->stop();
}
