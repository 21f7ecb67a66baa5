// The company as one JSON document (RapidJSON), so a restarted sandbox
// resumes where it stopped: records, RECORDNO counters, open sessions and the
// executed controlids (a replay after a restart is still refused).
//
// {"format":"isync-sandbox-1",
//  "next_recordno":{"CUSTOMER":n,...},
//  "records":{"CUSTOMER":[{"RECORDNO":"1",...}],...},
//  "sessions":[{"id":..,"locationid":..,"expires_ms":n}],
//  "executed":[{"controlid":..,"at_ms":n}]}
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/json.hpp"
#include "sandbox/detail/state.hpp"

namespace isync::sandbox {
namespace {

constexpr const char* kFormat = "isync-sandbox-1";
constexpr std::size_t kMaxSnapshot = 512 * 1024 * 1024;

Error bad(const std::string& what) {
  return make_error("bad_snapshot", "Snapshot rejected: " + what + ".");
}

}  // namespace

std::string Company::snapshot_json() const {
  std::lock_guard lock(state_->mu);
  const auto& s = *state_;
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("format");
  w.String(kFormat);
  w.Key("next_recordno");
  w.StartObject();
  for (const auto& [object, next] : s.data.next_recordno) {
    w.Key(object.c_str());
    w.Int64(next);
  }
  w.EndObject();
  w.Key("records");
  w.StartObject();
  for (const auto& [object, table] : s.data.tables) {
    w.Key(object.c_str());
    w.StartArray();
    for (const auto& [no, packed] : table.rows) {
      w.StartObject();
      for (const auto& [k, v] : detail::unpack(*table.def, packed)) {
        w.Key(k.c_str(), static_cast<rapidjson::SizeType>(k.size()));
        w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
      }
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
  w.Key("sessions");
  w.StartArray();
  for (const auto& [id, session] : s.sessions) {
    w.StartObject();
    w.Key("id");
    w.String(id.c_str());
    w.Key("locationid");
    w.String(session.location_id.c_str());
    w.Key("expires_ms");
    w.Int64(session.expires_ms);
    w.EndObject();
  }
  w.EndArray();
  w.Key("executed");
  w.StartArray();
  for (const auto& [cid, at] : s.executed_order) {
    w.StartObject();
    w.Key("controlid");
    w.String(cid.c_str(), static_cast<rapidjson::SizeType>(cid.size()));
    w.Key("at_ms");
    w.Int64(at);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

Result<void> Company::load_snapshot_json(std::string_view json) {
  if (json.size() > kMaxSnapshot) return bad("larger than 512 MiB");
  auto parsed = json::parse(json, {.subject = "the snapshot", .strict = false});
  if (!parsed) return bad(parsed.error().message);
  rapidjson::Document& doc = *parsed;
  if (!doc.IsObject() || !doc.HasMember("format") || !doc["format"].IsString() ||
      std::string_view(doc["format"].GetString()) != kFormat) {
    return bad(std::string("\"format\" must be \"") + kFormat + "\"");
  }
  detail::Data data;
  for (const char* object : {"CUSTOMER", "ARINVOICE", "ARPYMT"}) {
    data.table(object);
    data.next_recordno[object] = 1;
  }
  if (doc.HasMember("next_recordno") && doc["next_recordno"].IsObject()) {
    for (const auto& m : doc["next_recordno"].GetObject()) {
      if (!m.value.IsInt64() || detail::find_object(m.name.GetString()) == nullptr)
        return bad("bad next_recordno");
      data.next_recordno[m.name.GetString()] = m.value.GetInt64();
    }
  }
  if (!doc.HasMember("records") || !doc["records"].IsObject()) return bad("\"records\" missing");
  for (const auto& table : doc["records"].GetObject()) {
    const std::string object = table.name.GetString();
    const auto* def = detail::find_object(object);
    if (def == nullptr || !table.value.IsArray())
      return bad("unknown object " + shorten(object, 32));
    for (const auto& rec : table.value.GetArray()) {
      if (!rec.IsObject()) return bad("a record of " + object + " is not an object");
      detail::Fields fields;
      for (const auto& f : rec.GetObject()) {
        if (!f.value.IsString()) return bad("a field of " + object + " is not a string");
        fields[f.name.GetString()] = std::string(f.value.GetString(), f.value.GetStringLength());
      }
      const auto no = detail::parse_int(fields["RECORDNO"]);
      if (!no || (!def->id_field.empty() && fields[def->id_field].empty()) ||
          (object != "CUSTOMER" && fields["CUSTOMERID"].empty())) {
        return bad("a record of " + object + " lacks RECORDNO or its key fields");
      }
      auto& next = data.next_recordno[object];
      next = std::max(next, *no + 1);
      data.put(object, *no, fields);
    }
  }
  data.rebuild_indexes();
  std::unordered_map<std::string, detail::CompanyState::Session> sessions;
  if (doc.HasMember("sessions") && doc["sessions"].IsArray()) {
    for (const auto& v : doc["sessions"].GetArray()) {
      if (!v.IsObject() || !v.HasMember("id") || !v["id"].IsString() ||
          !v.HasMember("expires_ms") || !v["expires_ms"].IsInt64()) {
        return bad("a session is malformed");
      }
      const std::string location = v.HasMember("locationid") && v["locationid"].IsString()
                                       ? v["locationid"].GetString()
                                       : "";
      sessions[v["id"].GetString()] = {location, v["expires_ms"].GetInt64()};
    }
  }
  std::vector<std::pair<std::string, std::int64_t>> executed;
  if (doc.HasMember("executed") && doc["executed"].IsArray()) {
    for (const auto& v : doc["executed"].GetArray()) {
      if (!v.IsObject() || !v.HasMember("controlid") || !v["controlid"].IsString() ||
          !v.HasMember("at_ms") || !v["at_ms"].IsInt64()) {
        return bad("an executed controlid is malformed");
      }
      executed.emplace_back(v["controlid"].GetString(), v["at_ms"].GetInt64());
    }
  }
  std::lock_guard lock(state_->mu);
  auto& s = *state_;
  s.data = std::move(data);
  s.sessions = std::move(sessions);
  s.result_sets.clear();
  s.landings.clear();
  s.executed.clear();
  s.executed_order.clear();
  for (const auto& [cid, at] : executed) s.remember_executed(cid, at);
  return {};
}

}  // namespace isync::sandbox
