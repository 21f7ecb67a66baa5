#include "handlers/detail/record_doc.hpp"

#include <algorithm>
#include <ctime>

#include "core/core.hpp"

namespace isync::handlers::detail {

std::string iso8601_ms(std::int64_t epoch_ms) {
  std::int64_t secs = epoch_ms / 1000;
  std::int64_t ms = epoch_ms % 1000;
  if (ms < 0) {
    ms += 1000;
    secs -= 1;
  }
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf, n);
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms));
  out += frac;
  return out;
}

bool valid_recordno(std::string_view s) {
  if (s.empty() || s.size() > 19 || s.front() == '0') return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

SnapshotText snapshot_text(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::vector<const std::pair<std::string, std::string>*> order;
  order.reserve(fields.size());
  for (const auto& f : fields) order.push_back(&f);
  // Stable: of a name given twice, the last one sorts last and wins below.
  std::stable_sort(order.begin(), order.end(),
                   [](const auto* a, const auto* b) { return a->first < b->first; });
  SnapshotText out;
  out.json.push_back('{');
  out.names.reserve(order.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (i + 1 < order.size() && order[i + 1]->first == order[i]->first) continue;
    if (out.json.size() > 1) out.json += ',';
    std::string name;
    append_json_string(name, order[i]->first);
    out.json += name;
    out.json += ':';
    append_json_string(out.json, order[i]->second);
    out.names.push_back(std::move(name));
  }
  out.json += '}';
  return out;
}

namespace {

bool is_integer_text(std::string_view s) {
  if (!s.empty() && s.front() == '-') s.remove_prefix(1);
  if (s.empty() || s.size() > 19) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

bool append_record_doc(std::string& out, std::string_view object, std::string_view recordno,
                       const std::vector<redis::Reply>& parts, std::size_t at) {
  using Type = redis::Reply::Type;
  if (parts.size() < at + 5) return false;
  const auto& v = parts[at];
  const auto& wm = parts[at + 1];
  const auto& del = parts[at + 2];
  const auto& f = parts[at + 3];
  const auto& audit = parts[at + 4];
  if (v.type != Type::string || !is_integer_text(v.str) || wm.type != Type::string ||
      del.type != Type::string || f.type != Type::string || audit.type != Type::array) {
    return false;
  }
  out += "{\"object\":";
  append_json_string(out, object);
  out += ",\"recordno\":";
  append_json_string(out, recordno);
  out += ",\"version\":";
  out += v.str;
  out += ",\"whenmodified\":";
  append_json_string(out, wm.str);
  out += ",\"deleted\":";
  out += del.str == "1" ? "true" : "false";
  // Stored by the apply script as one JSON object (cjson text), so it is
  // embedded as it is.
  out += ",\"fields\":";
  out += f.str.empty() ? "{}" : f.str;
  out += ",\"audit\":[";
  bool first = true;
  for (const auto& entry : audit.elements) {
    if (entry.type != Type::string) continue;
    if (!first) out += ',';
    first = false;
    out += entry.str;
  }
  out += "]}";
  return true;
}

}  // namespace isync::handlers::detail
