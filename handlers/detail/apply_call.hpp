// One run of the mirror's apply script (detail/mirror_lua.hpp): the keys and
// arguments built in one place for the event path (MirrorHandler) and the
// reconcile path (MirrorSync). Internal to handlers/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "intacct/intacct.hpp"
#include "queue/queue.hpp"
#include "redis/redis.hpp"

namespace isync::handlers {
struct MirrorOptions;
}

namespace isync::handlers::detail {

// What one run applies: kind, snapshot JSON, version, WHENMODIFIED text and
// the audit source.
struct ApplyStep {
  std::string kind;           // snapshot | thin | draft | delete | read | readdraft | gone
  std::string snapshot_json;  // JSON object of the fields ("{}" when none)
  std::int64_t version = 0;
  std::string whenmodified, source;
  std::int64_t read_at_ms = 0;  // when the data was read from Intacct; 0 = not a read
  bool defer = false;           // thin/conflict: defer the read until settled
  // A read made for the recheck schedule: the lease score it was taken
  // under; its audit names the channels of the events that scheduled it.
  std::int64_t recheck_lease = 0;
  // snapshot_json's names as JSON strings in its order, when it is a
  // SnapshotText's json (record_doc.hpp): the script may then store it as it
  // is. Empty = not given (the script encodes what it stores).
  std::vector<std::string> snapshot_names = {};
  // With snapshot_names: the snapshot's value of the object's id field and
  // of TOTALDUE ("" when it has none), for a new record stored without
  // decoding its snapshot.
  std::string snapshot_id = {}, snapshot_totaldue = {};
};

// Sets `step`'s snapshot from `fields` of a record of `object` (the JSON,
// its names, the id and TOTALDUE values).
void set_snapshot(ApplyStep& step, const std::string& object,
                  const std::vector<std::pair<std::string, std::string>>& fields);

// A reconcile run's fence (detail/mirror_index.hpp): token "" = not fenced.
struct ApplyFence {
  std::string lock_key;  // "" = the tenant's reconcile lock key (not touched unfenced)
  std::string token;
};

// The record as Intacct has it now, as an apply step: every field of `row`
// (read with all fields, so it replaces the mirror's), at the row's
// WHENMODIFIED — or at `fallback_version` / `fallback_wm` when the row has no
// valid one. An ARINVOICE whose STATE is Draft is a readdraft.
ApplyStep read_step(const std::string& object, const intacct::Row& row, std::int64_t read_at_ms,
                    std::string source, std::int64_t fallback_version, std::string fallback_wm);

// Whether `row`'s WHENMODIFIED parses (read_step then uses it).
bool has_valid_whenmodified(const intacct::Row& row);

// The apply script's KEYS and ARGV for one run (detail/mirror_lua.hpp).
inline constexpr std::size_t kApplyKeyCount = 7;
inline constexpr std::size_t kApplyArgCount = 27;
void apply_inputs(const queue::Delivery& d, const ApplyStep& step, const MirrorOptions& options,
                  std::int64_t now_ms, const ApplyFence& fence, std::vector<std::string>& keys,
                  std::vector<std::string>& args);

// The decision in the apply script's reply (see run_apply for the errors).
std::string decision_of(boost::system::error_code ec, const redis::Reply& reply);

// Runs the apply script for record d.envelope.object / d.envelope.key of
// d.tenant, acking d's stream entry (an entry id no stream holds, e.g. "0-1",
// acks nothing). `then` gets the script's decision, or "error:lost:<why>"
// when the script was sent and its reply lost (it may have committed), or
// "error:<why>".
void run_apply(redis::Connection& conn, const queue::Delivery& d, const ApplyStep& step,
               const MirrorOptions& options, std::int64_t now_ms, const ApplyFence& fence,
               std::function<void(std::string decision)> then);
// The same with inputs made by apply_inputs.
void run_apply(redis::Connection& conn, std::vector<std::string> keys,
               std::vector<std::string> args, std::function<void(std::string decision)> then);

}  // namespace isync::handlers::detail
