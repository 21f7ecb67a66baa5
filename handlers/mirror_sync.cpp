#include "handlers/mirror_sync.hpp"

#include <charconv>
#include <utility>

#include "handlers/detail/apply_call.hpp"
#include "handlers/detail/mirror_index.hpp"
#include "handlers/detail/mirror_sync_core.hpp"
#include "handlers/detail/record_doc.hpp"
#include "queue/queue.hpp"

namespace isync::handlers {
namespace {

constexpr int kMaxPage = 10'000;
constexpr std::size_t kMaxSource = 64;
constexpr std::size_t kMaxToken = 256;

Error invalid(std::string message) { return make_error("invalid_argument", std::move(message)); }

std::optional<Error> check_object(const std::string& object) {
  if (id_field_of_object(object).empty())
    return invalid("object \"" + shorten(object, 64) +
                   "\" is not mirrored; expected CUSTOMER, ARINVOICE or ARPYMT");
  return std::nullopt;
}

std::optional<Error> check_recordno(const std::string& recordno) {
  if (!detail::valid_recordno(recordno))
    return invalid("RECORDNO \"" + shorten(recordno, 64) + "\" is not a positive integer");
  return std::nullopt;
}

std::optional<Error> check_write(const std::string& tenant, const std::string& source,
                                 const Fence& fence) {
  if (source.empty() || source.size() > kMaxSource)
    return invalid("the audit source must be 1 to 64 characters");
  if (!fence.token.empty()) {
    if (fence.token.size() > kMaxToken)
      return invalid("the fencing token is longer than 256 characters");
    // A key of another tenant would be in another hash slot, and would
    // fence nothing of this tenant's.
    if (!fence.lock_key.starts_with(queue::key(tenant, "")))
      return invalid("the fence's lock key \"" + shorten(fence.lock_key, 64) +
                     "\" is not a key of tenant " + tenant);
  }
  return std::nullopt;
}

// A write with no stream entry behind it: the apply script's ack finds
// nothing to ack (entry "0-1" never exists, the event document neither).
queue::Delivery sync_delivery(const std::string& tenant, const std::string& object,
                              const std::string& recordno, std::string action,
                              std::int64_t now_ms) {
  queue::Delivery d;
  d.tenant = tenant;
  d.stream = queue::key(tenant, "events");
  d.entry_id = "0-1";
  d.envelope.event_id = make_ulid(now_ms);
  d.envelope.source = "intacct";
  d.envelope.tenant = tenant;
  d.envelope.object = object;
  d.envelope.action = std::move(action);
  d.envelope.key = recordno;
  return d;
}

void run(const std::shared_ptr<const MirrorSync::Core>& core, const queue::Delivery& d,
         const detail::ApplyStep& step, const Fence& fence,
         std::function<void(Result<std::string>)> done) {
  std::string what = d.envelope.object + " " + d.envelope.key + " of tenant " + d.tenant;
  detail::run_apply(
      *core->conn, d, step, core->options, core->clock.now_ms(),
      detail::ApplyFence{fence.lock_key, fence.token},
      [what = std::move(what), done = std::move(done)](std::string decision) {
        if (decision.starts_with("error:lost:")) {
          return done(make_error("unavailable", "Redis: " + decision.substr(11) + " (writing " +
                                                    what + "; it may have been applied)"));
        }
        if (decision.starts_with("error:")) {
          return done(make_error("unavailable",
                                 "Redis: " + decision.substr(6) + " (writing " + what + ")"));
        }
        done(Result<std::string>(boost::system::in_place_value, std::move(decision)));
      });
}

// "<v>" or "<v>:<TOTALDUE>" (detail/mirror_index.hpp).
bool parse_entry(const std::string& recordno, const std::string& value, IndexEntry& out) {
  const auto colon = value.find(':');
  const std::string_view v = std::string_view(value).substr(0, colon);
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out.version);
  if (ec != std::errc{} || end != v.data() + v.size()) return false;
  out.recordno = recordno;
  out.totaldue = colon == std::string::npos ? std::string() : value.substr(colon + 1);
  return true;
}

void eval_page(redis::Connection& conn, std::string tenant, std::string object, std::int64_t after,
               std::optional<std::int64_t> upto, int limit,
               std::function<void(Result<std::vector<IndexEntry>>)> done) {
  conn.eval(
      detail::index_page_script(),
      {queue::key(tenant, "idx:" + object), queue::key(tenant, "idxv:" + object)},
      {queue::key(tenant, "rec:" + object + ":"), std::to_string(after),
       upto ? std::to_string(*upto) : std::string("+inf"), std::to_string(limit)},
      [tenant, object, done = std::move(done)](boost::system::error_code ec, redis::Reply reply) {
        const std::string what = " (index page of " + object + ", tenant " + tenant + ")";
        if (ec) return done(make_error("unavailable", "Redis: " + ec.message() + what));
        if (reply.is_error()) return done(make_error("unavailable", "Redis: " + reply.str + what));
        if (reply.type != redis::Reply::Type::array || reply.elements.size() % 2 != 0)
          return done(make_error("unavailable", "Redis: unexpected reply" + what));
        std::vector<IndexEntry> out;
        out.reserve(reply.elements.size() / 2);
        for (std::size_t i = 0; i < reply.elements.size(); i += 2) {
          const auto& no = reply.elements[i];
          const auto& value = reply.elements[i + 1];
          IndexEntry entry;
          if (no.type != redis::Reply::Type::string || value.type != redis::Reply::Type::string ||
              !parse_entry(no.str, value.str, entry))
            return done(make_error("unavailable", "Redis: malformed index entry" + what));
          out.push_back(std::move(entry));
        }
        done(Result<std::vector<IndexEntry>>(boost::system::in_place_value, std::move(out)));
      });
}

}  // namespace

namespace detail {

std::optional<Error> check_tenant(const std::string& tenant) {
  if (!valid_tenant_id(tenant))
    return make_error("invalid_argument",
                      "tenant \"" + shorten(tenant, 64) + "\" is not a valid tenant id");
  return std::nullopt;
}

}  // namespace detail

MirrorSync::MirrorSync(boost::asio::any_io_executor ex, std::shared_ptr<redis::Connection> conn,
                       MirrorOptions options, Clock& clock, Log& log)
    : core_(std::make_shared<Core>(std::move(conn), options, clock, log)),
      backfill_(detail::make_backfill(std::move(ex), core_)) {}

// The loop holds no reference to itself (callbacks and timers hold it weakly),
// so it ends with the object.
MirrorSync::~MirrorSync() = default;

void MirrorSync::index_page(std::string tenant, std::string object, std::int64_t after,
                            std::optional<std::int64_t> upto, int limit,
                            std::function<void(Result<std::vector<IndexEntry>>)> done) {
  std::optional<Error> bad = detail::check_tenant(tenant);
  if (!bad) bad = check_object(object);
  if (!bad && (limit < 1 || limit > kMaxPage))
    bad = invalid("limit " + std::to_string(limit) + " is outside 1..10000");
  if (bad) return done(*bad);
  eval_page(*core_->conn, std::move(tenant), std::move(object), after, upto, limit,
            std::move(done));
}

void MirrorSync::apply_read(std::string tenant, std::string object, std::string recordno,
                            intacct::Row row, std::int64_t read_at_ms, std::string source,
                            Fence fence, std::function<void(Result<std::string>)> done) {
  std::optional<Error> bad = detail::check_tenant(tenant);
  if (!bad) bad = check_object(object);
  if (!bad) bad = check_recordno(recordno);
  if (!bad) bad = check_write(tenant, source, fence);
  if (!bad && !detail::has_valid_whenmodified(row))
    bad = invalid(object + " " + recordno + " of tenant " + tenant +
                  ": the row read has no valid WHENMODIFIED; it cannot be ordered against events");
  if (!bad) {
    const std::string* no = row.get("RECORDNO");
    if (no && *no != recordno)
      bad = invalid(object + " " + recordno + " of tenant " + tenant +
                    ": the row read has RECORDNO " + shorten(*no, 64));
  }
  if (bad) return done(*bad);
  const std::int64_t now = core_->clock.now_ms();
  detail::ApplyStep step = detail::read_step(object, row, read_at_ms, std::move(source), 0, "");
  run(core_, sync_delivery(tenant, object, recordno, "set", now), step, fence, std::move(done));
}

void MirrorSync::apply_gone(std::string tenant, std::string object, std::string recordno,
                            std::int64_t read_at_ms, std::string source, Fence fence,
                            std::function<void(Result<std::string>)> done) {
  std::optional<Error> bad = detail::check_tenant(tenant);
  if (!bad) bad = check_object(object);
  if (!bad) bad = check_recordno(recordno);
  if (!bad) bad = check_write(tenant, source, fence);
  if (bad) return done(*bad);
  // The read's own second is the tombstone's version, unless the mirror
  // holds a newer one (the script keeps the newer).
  const std::int64_t v = read_at_ms / 1000;
  detail::ApplyStep step{"gone", "{}", v, format_whenmodified(v), std::move(source), read_at_ms};
  run(core_, sync_delivery(tenant, object, recordno, "delete", core_->clock.now_ms()), step, fence,
      std::move(done));
}

void MirrorSync::apply_draft(std::string tenant, std::string recordno, std::int64_t version,
                             std::string whenmodified, std::string source, Fence fence,
                             std::function<void(Result<std::string>)> done) {
  std::optional<Error> bad = detail::check_tenant(tenant);
  if (!bad) bad = check_recordno(recordno);
  if (!bad) bad = check_write(tenant, source, fence);
  if (!bad && version <= 0)
    bad = invalid("ARINVOICE " + recordno + " of tenant " + tenant + ": version " +
                  std::to_string(version) + " is not a WHENMODIFIED");
  if (!bad && whenmodified.size() > 64)
    bad = invalid("ARINVOICE " + recordno + " of tenant " + tenant +
                  ": WHENMODIFIED text longer than 64 characters");
  if (bad) return done(*bad);
  detail::ApplyStep step{"draft", R"({"STATE":"Draft"})", version, std::move(whenmodified),
                         std::move(source)};
  run(core_, sync_delivery(tenant, "ARINVOICE", recordno, "set", core_->clock.now_ms()), step,
      fence, std::move(done));
}

}  // namespace isync::handlers
