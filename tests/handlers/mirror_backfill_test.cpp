// The one-time back-fill of the RECORDNO index after an upgrade (records
// written before the index existed), on a real redis-server.
#include <set>
#include <string>

#include "tests/handlers/mirror_sync_fixture.hpp"

namespace queue = isync::queue;
namespace redis = isync::redis;
using isync::testing::eventually;
using isync::testing::make_event;
using isync::testing::SyncFixture;

namespace {

constexpr std::int64_t kV1 = 1714564800;  // 05/01/2024 12:00:00 UTC

// Writes `n` records per object as the apply script of an older version did
// (no index), plus, per object, a tombstone and (invoices) a draft marker,
// and a payment the posted script wrote (v 0). Records are numbered
// 1..n; the tombstone is n+1, the draft marker n+2, the payment n+3.
const char* const kSeedLua = R"lua(
local n = tonumber(ARGV[2])
for _, obj in ipairs({'CUSTOMER', 'ARINVOICE', 'ARPYMT'}) do
  for i = 1, n do
    local f = '{"NAME":"r' .. i .. '"}'
    if obj == 'ARINVOICE' then f = '{"STATE":"Posted","TOTALDUE":"' .. i .. '.00"}' end
    redis.call('HSET', ARGV[1] .. obj .. ':' .. i, 'v', tostring(1714564800 + i), 'wm', 'x',
               'del', '0', 'draft', '0', 'f', f)
  end
  redis.call('HSET', ARGV[1] .. obj .. ':' .. (n + 1), 'v', '1714564800', 'del', '1', 'draft', '0', 'f', '{}')
end
redis.call('HSET', ARGV[1] .. 'ARINVOICE:' .. (n + 2), 'v', '1714564800', 'del', '0', 'draft', '1', 'f', '{}')
redis.call('HSET', ARGV[1] .. 'ARPYMT:' .. (n + 3), 'v', '0', 'wm', '', 'del', '0', 'draft', '0', 'f', '{"DOCNUMBER":"pi_1"}')
return 1
)lua";

constexpr int kRecords = 400;  // 1,200 live records, more than one SCAN step

struct BackfillFixture : SyncFixture {
  void seed(const std::string& tenant = "acme", int n = kRecords) {
    server.cmd({"EVAL", kSeedLua, "0", queue::key(tenant, "rec:"), std::to_string(n)});
  }

  // Steps until ready (at most `max` steps); the number of steps taken.
  int run_to_ready(int max = 1000, const std::string& tenant = "acme") {
    for (int i = 1; i <= max; ++i) {
      auto s = step(tenant);
      REQUIRE(s.has_value());
      if (s->ready) return i;
    }
    FAIL("the back-fill did not end");
    return max;
  }

  void check_all_indexed(const std::string& tenant = "acme", int n = kRecords,
                         int extra_customers = 0) {
    CHECK(indexed("CUSTOMER", tenant) == n + extra_customers);
    CHECK(indexed("ARINVOICE", tenant) == n);
    CHECK(indexed("ARPYMT", tenant) == n + 1);
    for (int i : {1, n / 2, n}) {
      const std::string no = std::to_string(i);
      CHECK(entry("CUSTOMER", no, tenant) == std::to_string(kV1 + i));
      CHECK(entry("ARINVOICE", no, tenant) == std::to_string(kV1 + i) + ":" + no + ".00");
    }
    CHECK(entry("CUSTOMER", std::to_string(n + 1), tenant) == "(none)");
    CHECK(entry("ARINVOICE", std::to_string(n + 2), tenant) == "(none)");
    CHECK(entry("ARPYMT", std::to_string(n + 3), tenant) == "0");
  }

  // A connection as an older version names its mirror writer.
  redis::SyncConnection older_writer(const std::string& name = "isync-handler") {
    auto c = redis::SyncConnection::connect(server.endpoint(), std::chrono::milliseconds(2000));
    REQUIRE(c.has_value());
    auto r = c->command({"CLIENT", "SETNAME", name});
    REQUIRE(r.has_value());
    REQUIRE(!r->is_error());
    return std::move(*c);
  }
};

}  // namespace

TEST_CASE_FIXTURE(BackfillFixture,
                  "after an upgrade the back-fill indexes every live record and marks the tenant "
                  "ready") {
  // Records written through the apply script, then the index keys deleted:
  // as if written by a version before the index.
  apply(make_event("CUSTOMER", "5000", "add", kV1, {{"NAME", "via event"}}));
  drop_index();
  seed();
  CHECK(indexed("CUSTOMER") == 0);

  auto before = status();
  REQUIRE(before.has_value());
  CHECK_FALSE(before->ready);
  CHECK(before->scanned == 0);

  auto first = step();
  REQUIRE(first.has_value());
  CHECK_FALSE(first->ready);  // ~1,200 rec: keys take more than one step
  CHECK(first->scanned > 0);
  auto mid = status();
  REQUIRE(mid.has_value());
  CHECK_FALSE(mid->ready);
  CHECK(mid->scanned == first->scanned);

  run_to_ready();
  check_all_indexed("acme", kRecords, 1);
  CHECK(entry("CUSTOMER", "5000") == std::to_string(kV1));

  auto after = status();
  REQUIRE(after.has_value());
  CHECK(after->ready);
  CHECK(after->scanned >= 3 * kRecords + 5);
  // Ready for good: a step answers at once and scans nothing more.
  auto again = step();
  REQUIRE(again.has_value());
  CHECK(again->ready);
  CHECK(again->scanned == after->scanned);
}

TEST_CASE_FIXTURE(BackfillFixture, "a tenant with no records is ready after one step") {
  seed("globex", 10);  // another tenant's records are not this one's
  auto s = step();
  REQUIRE(s.has_value());
  CHECK(s->ready);
  CHECK(s->scanned == 0);
  CHECK(indexed("CUSTOMER") == 0);
  CHECK(indexed("CUSTOMER", "globex") == 0);
}

TEST_CASE_FIXTURE(BackfillFixture, "the back-fill resumes from the cursor stored in Redis") {
  seed();
  // A first step made by a process that then crashed: its batch is indexed
  // and its cursor stored.
  auto scan = server.cmd({"SCAN", "0", "MATCH", queue::key("acme", "rec:*"), "COUNT", "500"});
  REQUIRE(scan.elements.size() == 2);
  const std::string cursor = scan.elements[0].str;
  REQUIRE(cursor != "0");
  std::set<std::string> first_batch;
  for (const auto& k : scan.elements[1].elements) first_batch.insert(k.str);
  REQUIRE(!first_batch.empty());
  server.cmd({"HSET", queue::key("acme", "idx-state"), "cursor", cursor, "scanned",
              std::to_string(first_batch.size())});

  // A new process (a new MirrorSync) goes on from there.
  sync = std::make_unique<isync::handlers::MirrorSync>(io->executor(), conn, options, clock, log);
  run_to_ready();
  auto st = status();
  REQUIRE(st.has_value());
  CHECK(st->ready);
  // It did not start over: the first batch's records (which the "crashed"
  // step would have indexed) were not visited again.
  const std::string prefix = queue::key("acme", "rec:");
  int unvisited = 0;
  for (const auto& k : first_batch) {
    const std::string rest = k.substr(prefix.size());
    const auto colon = rest.find(':');
    if (entry(rest.substr(0, colon), rest.substr(colon + 1)) == "(none)") ++unvisited;
  }
  CHECK(unvisited > 0);
  CHECK(st->scanned >= 3 * kRecords + 5);
}

TEST_CASE_FIXTURE(BackfillFixture,
                  "the back-fill refuses while a connection named isync-handler exists") {
  seed();
  {
    auto older = older_writer();
    auto refused = step();
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code == "older_writer");
    CHECK(refused.error().message ==
          "a process of an older version (Redis connection named \"isync-handler\") is still "
          "writing the mirror without indexing it; the index back-fill of tenant acme starts "
          "once every process runs this version");
    auto st = status();
    REQUIRE(st.has_value());
    CHECK_FALSE(st->ready);
    CHECK(st->scanned == 0);
    CHECK(indexed("CUSTOMER") == 0);
  }
  // This version's name, and names that only start alike, do not hold it up.
  auto current = older_writer("isync-handler-2");
  auto other = older_writer("isync-handlerx");
  REQUIRE(eventually([&] { return static_cast<bool>(step()); }));
  run_to_ready();
  check_all_indexed();
}

TEST_CASE_FIXTURE(BackfillFixture, "run_backfill completes every tenant in the background") {
  seed("acme");
  seed("globex", 50);
  server.cmd({"SET", queue::key("globex", "idx-lock"), "another-process", "PX", "1500"});
  {
    // Held up by an older writer at first; retried once it is gone.
    auto older = older_writer();
    sync->run_backfill({"acme", "globex"});
    REQUIRE(eventually([&] {
      std::lock_guard lock(log_mu);
      for (const auto& l : log_lines)
        if (l.find("older_writer") != std::string::npos) return true;
      return false;
    }));
    auto st = status();
    REQUIRE(st.has_value());
    CHECK_FALSE(st->ready);
  }
  REQUIRE(eventually(
      [&] {
        auto a = status("acme");
        auto g = status("globex");
        return a && a->ready && g && g->ready;
      },
      std::chrono::seconds(20)));
  check_all_indexed("acme");
  check_all_indexed("globex", 50);
  // The loop's lock is released once done; the other process's expired.
  CHECK(eventually([&] {
    return server.cmd({"EXISTS", queue::key("acme", "idx-lock")}).integer == 0 &&
           server.cmd({"EXISTS", queue::key("globex", "idx-lock")}).integer == 0;
  }));
  std::lock_guard lock(log_mu);
  int done = 0;
  for (const auto& l : log_lines)
    if (l.find("mirror index back-fill done") != std::string::npos) ++done;
  CHECK(done == 2);
}

TEST_CASE_FIXTURE(BackfillFixture, "the back-fill waits while another process holds its lock") {
  seed("acme", 20);
  server.cmd({"SET", queue::key("acme", "idx-lock"), "another-process"});
  sync->run_backfill({"acme"});
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto st = status();
  REQUIRE(st.has_value());
  CHECK(st->scanned == 0);
  server.cmd({"DEL", queue::key("acme", "idx-lock")});
  REQUIRE(eventually(
      [&] {
        auto s = status();
        return s && s->ready;
      },
      std::chrono::seconds(10)));
  check_all_indexed("acme", 20);
}

TEST_CASE_FIXTURE(BackfillFixture, "stop() ends the back-fill loop and frees its lock") {
  seed("acme", 20);
  server.cmd({"SET", queue::key("acme", "idx-lock"), "another-process", "PX", "500"});
  sync->run_backfill({"acme"});
  sync->stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  auto st = status();
  REQUIRE(st.has_value());
  CHECK_FALSE(st->ready);
  CHECK(server.cmd({"EXISTS", queue::key("acme", "idx-lock")}).integer == 0);
}
