#include "handlers/detail/apply_call.hpp"

#include <algorithm>
#include <cassert>
#include <cctype>
#include <chrono>
#include <utility>
#include <vector>

#include "handlers/detail/mirror_lua.hpp"
#include "handlers/detail/record_doc.hpp"
#include "handlers/handlers.hpp"

namespace isync::handlers::detail {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

bool has_valid_whenmodified(const intacct::Row& row) {
  const std::string* wm = row.get("WHENMODIFIED");
  return wm && parse_whenmodified(*wm).has_value();
}

ApplyStep read_step(const std::string& object, const intacct::Row& row, std::int64_t read_at_ms,
                    std::string source, std::int64_t fallback_version, std::string fallback_wm) {
  std::vector<std::pair<std::string, std::string>> fields(row.fields.begin(), row.fields.end());
  ApplyStep a{"read",    "{}", fallback_version, std::move(fallback_wm), std::move(source),
              read_at_ms};
  set_snapshot(a, object, fields);
  if (const std::string* wm = row.get("WHENMODIFIED")) {
    if (auto v = parse_whenmodified(*wm)) {
      a.version = *v;
      a.whenmodified = *wm;
    }
  }
  if (object == "ARINVOICE") {
    const std::string* state = row.get("STATE");
    if (state && iequals(*state, "draft")) a.kind = "readdraft";
  }
  return a;
}

void set_snapshot(ApplyStep& step, const std::string& object,
                  const std::vector<std::pair<std::string, std::string>>& fields) {
  SnapshotText text = snapshot_text(fields);
  step.snapshot_json = std::move(text.json);
  step.snapshot_names = std::move(text.names);
  // The last value of a name given twice, as the JSON keeps.
  const std::string id_field = id_field_of_object(object);
  step.snapshot_id.clear();
  step.snapshot_totaldue.clear();
  for (const auto& [name, value] : fields) {
    if (!id_field.empty() && name == id_field) step.snapshot_id = value;
    if (name == "TOTALDUE") step.snapshot_totaldue = value;
  }
}

void apply_inputs(const queue::Delivery& d, const ApplyStep& step, const MirrorOptions& options,
                  std::int64_t now_ms, const ApplyFence& fence, std::vector<std::string>& keys,
                  std::vector<std::string>& args) {
  const queue::Envelope& e = d.envelope;
  keys.clear();
  args.clear();
  keys.reserve(kApplyKeyCount);
  args.reserve(kApplyArgCount);
  queue::ack_inputs(d, keys, args, options.done_retention);
  keys.push_back(queue::key(d.tenant, "rec:" + e.object + ":" + e.key));
  keys.push_back(queue::key(d.tenant, "audit:" + e.object + ":" + e.key));
  keys.push_back(queue::key(d.tenant, "recheck"));
  keys.push_back(fence.lock_key.empty() ? queue::key(d.tenant, "reconcile:lock") : fence.lock_key);
  keys.push_back(queue::key(d.tenant, "recheck:channel"));
  // ack_inputs fills KEYS[1..2] and ARGV[1..3]; the positions below are fixed
  // by the script.
  assert(keys.size() == kApplyKeyCount && args.size() == 3);
  args.resize(kApplyArgCount);
  auto arg = [&args](int pos) -> std::string& { return args[static_cast<std::size_t>(pos - 1)]; };
  arg(kArgAction) = e.action;
  arg(kArgVersion) = std::to_string(step.version);
  arg(kArgWhenmodified) = step.whenmodified;
  arg(kArgEventId) = e.event_id;
  arg(kArgSource) = step.source;
  arg(kArgNowIso) = iso8601_ms(now_ms);
  arg(kArgAuditCutoffIso) = iso8601_ms(
      now_ms -
      std::chrono::duration_cast<std::chrono::milliseconds>(options.audit_max_age).count());
  arg(kArgAuditMax) = std::to_string(std::max(1, options.audit_max_entries));
  arg(kArgTombstoneTtl) =
      std::to_string(std::max<std::int64_t>(1, options.tombstone_retention.count()));
  arg(kArgIdField) = id_field_of_object(e.object);
  arg(kArgIdPrefix) = queue::key(d.tenant, "id:" + e.object + ":");
  arg(kArgRecordno) = e.key;
  arg(kArgKind) = step.kind;
  arg(kArgSnapshot) = step.snapshot_json;
  arg(kArgReadAt) = step.read_at_ms > 0 ? std::to_string(step.read_at_ms) : std::string();
  arg(kArgSettleMs) = std::to_string(std::max<std::int64_t>(0, options.settle_margin.count()));
  arg(kArgDeferNow) = step.defer ? std::to_string(now_ms) : std::string();
  arg(kArgFenceToken) = fence.token;
  arg(kArgChannel) = e.channel;
  arg(kArgRecheckLease) =
      step.recheck_lease > 0 ? std::to_string(step.recheck_lease) : std::string();
  if (!step.snapshot_names.empty()) {
    std::string& names = arg(kArgSnapshotNames);  // ["A","B"]
    names = "[";
    for (const std::string& n : step.snapshot_names) {
      if (names.size() > 1) names += ',';
      names += n;
    }
    names += ']';
    arg(kArgSnapshotId) = step.snapshot_id;
    arg(kArgSnapshotTotaldue) = step.snapshot_totaldue;
    arg(kArgSnapshotCount) = std::to_string(step.snapshot_names.size());
  }
}

std::string decision_of(boost::system::error_code ec, const redis::Reply& reply) {
  if (ec) {
    return (redis::may_have_run(ec) ? "error:lost:Redis " : "error:Redis ") + ec.message();
  }
  if (reply.is_error()) return "error:Redis answered " + reply.str;
  if (reply.type != redis::Reply::Type::array || reply.elements.empty() ||
      reply.elements[0].type != redis::Reply::Type::string) {
    return "error:unexpected reply from the apply script";
  }
  return reply.elements[0].str;
}

void run_apply(redis::Connection& conn, const queue::Delivery& d, const ApplyStep& step,
               const MirrorOptions& options, std::int64_t now_ms, const ApplyFence& fence,
               std::function<void(std::string decision)> then) {
  std::vector<std::string> keys;
  std::vector<std::string> args;
  apply_inputs(d, step, options, now_ms, fence, keys, args);
  run_apply(conn, std::move(keys), std::move(args), std::move(then));
}

void run_apply(redis::Connection& conn, std::vector<std::string> keys,
               std::vector<std::string> args, std::function<void(std::string decision)> then) {
  conn.eval(apply_script(), std::move(keys), std::move(args),
            [then = std::move(then)](boost::system::error_code ec, redis::Reply reply) {
              then(decision_of(ec, reply));
            });
}

}  // namespace isync::handlers::detail
