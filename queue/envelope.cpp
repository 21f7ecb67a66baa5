#include <rapidjson/document.h>

#include <algorithm>
#include <array>

#include "core/json.hpp"
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

namespace {

// A JSON string literal, escaped as RapidJSON's Writer does (", \\, \b \f \n
// \r \t, other control characters as \u00XX; UTF-8 passes through), but
// appended in runs: encode() runs for every accepted event.
void append_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out.push_back('"');
  // Which bytes need an escape, looked up rather than compared.
  static constexpr auto kEscape = [] {
    std::array<bool, 256> t{};
    for (int c = 0; c < 0x20; ++c) t[static_cast<std::size_t>(c)] = true;
    t['"'] = t['\\'] = true;
    return t;
  }();
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (!kEscape[c]) continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    out.push_back('\\');
    switch (c) {
      case '"':
      case '\\':
        out.push_back(static_cast<char>(c));
        break;
      case '\b':
        out.push_back('b');
        break;
      case '\f':
        out.push_back('f');
        break;
      case '\n':
        out.push_back('n');
        break;
      case '\r':
        out.push_back('r');
        break;
      case '\t':
        out.push_back('t');
        break;
      default:
        out += "u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xf]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

}  // namespace

std::string encode(const Envelope& e) {
  // Room for the fixed keys plus every value unescaped: one allocation in the
  // common case.
  std::size_t size = 192 + e.event_id.size() + e.source.size() + e.channel.size() +
                     e.tenant.size() + e.object.size() + e.action.size() + e.key.size() +
                     e.whenmodified.size() + e.content_type.size() + e.raw.size();
  for (const auto& [name, value] : e.snapshot) size += name.size() + value.size() + 6;
  std::string out;
  out.reserve(size);
  auto str = [&out](std::string_view name, std::string_view value) {
    out += name;
    append_string(out, value);
  };
  out += "{\"v\":";
  out += std::to_string(e.v);
  str(",\"event_id\":", e.event_id);
  str(",\"source\":", e.source);
  if (!e.channel.empty()) str(",\"channel\":", e.channel);
  str(",\"tenant\":", e.tenant);
  str(",\"object\":", e.object);
  str(",\"action\":", e.action);
  str(",\"key\":", e.key);
  out += ",\"version\":";
  out += std::to_string(e.version);
  str(",\"whenmodified\":", e.whenmodified);
  out += ",\"snapshot\":{";
  bool first = true;
  for (const auto& [name, value] : e.snapshot) {
    if (!first) out.push_back(',');
    first = false;
    append_string(out, name);
    out.push_back(':');
    append_string(out, value);
  }
  out += "},\"received_at\":";
  out += std::to_string(e.received_at_ms);
  str(",\"content_type\":", e.content_type);
  str(",\"raw\":", e.raw);
  out.push_back('}');
  return out;
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
  // Trusted: this service wrote it, and a smart event's raw body inside is
  // kept byte for byte, valid UTF-8 or not.
  auto parsed = json::parse(json, {.subject = "the envelope", .strict = false});
  if (!parsed) return bad("not JSON (" + parsed.error().message + ")");
  const rapidjson::Document& doc = *parsed;
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
  // Optional: absent in smart events and in envelopes written before it.
  if (doc.HasMember("channel")) {
    auto channel = get_string(doc, "channel");
    if (!channel) return channel.error();
    e.channel = std::move(*channel);
  }
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
  input.reserve(128 + e.tenant.size() + e.object.size() + e.action.size() + e.key.size());
  part(input, e.tenant);
  part(input, e.object);
  part(input, e.action == "add" ? std::string_view("set") : std::string_view(e.action));
  part(input, e.key);
  part(input, std::to_string(e.version));
  if (!e.snapshot.empty()) {
    // Snapshots from parse_smart_event and decode() are sorted already: copy
    // and sort only one that is not.
    std::vector<std::pair<std::string, std::string>> sorted;
    const auto* fields = &e.snapshot;
    if (!std::is_sorted(e.snapshot.begin(), e.snapshot.end())) {
      sorted = e.snapshot;
      std::sort(sorted.begin(), sorted.end());
      fields = &sorted;
    }
    std::string snap;
    std::size_t size = 0;
    for (const auto& [name, value] : *fields) size += name.size() + value.size() + 16;
    snap.reserve(size);
    for (const auto& [name, value] : *fields) {
      part(snap, name);
      part(snap, value);
    }
    part(input, sha256_hex(snap));
  }
  return key(e.tenant, "dedup:" + sha256_hex(input));
}

}  // namespace isync::queue
