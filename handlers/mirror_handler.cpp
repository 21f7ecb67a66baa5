#include <algorithm>
#include <cassert>
#include <cctype>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "handlers/detail/mirror_lua.hpp"
#include "handlers/detail/record_doc.hpp"
#include "handlers/handlers.hpp"

namespace isync::handlers {

std::string object_of_collection(const std::string& collection) {
  if (collection == "customers") return "CUSTOMER";
  if (collection == "invoices") return "ARINVOICE";
  if (collection == "payments") return "ARPYMT";
  return {};
}

std::string id_field_of_object(const std::string& object) {
  if (object == "CUSTOMER") return "CUSTOMERID";
  if (object == "ARINVOICE") return "RECORDID";
  if (object == "ARPYMT") return "DOCNUMBER";
  return {};
}

namespace {

using queue::Outcome;

Outcome park(std::string code, std::string message) {
  Outcome o;
  o.kind = Outcome::Kind::park;
  o.failure.cls = queue::FailureClass::transient;
  o.failure.code = std::move(code);
  o.failure.message = std::move(message);
  return o;
}

Outcome failed(Outcome::Kind kind, queue::FailureClass cls, std::string code, std::string message) {
  Outcome o;
  o.kind = kind;
  o.failure.cls = cls;
  o.failure.code = std::move(code);
  o.failure.message = std::move(message);
  return o;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// snapshot | thin | draft | delete (see detail/mirror_lua.hpp).
std::string kind_of(const queue::Envelope& e) {
  if (e.action == "delete") return "delete";
  if (e.snapshot.empty()) return "thin";
  if (e.object == "ARINVOICE") {
    auto it = std::find_if(e.snapshot.begin(), e.snapshot.end(),
                           [](const auto& f) { return f.first == "STATE"; });
    if (it == e.snapshot.end()) return "thin";
    if (iequals(it->second, "draft")) return "draft";
  }
  return "snapshot";
}

std::string describe(const queue::Envelope& e) {
  return e.object + " " + e.key + " of tenant " + e.tenant + " (event " + e.event_id + ")";
}

}  // namespace

MirrorHandler::MirrorHandler(std::shared_ptr<redis::Connection> conn, MirrorOptions options,
                             Metrics& metrics, Clock& clock, Log& log)
    : conn_(std::move(conn)), options_(options), metrics_(metrics), clock_(clock), log_(log) {}

void MirrorHandler::handle(const queue::Delivery& d, std::function<void(queue::Outcome)> done) {
  const auto started = std::chrono::steady_clock::now();
  const queue::Envelope& e = d.envelope;

  auto finish = [this, started, tenant = d.tenant, object = e.object, done = std::move(done)](
                    std::string decision, Outcome outcome) {
    const auto elapsed = std::chrono::steady_clock::now() - started;
    metrics_
        .counter("isync_mirror_changes_total",
                 "Smart events applied to the mirror, by decision (applied, tombstoned, removed, "
                 "ignored, reread, thin, invalid, error).",
                 {{"tenant", tenant}, {"object", object}, {"decision", decision}})
        .inc();
    metrics_
        .histogram("isync_mirror_apply_seconds",
                   "Time to apply one smart event to the mirror, seconds.", {{"object", object}})
        .observe(std::chrono::duration<double>(elapsed).count());
    outcome.result = decision;
    done(std::move(outcome));
  };

  const std::string id_field = id_field_of_object(e.object);
  if (e.source != "intacct") {
    finish("invalid", park("not_supported",
                           "event " + e.event_id + " from source \"" + e.source +
                               "\" has no handler yet; it waits parked until one is deployed"));
    return;
  }
  if (id_field.empty()) {
    finish("invalid", failed(Outcome::Kind::dead, queue::FailureClass::permanent, "invalid_event",
                             "event " + e.event_id + " names object \"" + e.object +
                                 "\"; only CUSTOMER, ARINVOICE and ARPYMT are mirrored"));
    return;
  }
  if (e.action != "add" && e.action != "set" && e.action != "delete") {
    finish("invalid", failed(Outcome::Kind::dead, queue::FailureClass::permanent, "invalid_event",
                             "event " + e.event_id + " has action \"" + e.action +
                                 "\"; expected add, set or delete"));
    return;
  }
  if (!detail::valid_recordno(e.key)) {
    finish("invalid", failed(Outcome::Kind::dead, queue::FailureClass::permanent, "invalid_event",
                             "event " + e.event_id + " has RECORDNO \"" + e.key +
                                 "\"; expected a positive integer"));
    return;
  }

  std::vector<std::string> keys;
  std::vector<std::string> args;
  queue::ack_inputs(d, keys, args, options_.done_retention);
  keys.push_back(queue::key(d.tenant, "rec:" + e.object + ":" + e.key));
  keys.push_back(queue::key(d.tenant, "audit:" + e.object + ":" + e.key));
  // ack_inputs fills KEYS[1..2] and ARGV[1..3]; the positions below are fixed
  // by the script.
  assert(keys.size() == 4 && args.size() == 3);
  args.resize(detail::kArgSnapshot);
  const std::int64_t now_ms = clock_.now_ms();
  const std::string kind = kind_of(e);
  auto arg = [&args](int pos) -> std::string& { return args[static_cast<std::size_t>(pos - 1)]; };
  arg(detail::kArgAction) = e.action;
  arg(detail::kArgVersion) = std::to_string(e.version);
  arg(detail::kArgWhenmodified) = e.whenmodified;
  arg(detail::kArgEventId) = e.event_id;
  arg(detail::kArgSource) = e.source;
  arg(detail::kArgNowIso) = detail::iso8601_ms(now_ms);
  arg(detail::kArgAuditCutoffIso) = detail::iso8601_ms(
      now_ms -
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.audit_max_age).count());
  arg(detail::kArgAuditMax) = std::to_string(std::max(1, options_.audit_max_entries));
  arg(detail::kArgTombstoneTtl) =
      std::to_string(std::max<std::int64_t>(1, options_.tombstone_retention.count()));
  arg(detail::kArgIdField) = id_field;
  arg(detail::kArgIdPrefix) = queue::key(d.tenant, "id:" + e.object + ":");
  arg(detail::kArgRecordno) = e.key;
  arg(detail::kArgKind) = kind;
  arg(detail::kArgSnapshot) =
      kind == "snapshot" || kind == "draft" ? detail::snapshot_json(e.snapshot) : std::string("{}");

  conn_->eval(
      detail::apply_script(), std::move(keys), std::move(args),
      [finish = std::move(finish), what = describe(e)](boost::system::error_code ec,
                                                       redis::Reply reply) mutable {
        if (ec) {
          finish("error",
                 failed(Outcome::Kind::retry, queue::FailureClass::transient, "redis_unavailable",
                        "could not apply " + what + " to the mirror: Redis " + ec.message() +
                            "; it will be retried"));
          return;
        }
        if (reply.is_error()) {
          finish("error",
                 failed(Outcome::Kind::retry, queue::FailureClass::transient, "redis_unavailable",
                        "could not apply " + what + " to the mirror: Redis answered " + reply.str +
                            "; it will be retried"));
          return;
        }
        if (reply.type != redis::Reply::Type::array || reply.elements.empty() ||
            reply.elements[0].type != redis::Reply::Type::string) {
          finish("error",
                 failed(Outcome::Kind::retry, queue::FailureClass::transient, "redis_unavailable",
                        "could not apply " + what +
                            " to the mirror: unexpected reply from the apply script"));
          return;
        }
        const std::string decision = reply.elements[0].str;
        if (decision == "reread") {
          finish(
              decision,
              park("needs_reread",
                   what + ": same WHENMODIFIED as the mirror but different field values; a "
                          "re-read from Intacct is needed to decide, which is not configured yet"));
          return;
        }
        if (decision == "thin") {
          finish(decision,
                 park("thin_event", what + ": thin event: needs a read from Intacct, which is not "
                                           "configured yet"));
          return;
        }
        finish(decision, Outcome{});
      });
}

}  // namespace isync::handlers
