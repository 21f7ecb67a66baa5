#include "app/events_text.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "core/json.hpp"
#include "oncall/http.hpp"
#include "queue/queue.hpp"

namespace isync::app::detail {

namespace {

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

std::string compact(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

std::string str_of(const rapidjson::Value& v) {
  if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
  if (v.IsInt64()) return std::to_string(v.GetInt64());
  if (v.IsBool()) return v.GetBool() ? "true" : "false";
  if (v.IsNull()) return "null";
  if (v.IsNumber()) return std::to_string(v.GetDouble());
  if (v.IsArray()) {
    std::string out;
    for (const auto& e : v.GetArray()) out += (out.empty() ? "" : ", ") + str_of(e);
    return out;
  }
  return "{…}";
}

std::string member(const rapidjson::Value& o, const char* name) {
  if (!o.IsObject()) return {};
  auto it = o.FindMember(name);
  return it == o.MemberEnd() ? std::string() : str_of(it->value);
}

// An attempt's time: epoch ms as a number or text; anything else as it is.
std::string attempt_time(const rapidjson::Value& a) {
  auto it = a.FindMember("at");
  if (it == a.MemberEnd()) return "-";
  if (it->value.IsInt64()) return when(it->value.GetInt64());
  return str_of(it->value);
}

void attempts_text(std::ostringstream& o, const std::string& attempts) {
  auto doc = json::parse(attempts, json::kTrusted);
  if (!doc || !doc->IsArray()) {
    o << "attempts: " << attempts << "\n";
    return;
  }
  o << "attempts (oldest first):\n";
  if (doc->Empty()) o << "  (none)\n";
  int n = 0;
  for (const auto& a : doc->GetArray()) {
    ++n;
    if (!a.IsObject()) continue;
    std::string kind = member(a, "kind");
    if (kind.empty()) kind = "failure";
    o << "  " << n << ". " << attempt_time(a) << "  " << kind;
    if (kind == "failure") {
      o << "  " << or_dash(member(a, "code"));
      if (auto cls = member(a, "class"); !cls.empty()) o << " (" << cls << ")";
      if (auto at = member(a, "attempt"); !at.empty()) o << "  attempt " << at;
      o << "\n";
      for (const char* f : {"message", "errorno", "description", "correction", "controlid"}) {
        auto v = member(a, f);
        if (!v.empty()) o << "       " << pad(std::string(f) + ":", 13) << v << "\n";
      }
    } else {
      o << " by " << or_dash(member(a, "actor"));
      if (auto r = member(a, "reason"); !r.empty()) o << ": " << r;
      o << "\n";
      auto it = a.FindMember("fields");
      if (it != a.MemberEnd()) o << "       set:         " << compact(it->value) << "\n";
      it = a.FindMember("was");
      if (it != a.MemberEnd()) o << "       was:         " << compact(it->value) << "\n";
    }
  }
}

}  // namespace

std::string when(std::int64_t ms) {
  if (ms <= 0) return "-";
  std::string t = oncall::format_time(ms);
  t[10] = ' ';
  return t;
}

std::string page_text(const queue::EventPage& page) {
  std::ostringstream o;
  if (page.events.empty()) {
    o << "no events match\n";
  } else {
    o << pad("EVENT", 27) << pad("TENANT", 10) << pad("STATE", 10) << pad("OBJECT", 10)
      << pad("KEY", 14) << pad("ERROR", 24) << pad("TRY", 4) << "UPDATED\n";
    for (const auto& e : page.events) {
      std::string error = e.code;
      if (!e.errorno.empty()) error += (error.empty() ? "" : "/") + e.errorno;
      o << pad(e.id, 27) << pad(e.tenant, 10) << pad(e.state, 10) << pad(or_dash(e.object), 10)
        << pad(or_dash(e.key), 14) << pad(or_dash(error), 24) << pad(std::to_string(e.attempt), 4)
        << when(e.updated_at_ms) << "\n";
    }
  }
  if (!page.next_cursor.empty()) o << "more: --cursor " << page.next_cursor << "\n";
  return o.str();
}

std::string detail_text(const oncall::EventDetail& d) {
  const auto& s = d.summary;
  std::ostringstream o;
  o << "event " << s.id << " (tenant " << s.tenant << ")\n";
  o << "state:         " << s.state;
  if (!s.reason.empty()) o << " (" << s.reason << ")";
  o << "\n";
  o << "event:         " << or_dash(s.source) << " " << or_dash(s.object) << " "
    << or_dash(s.action) << " key " << or_dash(s.key) << "\n";
  o << "received:      " << when(s.received_at_ms) << "\n";
  o << "updated:       " << when(s.updated_at_ms) << "\n";
  o << "first failure: " << when(s.first_failure_ms) << " (attempts in this budget: " << s.attempt
    << ")\n";
  if (!s.code.empty() || !s.errorno.empty()) {
    o << "last error:    " << or_dash(s.code);
    if (!s.errorno.empty()) o << " (Intacct " << s.errorno << ")";
    o << "\n";
  }
  attempts_text(o, d.attempts);
  auto env = queue::decode(d.envelope);
  if (env) {
    o << "envelope:\n";
    o << "  version:      " << env->version << "\n";
    o << "  whenmodified: " << or_dash(env->whenmodified) << "\n";
    o << "  content_type: " << or_dash(env->content_type) << "\n";
    for (const auto& [k, v] : env->snapshot) o << "  " << pad(k + ":", 14) << v << "\n";
    o << "raw payload (redacted at ingest):\n" << env->raw;
    if (!env->raw.empty() && env->raw.back() != '\n') o << "\n";
  } else {
    o << "envelope: " << d.envelope << "\n";
  }
  if (!d.ledger.empty()) {
    o << "payment ledger:\n";
    for (const auto& [k, v] : d.ledger) o << "  " << pad(k + ":", 16) << v << "\n";
  }
  return o.str();
}

std::string answer_text(const oncall::ActionAnswer& a, oncall::Action action) {
  const std::string done = action == oncall::Action::replay ? "replayed" : "discarded";
  std::ostringstream o;
  if (!a.job_id.empty()) {
    o << "job " << a.job_id << " created: " << oncall::action_name(action) << " of " << a.matched
      << " matched event(s)\n";
  } else if (a.dry_run) {
    o << "dry run: " << a.matched << " event(s) match; nothing was changed\n";
    if (!a.samples.empty()) {
      o << "for example:\n";
      queue::EventPage page;
      page.events = a.samples;
      o << page_text(page);
    }
  } else {
    o << done << " " << a.acted << " of " << a.matched << " matched\n";
    for (const auto& s : a.skipped) {
      o << "  skipped " << s.id << " (" << or_dash(s.state) << "): " << s.code << "\n";
    }
  }
  return o.str();
}

std::string job_progress(const oncall::Job& j) {
  std::ostringstream o;
  o << "job " << j.id << " " << oncall::action_name(j.action) << " " << j.tenant << ": "
    << j.processed << "/" << j.matched << " processed, " << j.acted << " "
    << (j.action == oncall::Action::replay ? "replayed" : "discarded") << ", " << j.skipped
    << " skipped (" << j.state << ")";
  return o.str();
}

std::string job_text(const oncall::Job& j) {
  std::ostringstream o;
  o << job_progress(j) << "\n";
  o << "  by " << or_dash(j.actor);
  if (!j.reason.empty()) o << ": " << j.reason;
  o << "\n  filter " << (j.filter.empty() ? "{}" : j.filter);
  if (j.settled_by_hand) o << "  (settled by hand)";
  o << "\n  created " << when(j.created_at_ms) << ", updated " << when(j.updated_at_ms);
  if (j.finished_at_ms > 0) o << ", finished " << when(j.finished_at_ms);
  o << "\n";
  for (const auto& s : j.skipped_samples) {
    o << "  skipped " << s.id << " (" << or_dash(s.state) << "): " << s.code << "\n";
  }
  return o.str();
}

std::string jobs_text(const std::vector<oncall::Job>& jobs) {
  if (jobs.empty()) return "no jobs\n";
  std::string out;
  for (const auto& j : jobs) out += job_text(j);
  return out;
}

std::string record_text(const std::string& record_json) {
  auto doc = json::parse(record_json, json::kTrusted);
  if (!doc || !doc->IsObject()) return record_json + "\n";
  const auto& r = *doc;
  std::ostringstream o;
  o << member(r, "object") << " " << member(r, "recordno") << "  version " << member(r, "version");
  if (member(r, "deleted") == "true") o << "  (deleted in Intacct: a tombstone)";
  o << "\n";
  auto fields = r.FindMember("fields");
  if (fields != r.MemberEnd() && fields->value.IsObject()) {
    o << "fields:\n";
    for (const auto& m : fields->value.GetObject()) {
      o << "  " << pad(std::string(m.name.GetString(), m.name.GetStringLength()) + ":", 18)
        << str_of(m.value) << "\n";
    }
  }
  auto audit = r.FindMember("audit");
  if (audit != r.MemberEnd() && audit->value.IsArray()) {
    o << "audit (newest first):\n";
    if (audit->value.Empty()) o << "  (none)\n";
    for (const auto& a : audit->value.GetArray()) {
      if (!a.IsObject()) continue;
      o << "  " << attempt_time(a);
      for (const auto& m : a.GetObject()) {
        const std::string name(m.name.GetString(), m.name.GetStringLength());
        if (name == "at") continue;
        o << "  " << name << "=" << str_of(m.value);
      }
      o << "\n";
    }
  }
  return o.str();
}

}  // namespace isync::app::detail
