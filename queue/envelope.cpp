#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

#include "queue/queue.hpp"

namespace isync::queue {

std::string key(std::string_view tenant, std::string_view suffix) {
  std::string out;
  out.reserve(9 + tenant.size() + suffix.size());
  out += "isync:{";
  out += tenant;
  out += "}:";
  out += suffix;
  return out;
}

std::string encode(const Envelope& e) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  auto str = [&w](const char* name, const std::string& value) {
    w.Key(name);
    w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  };
  w.StartObject();
  w.Key("v");
  w.Int(e.v);
  str("event_id", e.event_id);
  str("source", e.source);
  str("tenant", e.tenant);
  str("object", e.object);
  str("action", e.action);
  str("key", e.key);
  w.Key("version");
  w.Int64(e.version);
  str("whenmodified", e.whenmodified);
  w.Key("snapshot");
  w.StartObject();
  for (const auto& [name, value] : e.snapshot) {
    w.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
    w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  }
  w.EndObject();
  w.Key("received_at");
  w.Int64(e.received_at_ms);
  str("content_type", e.content_type);
  str("raw", e.raw);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

namespace {

Error bad(const std::string& what) {
  return make_error("bad_envelope", "queued event envelope: " + what);
}

Result<std::string> get_string(const rapidjson::Value& doc, const char* name) {
  auto it = doc.FindMember(name);
  if (it == doc.MemberEnd()) return bad(std::string("field '") + name + "' is missing");
  if (!it->value.IsString()) return bad(std::string("field '") + name + "' is not a string");
  return Result<std::string>(boost::system::in_place_value,
                             std::string(it->value.GetString(), it->value.GetStringLength()));
}

Result<std::int64_t> get_int(const rapidjson::Value& doc, const char* name) {
  auto it = doc.FindMember(name);
  if (it == doc.MemberEnd()) return bad(std::string("field '") + name + "' is missing");
  if (!it->value.IsInt64()) return bad(std::string("field '") + name + "' is not an integer");
  return it->value.GetInt64();
}

}  // namespace

Result<Envelope> decode(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError()) {
    return bad(std::string("not JSON (") + rapidjson::GetParseError_En(doc.GetParseError()) +
               " at offset " + std::to_string(doc.GetErrorOffset()) + ")");
  }
  if (!doc.IsObject()) return bad("not a JSON object");
  auto v = get_int(doc, "v");
  if (!v) return v.error();
  // Version 1 is the current and only version; a v2 writer must keep v1
  // readable for one release so that a rolling upgrade strands nothing.
  if (*v != 1) return bad("version " + std::to_string(*v) + " is not supported (expected 1)");
  Envelope e;
  e.v = 1;
  struct StringField {
    const char* name;
    std::string* out;
  };
  const StringField strings[] = {{"event_id", &e.event_id},
                                 {"source", &e.source},
                                 {"tenant", &e.tenant},
                                 {"object", &e.object},
                                 {"action", &e.action},
                                 {"key", &e.key},
                                 {"whenmodified", &e.whenmodified},
                                 {"content_type", &e.content_type},
                                 {"raw", &e.raw}};
  for (const auto& f : strings) {
    auto s = get_string(doc, f.name);
    if (!s) return s.error();
    *f.out = std::move(*s);
  }
  if (e.event_id.empty()) return bad("field 'event_id' is empty");
  auto version = get_int(doc, "version");
  if (!version) return version.error();
  e.version = *version;
  auto received = get_int(doc, "received_at");
  if (!received) return received.error();
  e.received_at_ms = *received;
  auto snap = doc.FindMember("snapshot");
  if (snap == doc.MemberEnd()) return bad("field 'snapshot' is missing");
  if (!snap->value.IsObject()) return bad("field 'snapshot' is not an object");
  for (const auto& m : snap->value.GetObject()) {
    if (!m.value.IsString()) {
      return bad("snapshot field '" + std::string(m.name.GetString()) + "' is not a string");
    }
    e.snapshot.emplace_back(std::string(m.name.GetString(), m.name.GetStringLength()),
                            std::string(m.value.GetString(), m.value.GetStringLength()));
  }
  std::sort(e.snapshot.begin(), e.snapshot.end());
  return e;
}

namespace {

// Length-prefixed parts, so no two different tuples share a digest input.
void part(std::string& out, std::string_view s) {
  out += std::to_string(s.size());
  out += ':';
  out += s;
  out += ';';
}

}  // namespace

std::string smart_event_dedup_key(const Envelope& e) {
  std::string input;
  part(input, e.tenant);
  part(input, e.object);
  part(input, e.action);
  part(input, e.key);
  part(input, std::to_string(e.version));
  if (!e.snapshot.empty()) {
    auto fields = e.snapshot;
    std::sort(fields.begin(), fields.end());
    std::string snap;
    for (const auto& [name, value] : fields) {
      part(snap, name);
      part(snap, value);
    }
    part(input, sha256_hex(snap));
  }
  return key(e.tenant, "dedup:" + sha256_hex(input));
}

}  // namespace isync::queue
