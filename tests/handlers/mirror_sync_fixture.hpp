// MirrorFixture plus a MirrorSync on the same connection, and readers of the
// RECORDNO index straight from Redis, for the index and reconcile-write tests.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "handlers/mirror_sync.hpp"
#include "tests/handlers/mirror_fixture.hpp"

namespace isync::testing {

struct SyncFixture : MirrorFixture {
  std::unique_ptr<handlers::MirrorSync> sync =
      std::make_unique<handlers::MirrorSync>(io->executor(), conn, options, clock, log);

  ~SyncFixture() {
    sync->stop();
    sync.reset();
  }

  Result<std::vector<handlers::IndexEntry>> page(const std::string& object, std::int64_t after,
                                                 std::optional<std::int64_t> upto, int limit,
                                                 const std::string& tenant = kTenant) {
    return await<Result<std::vector<handlers::IndexEntry>>>(
        [&](auto cb) { sync->index_page(tenant, object, after, upto, limit, cb); });
  }

  static intacct::Row row(const std::string& object, Fields fields) {
    intacct::Row r;
    r.element = object;
    for (auto& [k, v] : fields) r.fields[k] = v;
    return r;
  }

  Result<std::string> read(const std::string& object, const std::string& recordno, intacct::Row r,
                           handlers::Fence fence = {}, const std::string& tenant = kTenant) {
    return await<Result<std::string>>([&](auto cb) {
      sync->apply_read(tenant, object, recordno, r, clock.now_ms(), "reconcile", fence, cb);
    });
  }

  Result<std::string> gone(const std::string& object, const std::string& recordno,
                           handlers::Fence fence = {}) {
    return await<Result<std::string>>([&](auto cb) {
      sync->apply_gone(kTenant, object, recordno, clock.now_ms(), "reconcile", fence, cb);
    });
  }

  Result<std::string> draft(const std::string& recordno, std::int64_t version,
                            handlers::Fence fence = {}) {
    return await<Result<std::string>>([&](auto cb) {
      sync->apply_draft(kTenant, recordno, version, format_whenmodified(version), "reconcile",
                        fence, cb);
    });
  }

  Result<handlers::BackfillStatus> step(const std::string& tenant = kTenant) {
    return await<Result<handlers::BackfillStatus>>(
        [&](auto cb) { sync->backfill_step(tenant, cb); });
  }

  Result<handlers::BackfillStatus> status(const std::string& tenant = kTenant) {
    return await<Result<handlers::BackfillStatus>>(
        [&](auto cb) { sync->backfill_status(tenant, cb); });
  }

  // The index entry's value ("<v>" or "<v>:<TOTALDUE>"), or "(none)". The
  // ZSET and the hash must agree on whether the record is indexed.
  std::string entry(const std::string& object, const std::string& recordno,
                    const std::string& tenant = kTenant) {
    auto score = server.cmd({"ZSCORE", queue::key(tenant, "idx:" + object), recordno});
    auto value = server.cmd({"HGET", queue::key(tenant, "idxv:" + object), recordno});
    CHECK(score.is_nil() == value.is_nil());
    if (!score.is_nil()) CHECK(std::stoll(score.str) == std::stoll(recordno));
    return value.type == redis::Reply::Type::string ? value.str : std::string("(none)");
  }

  long long indexed(const std::string& object, const std::string& tenant = kTenant) {
    auto n = server.cmd({"ZCARD", queue::key(tenant, "idx:" + object)}).integer;
    CHECK(server.cmd({"HLEN", queue::key(tenant, "idxv:" + object)}).integer == n);
    return n;
  }

  // Every index key of the tenant gone, as before the index existed.
  void drop_index(const std::string& tenant = kTenant) {
    for (const char* o : {"CUSTOMER", "ARINVOICE", "ARPYMT"}) {
      server.cmd({"DEL", queue::key(tenant, std::string("idx:") + o),
                  queue::key(tenant, std::string("idxv:") + o)});
    }
  }

  // A set of the reply entries' recordnos, in order.
  static std::vector<std::string> recordnos(const std::vector<handlers::IndexEntry>& entries) {
    std::vector<std::string> out;
    for (const auto& e : entries) out.push_back(e.recordno);
    return out;
  }
};

}  // namespace isync::testing
