// The text forms shared by the CLI and the admin API (oncall.hpp): RapidJSON
// Writer throughout, every string written as a JSON string; JSON this
// service stored (envelope, attempts, a job's filter) is re-written through
// a parse, so what comes out is always valid JSON.
#include "core/json.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstring>

#include "oncall/oncall.hpp"

namespace isync::oncall {

namespace {

using W = rapidjson::Writer<rapidjson::StringBuffer>;

void str(W& w, const char* k, const std::string& v) {
  w.Key(k);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}

void num(W& w, const char* k, std::int64_t v) {
  w.Key(k);
  w.Int64(v);
}

// Stored JSON as a value; a text that does not parse as a string.
void stored(W& w, const char* k, const std::string& text, const char* empty) {
  w.Key(k);
  if (text.empty()) {
    w.RawValue(empty, std::strlen(empty), rapidjson::kObjectType);
    return;
  }
  auto doc = json::parse(text, json::kTrusted);
  if (doc) {
    doc->Accept(w);
  } else {
    w.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  }
}

void summary(W& w, const queue::EventSummary& s) {
  w.StartObject();
  str(w, "id", s.id);
  str(w, "tenant", s.tenant);
  str(w, "state", s.state);
  str(w, "source", s.source);
  str(w, "object", s.object);
  str(w, "key", s.key);
  str(w, "action", s.action);
  str(w, "code", s.code);
  str(w, "errorno", s.errorno);
  str(w, "reason", s.reason);
  num(w, "attempt", s.attempt);
  num(w, "updated_at_ms", s.updated_at_ms);
  num(w, "first_failure_ms", s.first_failure_ms);
  num(w, "received_at_ms", s.received_at_ms);
  w.EndObject();
}

void skipped(W& w, const std::vector<Skipped>& list) {
  w.StartArray();
  for (const auto& s : list) {
    w.StartObject();
    str(w, "id", s.id);
    str(w, "state", s.state);
    str(w, "code", s.code);
    w.EndObject();
  }
  w.EndArray();
}

void job(W& w, const Job& j) {
  w.StartObject();
  str(w, "job_id", j.id);
  str(w, "tenant", j.tenant);
  str(w, "action", action_name(j.action));
  str(w, "state", j.state);
  str(w, "reason", j.reason);
  str(w, "actor", j.actor);
  stored(w, "filter", j.filter, "{}");
  w.Key("settled_by_hand");
  w.Bool(j.settled_by_hand);
  num(w, "matched", j.matched);
  num(w, "processed", j.processed);
  num(w, j.action == Action::discard ? "discarded" : "replayed", j.acted);
  num(w, "skipped", j.skipped);
  w.Key("skipped_samples");
  skipped(w, j.skipped_samples);
  num(w, "created_at_ms", j.created_at_ms);
  num(w, "updated_at_ms", j.updated_at_ms);
  num(w, "finished_at_ms", j.finished_at_ms);
  w.EndObject();
}

std::string text(const rapidjson::StringBuffer& buf) {
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace

std::string to_json(const queue::EventSummary& s) {
  rapidjson::StringBuffer buf;
  W w(buf);
  summary(w, s);
  return text(buf);
}

std::string to_json(const queue::EventPage& page) {
  rapidjson::StringBuffer buf;
  W w(buf);
  w.StartObject();
  w.Key("events");
  w.StartArray();
  for (const auto& s : page.events) summary(w, s);
  w.EndArray();
  str(w, "next_cursor", page.next_cursor);
  w.EndObject();
  return text(buf);
}

std::string to_json(const EventDetail& d) {
  rapidjson::StringBuffer buf;
  W w(buf);
  w.StartObject();
  w.Key("event");
  summary(w, d.summary);
  stored(w, "envelope", d.envelope, "{}");
  stored(w, "attempts", d.attempts, "[]");
  w.Key("ledger");
  if (d.ledger.empty()) {
    w.Null();
  } else {
    w.StartObject();
    for (const auto& [k, v] : d.ledger) str(w, k.c_str(), v);
    w.EndObject();
  }
  w.EndObject();
  return text(buf);
}

std::string to_json(const ActionAnswer& a, Action action) {
  rapidjson::StringBuffer buf;
  W w(buf);
  w.StartObject();
  if (!a.job_id.empty()) {
    str(w, "job_id", a.job_id);
    num(w, "matched", a.matched);
  } else if (a.dry_run) {
    num(w, "matched", a.matched);
    w.Key("samples");
    w.StartArray();
    for (const auto& s : a.samples) summary(w, s);
    w.EndArray();
  } else {
    num(w, "matched", a.matched);
    num(w, action == Action::discard ? "discarded" : "replayed", a.acted);
    w.Key("skipped");
    skipped(w, a.skipped);
  }
  w.EndObject();
  return text(buf);
}

std::string to_json(const Job& j) {
  rapidjson::StringBuffer buf;
  W w(buf);
  job(w, j);
  return text(buf);
}

std::string to_json(const std::vector<Job>& jobs) {
  rapidjson::StringBuffer buf;
  W w(buf);
  w.StartObject();
  w.Key("jobs");
  w.StartArray();
  for (const auto& j : jobs) job(w, j);
  w.EndArray();
  w.EndObject();
  return text(buf);
}

std::string to_json(const std::string& tenant, const queue::Activity& a) {
  rapidjson::StringBuffer buf;
  W w(buf);
  w.StartObject();
  str(w, "tenant", tenant);
  w.Key("minute_ms");
  w.Int64(queue::kActivityMinuteMs);
  w.Key("from_ms");
  w.Int64(a.from_ms);
  w.Key("to_ms");
  w.Int64(a.to_ms);
  w.Key("minutes");
  w.StartArray();
  for (const auto& m : a.minutes) {
    w.StartObject();
    w.Key("t");
    w.Int64(m.t_ms);
    w.Key("handled");
    w.Int64(m.handled);
    w.Key("failed");
    w.Int64(m.failed);
    w.Key("dead");
    w.Int64(m.dead);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return text(buf);
}

}  // namespace isync::oncall
