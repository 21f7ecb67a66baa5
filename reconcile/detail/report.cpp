#include "reconcile/detail/report.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <sstream>

#include "core/json.hpp"
#include "handlers/detail/record_doc.hpp"

namespace isync::reconcile::detail {
namespace {

constexpr std::size_t kSamples = 20;

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void str(Writer& w, const char* k, const std::string& v) {
  w.Key(k);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}
void num(Writer& w, const char* k, std::int64_t v) {
  w.Key(k);
  w.Int64(v);
}

std::int64_t get_int(const rapidjson::Value& o, const char* k) {
  if (!o.IsObject()) return 0;
  auto it = o.FindMember(k);
  return it != o.MemberEnd() && it->value.IsInt64() ? it->value.GetInt64() : 0;
}
std::string get_str(const rapidjson::Value& o, const char* k) {
  if (!o.IsObject()) return {};
  auto it = o.FindMember(k);
  return it != o.MemberEnd() && it->value.IsString() ? it->value.GetString() : std::string();
}
bool get_bool(const rapidjson::Value& o, const char* k) {
  if (!o.IsObject()) return false;
  auto it = o.FindMember(k);
  return it != o.MemberEnd() && it->value.IsBool() && it->value.GetBool();
}

}  // namespace

void ObjectReport::sample(const std::string& kind, const std::string& key) {
  auto& list = samples[kind];
  if (list.size() < kSamples) list.push_back(key);
}

std::int64_t Report::api_calls() const {
  std::int64_t n = payments.docnumber_calls + payments.reversal_calls;
  for (const auto& [_, o] : objects) n += o.list_calls + o.read_calls;
  return n;
}

std::string Report::to_json() const {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  str(w, "run_id", run_id);
  str(w, "tenant", tenant);
  str(w, "trigger", trigger);
  w.Key("dry_run");
  w.Bool(dry_run);
  str(w, "state", state);
  if (!failure.empty()) str(w, "failure", failure);
  str(w, "started_at", handlers::detail::iso8601_ms(started_ms));
  if (finished_ms > 0) {
    str(w, "finished_at", handlers::detail::iso8601_ms(finished_ms));
    num(w, "duration_ms", finished_ms - started_ms);
  }
  num(w, "since", since);
  w.Key("objects");
  w.StartObject();
  for (const auto& name : order) {
    const auto it = objects.find(name);
    if (it == objects.end()) continue;
    const ObjectReport& o = it->second;
    w.Key(name.c_str());
    w.StartObject();
    str(w, "state", o.state);
    num(w, "listed", o.listed);
    if (o.totalcount >= 0) num(w, "totalcount", o.totalcount);
    num(w, "reads_done", o.reads_done);
    num(w, "missing", o.missing);
    num(w, "stale", o.stale);
    num(w, "drafts", o.drafts);
    num(w, "gone_candidates", o.gone_candidates);
    num(w, "created", o.created);
    num(w, "updated", o.updated);
    num(w, "tombstoned", o.tombstoned);
    num(w, "drafts_removed", o.drafts_removed);
    w.Key("mass_delete_suspected");
    w.Bool(o.mass_delete_suspected);
    num(w, "segments", o.segments);
    w.Key("calls");
    w.StartObject();
    num(w, "list", o.list_calls);
    num(w, "read", o.read_calls);
    w.EndObject();
    num(w, "retries", o.retries);
    num(w, "logins", o.logins);
    if (!o.samples.empty()) {
      w.Key("samples");
      w.StartObject();
      for (const auto& [kind, keys] : o.samples) {
        w.Key(kind.c_str());
        w.StartArray();
        for (const auto& k : keys) w.String(k.c_str());
        w.EndArray();
      }
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndObject();
  if (payments.ran) {
    w.Key("payments");
    w.StartObject();
    num(w, "examined", payments.examined);
    num(w, "adopted", payments.adopted);
    num(w, "made_due", payments.made_due);
    num(w, "reversed", payments.reversed);
    num(w, "conflicts", payments.conflicts);
    num(w, "busy", payments.busy);
    num(w, "dead_letters", payments.dead_letters);
    w.Key("calls");
    w.StartObject();
    num(w, "docnumber", payments.docnumber_calls);
    num(w, "reversal", payments.reversal_calls);
    w.EndObject();
    w.EndObject();
  }
  num(w, "api_calls", api_calls());
  num(w, "retries", retries);
  num(w, "logins", logins);
  w.Key("errors");
  w.StartArray();
  for (const auto& e : errors) {
    w.StartObject();
    str(w, "object", e.object);
    str(w, "code", e.code);
    str(w, "message", e.message);
    if (!e.errorno.empty()) str(w, "errorno", e.errorno);
    if (!e.description.empty()) str(w, "description", e.description);
    if (!e.correction.empty()) str(w, "correction", e.correction);
    if (!e.key.empty()) str(w, "key", e.key);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

Result<std::string> render_text(std::string_view report_json) {
  auto doc = json::parse(report_json, json::kTrusted);
  if (!doc || !doc->IsObject() || !doc->HasMember("run_id")) {
    return Error{"invalid_report", "the stored reconcile report is not readable"};
  }
  const rapidjson::Value& r = *doc;
  std::ostringstream out;
  out << "reconcile " << get_str(r, "run_id") << " of tenant " << get_str(r, "tenant") << ": "
      << get_str(r, "state");
  if (get_bool(r, "dry_run")) out << " (dry run: nothing changed)";
  if (auto f = get_str(r, "failure"); !f.empty()) out << " — " << f;
  out << "\n  trigger " << get_str(r, "trigger") << ", started " << get_str(r, "started_at");
  if (r.HasMember("duration_ms"))
    out << ", took " << static_cast<double>(get_int(r, "duration_ms")) / 1000.0 << " s";
  out << ", " << get_int(r, "api_calls") << " API calls (" << get_int(r, "retries") << " retries, "
      << get_int(r, "logins") << " logins)\n";
  if (auto it = r.FindMember("objects"); it != r.MemberEnd() && it->value.IsObject()) {
    for (const auto& m : it->value.GetObject()) {
      const auto& o = m.value;
      out << "  " << m.name.GetString() << ": " << get_str(o, "state") << ", listed "
          << get_int(o, "listed") << ", created " << get_int(o, "created") << ", updated "
          << get_int(o, "updated") << ", tombstoned " << get_int(o, "tombstoned")
          << ", drafts removed " << get_int(o, "drafts_removed");
      if (get_bool(r, "dry_run")) {
        out << " (found: missing " << get_int(o, "missing") << ", stale " << get_int(o, "stale")
            << ", gone " << get_int(o, "gone_candidates") << ", drafts " << get_int(o, "drafts")
            << ")";
      }
      if (get_bool(o, "mass_delete_suspected")) out << ", MASS DELETE SUSPECTED";
      if (auto c = o.FindMember("calls"); c != o.MemberEnd()) {
        out << "; calls: list " << get_int(c->value, "list") << ", read "
            << get_int(c->value, "read");
      }
      out << "\n";
      if (auto s = o.FindMember("samples"); s != o.MemberEnd() && s->value.IsObject()) {
        for (const auto& kind : s->value.GetObject()) {
          out << "    " << kind.name.GetString() << ":";
          for (const auto& k : kind.value.GetArray())
            if (k.IsString()) out << " " << k.GetString();
          out << "\n";
        }
      }
    }
  }
  if (auto p = r.FindMember("payments"); p != r.MemberEnd() && p->value.IsObject()) {
    const auto& v = p->value;
    out << "  payments: examined " << get_int(v, "examined") << ", adopted "
        << get_int(v, "adopted") << ", made due " << get_int(v, "made_due") << ", reversed "
        << get_int(v, "reversed") << ", conflicts " << get_int(v, "conflicts") << ", busy "
        << get_int(v, "busy") << ", dead letters " << get_int(v, "dead_letters") << "\n";
  }
  if (auto e = r.FindMember("errors"); e != r.MemberEnd() && e->value.IsArray()) {
    for (const auto& err : e->value.GetArray()) {
      out << "  error " << get_str(err, "object") << " " << get_str(err, "code") << ": "
          << get_str(err, "message");
      if (auto n = get_str(err, "errorno"); !n.empty()) out << " [errorno " << n << "]";
      if (auto c = get_str(err, "correction"); !c.empty()) out << " correction: " << c;
      out << "\n";
    }
  }
  return Result<std::string>(boost::system::in_place_value, out.str());
}

}  // namespace isync::reconcile::detail
