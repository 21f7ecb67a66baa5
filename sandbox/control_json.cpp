// The control API's answer bodies, written from the engine's values (see
// detail/control_json.hpp). The request bodies are parsed in
// control_json_parse.cpp.
#include "sandbox/detail/control_json.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/json.hpp"
#include "sandbox/detail/model.hpp"

namespace isync::sandbox::detail {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

std::string text(const rapidjson::StringBuffer& buf) { return {buf.GetString(), buf.GetSize()}; }

void write_string(JsonWriter& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void write_record(JsonWriter& w, const Record& r) {
  w.StartObject();
  w.Key("object");
  write_string(w, r.object);
  w.Key("recordno");
  w.Int64(r.recordno);
  w.Key("fields");
  w.StartObject();
  for (const auto& [k, v] : r.fields) {
    write_string(w, k);
    write_string(w, v);
  }
  w.EndObject();
  w.EndObject();
}

void write_counts(JsonWriter& w, const std::map<std::string, std::int64_t>& counts) {
  w.StartObject();
  for (const auto& [k, v] : counts) {
    write_string(w, k);
    w.Int64(v);
  }
  w.EndObject();
}

}  // namespace

// ---- answers -------------------------------------------------------------------

std::string record_body(const Record& record) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  write_record(w, record);
  return text(buf);
}

std::string records_body(const std::vector<Record>& records) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("records");
  w.StartArray();
  for (const auto& r : records) write_record(w, r);
  w.EndArray();
  w.EndObject();
  return text(buf);
}

std::string faults_body(const Faults& f) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("latency_ms");
  w.Int64(f.latency.count());
  w.Key("rate_limit");
  w.Int(f.rate_limit);
  w.Key("rate_limit_http");
  w.Bool(f.rate_limit_http);
  w.Key("server_error");
  w.Int(f.server_error);
  w.Key("timeout_after_write");
  w.Int(f.timeout_after_write);
  w.Key("land_later");
  w.Int(f.land_later);
  w.Key("land_delay_ms");
  w.Int64(f.land_delay.count());
  w.Key("drop_events");
  w.Int(f.drop_events);
  w.Key("deny_reads");
  w.Int(f.deny_reads);
  w.Key("server_error_ratio");
  w.Double(f.server_error_ratio);
  w.Key("timeout_after_write_ratio");
  w.Double(f.timeout_after_write_ratio);
  w.Key("land_later_ratio");
  w.Double(f.land_later_ratio);
  w.Key("drop_events_ratio");
  w.Double(f.drop_events_ratio);
  w.Key("deny_read_objects");
  w.StartArray();
  for (const auto& o : f.deny_read_objects) write_string(w, o);
  w.EndArray();
  w.EndObject();
  return text(buf);
}

std::string settings_body(const Settings& s) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("payment_batch_required");
  w.Bool(s.payment_batch_required);
  w.Key("unique_payment_numbers");
  w.Bool(s.unique_payment_numbers);
  w.Key("write_clock_offset_s");
  w.Int64(s.write_clock_offset.count());
  w.EndObject();
  return text(buf);
}

std::string dropped_body(const DroppedEvents& d) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("count");
  w.Int64(d.count);
  w.Key("truncated");
  w.Bool(d.count > static_cast<std::int64_t>(d.events.size()));
  w.Key("events");
  w.StartArray();
  for (const auto& e : d.events) {
    w.StartObject();
    w.Key("object");
    write_string(w, e.object);
    w.Key("recordno");
    w.Int64(e.recordno);
    w.Key("action");
    write_string(w, e.action);
    w.Key("whenmodified");
    write_string(w, e.whenmodified);
    w.Key("at_ms");
    w.Int64(e.at_ms);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return text(buf);
}

std::string stats_body(const Stats& s, const std::map<std::string, std::size_t>& records,
                       const PosterStats& p, const PosterStats& t) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("requests");
  w.Int64(s.requests);
  w.Key("faults_injected");
  w.Int64(s.faults_injected);
  w.Key("faults_by_name");
  write_counts(w, s.faults_by_name);
  w.Key("records_read");
  w.Int64(s.records_read);
  w.Key("calls_by_function");
  write_counts(w, s.calls_by_function);
  w.Key("records");
  w.StartObject();
  for (const auto& [object, n] : records) {
    write_string(w, object);
    w.Uint64(n);
  }
  w.EndObject();
  w.Key("events");
  w.StartObject();
  w.Key("posted");
  w.Int64(p.posted);
  w.Key("failed");
  w.Int64(p.failed);
  w.Key("dropped");
  w.Int64(p.dropped);
  w.Key("queued");
  w.Int64(p.queued);
  w.EndObject();
  w.Key("triggers");
  w.StartObject();
  w.Key("posted");
  w.Int64(t.posted);
  w.Key("failed");
  w.Int64(t.failed);
  w.Key("dropped");
  w.Int64(t.dropped);
  w.Key("queued");
  w.Int64(t.queued);
  w.Key("retried");
  w.Int64(t.retried);
  w.EndObject();
  w.EndObject();
  return text(buf);
}

std::string push_body(PushMode mode, bool bare) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("mode");
  write_string(w, push_mode_name(mode));
  w.Key("trigger_token");
  write_string(w, bare ? "bare" : "envelope");
  w.EndObject();
  return text(buf);
}

}  // namespace isync::sandbox::detail
