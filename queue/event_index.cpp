// read_event and summarize (event_index.hpp); the listing is in
// event_index_list.cpp, the sweep and the back-fill in event_index_sweep.cpp.
#include "queue/event_index.hpp"

#include <charconv>
#include <utility>

#include "core/json.hpp"
#include "queue/queue.hpp"

namespace isync::queue {

namespace {

// Event ids are ULIDs; anything much longer is no id of ours.
constexpr std::size_t kMaxEventIdSize = 256;

std::int64_t to_int(const std::string& text) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{}) return 0;
  (void)end;
  return v;
}

const std::string& field(const EventDoc& doc, const char* name) {
  static const std::string empty;
  auto it = doc.find(name);
  return it == doc.end() ? empty : it->second;
}

}  // namespace

void read_event(redis::Connection& conn, const std::string& tenant, const std::string& event_id,
                std::function<void(Result<std::optional<EventDoc>>)> done) {
  if (event_id.empty() || event_id.size() > kMaxEventIdSize) {
    return done(std::optional<EventDoc>{});
  }
  conn.command(
      {"HGETALL", key(tenant, "ev:" + event_id)},
      [done = std::move(done), event_id](boost::system::error_code ec, redis::Reply r) {
        if (ec) {
          return done(make_error("unavailable", "read event " + event_id + ": " + ec.message()));
        }
        if (r.type != redis::Reply::Type::array) {
          return done(make_error("unavailable", "read event " + event_id + ": " +
                                                    (r.is_error() ? r.str : "bad reply")));
        }
        if (r.elements.empty()) return done(std::optional<EventDoc>{});
        EventDoc doc;
        for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) {
          doc[std::move(r.elements[i].str)] = std::move(r.elements[i + 1].str);
        }
        done(std::optional<EventDoc>(std::move(doc)));
      });
}

EventSummary summarize(const std::string& tenant, const EventDoc& doc) {
  EventSummary s;
  s.id = field(doc, "event_id");
  s.tenant = tenant;
  s.state = field(doc, "state");
  s.object = field(doc, "object");
  s.key = field(doc, "key");
  s.code = field(doc, "code");
  s.errorno = field(doc, "errorno");
  s.reason = field(doc, "reason");
  s.attempt = static_cast<int>(to_int(field(doc, "attempt")));
  s.updated_at_ms = to_int(field(doc, "updated_at"));
  s.first_failure_ms = to_int(field(doc, "first_failure"));
  const std::string& envelope = field(doc, "envelope");
  if (envelope.empty()) return s;
  auto parsed = json::parse(envelope, json::kTrusted);
  if (!parsed || !parsed->IsObject()) return s;
  const rapidjson::Value& e = *parsed;
  auto text = [&e](const char* name, std::string& out) {
    auto it = e.FindMember(name);
    if (it != e.MemberEnd() && it->value.IsString() && out.empty()) {
      out.assign(it->value.GetString(), it->value.GetStringLength());
    }
  };
  text("source", s.source);
  text("action", s.action);
  // Documents written before the index have no object/key fields yet.
  text("object", s.object);
  text("key", s.key);
  text("event_id", s.id);
  auto at = e.FindMember("received_at");
  if (at != e.MemberEnd() && at->value.IsInt64()) s.received_at_ms = at->value.GetInt64();
  return s;
}

}  // namespace isync::queue
