#include "tests/support/mirror_compare.hpp"

#include <map>
#include <optional>

#include "core/json.hpp"

namespace isync::testing {
namespace {

constexpr const char* kObjects[] = {"CUSTOMER", "ARINVOICE", "ARPYMT"};
constexpr std::size_t kListPage = 1000;

using Fields = std::map<std::string, std::string>;

struct MirrorRecord {
  bool live = false;
  std::string gone;  // why not live: "tombstone" | "draft marker" | "empty"
  std::int64_t v = 0;
  std::string wm;
  Fields f;
};

std::string field(const Fields& f, const std::string& name) {
  const auto it = f.find(name);
  return it == f.end() ? std::string{} : it->second;
}

// A decimal amount other than zero ("0", "0.00", "-0.00" and "" are zero).
bool nonzero_amount(std::string_view text) {
  for (char c : text) {
    if (c >= '1' && c <= '9') return true;
  }
  return false;
}

std::int64_t epoch_of(const std::string& whenmodified) {
  auto t = parse_whenmodified(whenmodified);
  return t ? *t : -1;
}

bool sandbox_in_scope(const std::string& object, const Fields& f, std::int64_t since) {
  if (object == "CUSTOMER") return true;
  if (epoch_of(field(f, "WHENMODIFIED")) >= since) return true;
  return object == "ARINVOICE" && nonzero_amount(field(f, "TOTALDUE"));
}

bool mirror_in_scope(const std::string& object, const MirrorRecord& m, std::int64_t since) {
  if (object == "CUSTOMER") return true;
  if (m.v >= since || m.v == 0) return true;
  return object == "ARINVOICE" && nonzero_amount(field(m.f, "TOTALDUE"));
}

// Glob-escapes `text` for SCAN MATCH.
std::string glob_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

bool all_digits(std::string_view s) {
  if (s.empty() || s.size() > 19) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

Result<redis::Reply> checked(redis::SyncConnection& redis, const std::vector<std::string>& argv) {
  auto r = redis.command(argv);
  if (!r) return r.error();
  if (r->is_error()) return make_error("redis_io", argv[0] + " failed: " + r->str);
  return r;
}

Result<MirrorRecord> read_mirror(redis::SyncConnection& redis, const std::string& key) {
  auto r = checked(redis, {"HGETALL", key});
  if (!r) return r.error();
  Fields hash;
  for (std::size_t i = 0; i + 1 < r->elements.size(); i += 2) {
    hash[r->elements[i].str] = r->elements[i + 1].str;
  }
  MirrorRecord m;
  if (hash.empty()) {
    m.gone = "empty";
    return m;
  }
  if (field(hash, "del") == "1") m.gone = "tombstone";
  if (field(hash, "draft") == "1") m.gone = "draft marker";
  m.live = m.gone.empty();
  m.wm = field(hash, "wm");
  const auto v = field(hash, "v");
  if (!v.empty()) {
    try {
      m.v = std::stoll(v);
    } catch (const std::exception&) {
      return make_error("bad_mirror", key + ": v \"" + shorten(v, 32) + "\" is not an integer");
    }
  }
  const auto f = field(hash, "f");
  if (!f.empty()) {
    auto doc = json::parse(f, json::kTrusted);
    if (!doc || !doc->IsObject()) {
      return make_error("bad_mirror", key + ": f is not a JSON object");
    }
    for (auto& member : doc->GetObject()) {
      if (!member.value.IsString()) continue;  // the mirror keeps text; anything else is skipped
      m.f[{member.name.GetString(), member.name.GetStringLength()}] = {
          member.value.GetString(), member.value.GetStringLength()};
    }
  }
  return m;
}

// Every rec:<OBJECT>:<recordno> hash of the tenant, by RECORDNO.
Result<std::map<std::int64_t, MirrorRecord>> scan_mirror(redis::SyncConnection& redis,
                                                         std::string_view tenant,
                                                         const std::string& object) {
  const std::string prefix = "isync:{" + std::string(tenant) + "}:rec:" + object + ":";
  const std::string match =
      glob_escape("isync:{" + std::string(tenant) + "}:rec:" + object + ":") + "*";
  std::map<std::int64_t, MirrorRecord> out;
  std::string cursor = "0";
  do {
    auto r = checked(redis, {"SCAN", cursor, "MATCH", match, "COUNT", "1000"});
    if (!r) return r.error();
    if (r->elements.size() != 2) return make_error("redis_io", "SCAN answered an unknown shape");
    cursor = r->elements[0].str;
    for (const auto& k : r->elements[1].elements) {
      const auto tail = std::string_view(k.str).substr(prefix.size());
      if (!all_digits(tail)) continue;
      auto m = read_mirror(redis, k.str);
      if (!m) return m.error();
      out[std::stoll(std::string(tail))] = std::move(*m);
    }
  } while (cursor != "0");
  return out;
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

}  // namespace

std::vector<sandbox::Record> company_records(const sandbox::Company& company) {
  std::vector<sandbox::Record> out;
  for (const char* object : kObjects) {
    std::int64_t after = 0;
    for (;;) {
      auto page = company.list(object, after, kListPage);
      if (page.empty()) break;
      after = page.back().recordno;
      for (auto& r : page) out.push_back(std::move(r));
    }
  }
  return out;
}

Result<std::vector<sandbox::Record>> parse_records_page(std::string_view json) {
  auto doc = json::parse(json, json::kTrusted);
  if (!doc) return doc.error();
  const auto bad = [] {
    return make_error("malformed_body", "expected {\"records\":[{object, recordno, fields}…]}");
  };
  if (!doc->IsObject() || !doc->HasMember("records") || !(*doc)["records"].IsArray()) return bad();
  std::vector<sandbox::Record> out;
  for (const auto& r : (*doc)["records"].GetArray()) {
    if (!r.IsObject() || !r.HasMember("object") || !r["object"].IsString() ||
        !r.HasMember("recordno") || !r["recordno"].IsNumber() || !r.HasMember("fields") ||
        !r["fields"].IsObject()) {
      return bad();
    }
    sandbox::Record rec;
    rec.object = r["object"].GetString();
    rec.recordno = static_cast<std::int64_t>(r["recordno"].GetDouble());
    for (const auto& f : r["fields"].GetObject()) {
      if (!f.value.IsString()) return bad();
      rec.fields[f.name.GetString()] = {f.value.GetString(), f.value.GetStringLength()};
    }
    out.push_back(std::move(rec));
  }
  return out;
}

Result<std::vector<std::string>> mirror_differences(redis::SyncConnection& redis,
                                                    std::string_view tenant,
                                                    const std::vector<sandbox::Record>& records,
                                                    std::int64_t since) {
  std::vector<std::string> out;
  for (const std::string object : kObjects) {
    std::map<std::int64_t, const sandbox::Record*> company;
    for (const auto& r : records) {
      if (r.object == object) company[r.recordno] = &r;
    }
    auto mirror = scan_mirror(redis, tenant, object);
    if (!mirror) return mirror.error();
    std::map<std::int64_t, std::pair<const sandbox::Record*, const MirrorRecord*>> both;
    for (const auto& [no, r] : company) both[no].first = r;
    for (const auto& [no, m] : *mirror) both[no].second = &m;

    for (const auto& [no, pair] : both) {
      const auto* s = pair.first;
      const auto* m = pair.second;
      const bool s_scope = s != nullptr && sandbox_in_scope(object, s->fields, since);
      const bool m_scope = m != nullptr && m->live && mirror_in_scope(object, *m, since);
      if (!s_scope && !m_scope) continue;
      const bool s_draft =
          s != nullptr && object == "ARINVOICE" && field(s->fields, "STATE") == "Draft";
      const bool s_live = s != nullptr && !s_draft;
      const bool m_live = m != nullptr && m->live;
      const auto name = object + " " + std::to_string(no) + ": ";
      if (s_live && !m_live) {
        out.push_back(name + "live in the sandbox, missing from the mirror" +
                      (m != nullptr ? " (" + m->gone + ")" : ""));
        continue;
      }
      if (!s_live && m_live) {
        out.push_back(name + "live in the mirror, " +
                      (s_draft ? "a Draft in the sandbox" : "not in the sandbox"));
        continue;
      }
      if (!s_live) continue;  // neither is live (a draft in both, or one and a tombstone)
      const auto wm = field(s->fields, "WHENMODIFIED");
      if (m->v != epoch_of(wm)) {
        out.push_back(name + "version: mirror " + std::to_string(m->v) + " (" + m->wm +
                      "), sandbox " + std::to_string(epoch_of(wm)) + " (" + wm + ")");
      }
      for (const auto& [k, value] : m->f) {
        // Joined from the customer: Intacct changes it without a new
        // WHENMODIFIED or a smart event, so no listing by WHENMODIFIED can
        // see it move; the mirror has it as of the invoice's last change.
        if (object == "ARINVOICE" && k == "CUSTOMERNAME") continue;
        const auto it = s->fields.find(k);
        if (it != s->fields.end() && it->second != value) {
          out.push_back(name + k + ": mirror " + quoted(value) + ", sandbox " + quoted(it->second));
        }
      }
    }
  }
  return out;
}

}  // namespace isync::testing
