// The control API's request bodies, parsed into the engine's values (see
// detail/control_json.hpp), each refusal naming the key. The answer bodies
// are written in control_json.cpp.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/json.hpp"
#include "sandbox/detail/control_json.hpp"
#include "sandbox/detail/model.hpp"

namespace isync::sandbox::detail {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

constexpr const char* kKnownFaults =
    "latency_ms, rate_limit, rate_limit_http, server_error, timeout_after_write, land_later, "
    "land_delay_ms, drop_events, deny_reads, server_error_ratio, timeout_after_write_ratio, "
    "land_later_ratio, drop_events_ratio, deny_read_objects";

std::string quoted(std::string_view s) { return "\"" + shorten(s, 64) + "\""; }

std::string text(const rapidjson::StringBuffer& buf) { return {buf.GetString(), buf.GetSize()}; }

// Parses a whole body as one JSON object (nothing after it but whitespace).
Result<rapidjson::Document> parse_object(std::string_view body) {
  auto doc = json::parse(body, {.subject = "the body"});
  if (doc && !doc->IsObject()) {
    return make_error("malformed_body", "the body must be a JSON object");
  }
  return doc;
}

std::string key_of(const rapidjson::Value& name) {
  return {name.GetString(), name.GetStringLength()};
}

// {NAME: string | number | bool} -> the field map.
Result<std::map<std::string, std::string>> parse_field_map(const rapidjson::Value& object) {
  std::map<std::string, std::string> fields;
  for (auto& f : object.GetObject()) {
    std::string name = key_of(f.name);
    std::string value;
    if (f.value.IsString()) {
      value.assign(f.value.GetString(), f.value.GetStringLength());
    } else if (f.value.IsNumber() || f.value.IsBool()) {
      rapidjson::StringBuffer buf;
      JsonWriter w(buf);
      f.value.Accept(w);
      value = text(buf);
    } else {
      return make_error("invalid_field",
                        "field " + quoted(name) + " must be a string, number or boolean");
    }
    if (!fields.emplace(name, std::move(value)).second) {
      return make_error("invalid_field", "field " + quoted(name) + " appears more than once");
    }
  }
  return fields;
}

Result<bool> parse_silent(const rapidjson::Value& v) {
  if (!v.IsBool()) return make_error("invalid_field", "\"silent\" must be true or false");
  return v.GetBool();
}

// ["ARPYMT", …] (any case) -> upper-case object names.
Result<std::set<std::string>> parse_objects(const std::string& key, const rapidjson::Value& v) {
  const auto bad = [&](const std::string& why) {
    return make_error("invalid_field", quoted(key) + " " + why);
  };
  if (!v.IsArray()) return bad("must be an array of CUSTOMER, ARINVOICE, ARPYMT");
  std::set<std::string> out;
  for (const auto& item : v.GetArray()) {
    if (!item.IsString()) return bad("must be an array of CUSTOMER, ARINVOICE, ARPYMT");
    const auto name = to_upper({item.GetString(), item.GetStringLength()});
    if (find_object(name) == nullptr) {
      return bad("names " + quoted({item.GetString(), item.GetStringLength()}) +
                 ", not one of CUSTOMER, ARINVOICE, ARPYMT");
    }
    out.insert(name);
  }
  return out;
}

}  // namespace

// ---- request bodies ------------------------------------------------------------

Result<PushSetting> parse_push(std::string_view body, PushSetting base) {
  auto doc = parse_object(body);
  if (!doc) return doc.error();
  for (auto& m : doc->GetObject()) {
    const auto key = key_of(m.name);
    if (key == "mode") {
      auto mode =
          m.value.IsString()
              ? parse_push_mode(std::string_view(m.value.GetString(), m.value.GetStringLength()))
              : std::nullopt;
      if (!mode) {
        return make_error("invalid_field",
                          "\"mode\" must be \"smart-events\", \"triggers\" or \"both\"");
      }
      base.mode = *mode;
    } else if (key == "trigger_token") {
      std::string_view v = m.value.IsString()
                               ? std::string_view(m.value.GetString(), m.value.GetStringLength())
                               : std::string_view();
      if (v != "envelope" && v != "bare") {
        return make_error("invalid_field", "\"trigger_token\" must be \"envelope\" or \"bare\"");
      }
      base.bare = v == "bare";
    } else {
      return make_error("invalid_field",
                        "unknown push setting " + quoted(key) + "; known: mode, trigger_token");
    }
  }
  return base;
}

Result<RecordWrite> parse_record_write(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc) return doc.error();
  RecordWrite out;
  bool seen = false;
  for (auto& m : doc->GetObject()) {
    const auto key = key_of(m.name);
    if (key == "silent") {
      auto silent = parse_silent(m.value);
      if (!silent) return silent.error();
      out.how.silent = *silent;
      continue;
    }
    if (key != "fields") {
      return make_error("invalid_field", "unknown key " + quoted(key) + "; send {\"fields\":{…}}");
    }
    if (!m.value.IsObject()) {
      return make_error("invalid_field", "\"fields\" must be an object of NAME: value");
    }
    auto fields = parse_field_map(m.value);
    if (!fields) return fields.error();
    out.fields = std::move(*fields);
    seen = true;
  }
  if (!seen) return make_error("invalid_field", "the body needs \"fields\": {NAME: value, …}");
  return out;
}

Result<WriteOptions> parse_delete(std::string_view body) {
  WriteOptions how;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return how;
  auto doc = parse_object(body);
  if (!doc) return doc.error();
  for (auto& m : doc->GetObject()) {
    const auto key = key_of(m.name);
    if (key != "silent") {
      return make_error("invalid_field",
                        "unknown key " + quoted(key) + "; send nothing or {\"silent\":true}");
    }
    auto silent = parse_silent(m.value);
    if (!silent) return silent.error();
    how.silent = *silent;
  }
  return how;
}

Result<Faults> parse_faults(std::string_view body, Faults base) {
  auto doc = parse_object(body);
  if (!doc) return doc.error();
  for (auto& m : doc->GetObject()) {
    const auto key = key_of(m.name);
    if (key == "rate_limit_http") {
      if (!m.value.IsBool())
        return make_error("invalid_field", "\"rate_limit_http\" must be true or false");
      base.rate_limit_http = m.value.GetBool();
      continue;
    }
    if (key == "deny_read_objects") {
      auto objects = parse_objects(key, m.value);
      if (!objects) return objects.error();
      base.deny_read_objects = std::move(*objects);
      continue;
    }
    double* ratio = key == "server_error_ratio"          ? &base.server_error_ratio
                    : key == "timeout_after_write_ratio" ? &base.timeout_after_write_ratio
                    : key == "land_later_ratio"          ? &base.land_later_ratio
                    : key == "drop_events_ratio"         ? &base.drop_events_ratio
                                                         : nullptr;
    if (ratio != nullptr) {
      if (!m.value.IsNumber() || m.value.GetDouble() < 0 || m.value.GetDouble() > 1) {
        return make_error("invalid_field", quoted(key) + " must be a number from 0 to 1");
      }
      *ratio = m.value.GetDouble();
      continue;
    }
    int* count = key == "rate_limit"            ? &base.rate_limit
                 : key == "server_error"        ? &base.server_error
                 : key == "timeout_after_write" ? &base.timeout_after_write
                 : key == "land_later"          ? &base.land_later
                 : key == "drop_events"         ? &base.drop_events
                 : key == "deny_reads"          ? &base.deny_reads
                                                : nullptr;
    std::chrono::milliseconds* duration = key == "latency_ms"      ? &base.latency
                                          : key == "land_delay_ms" ? &base.land_delay
                                                                   : nullptr;
    if (!count && !duration) {
      return make_error("invalid_field",
                        "unknown fault " + quoted(key) + "; known: " + kKnownFaults);
    }
    // Durations up to a day, counts up to a million: enough for any test.
    std::int64_t max = duration ? 86'400'000 : 1'000'000;
    if (!m.value.IsInt64() || m.value.GetInt64() < 0 || m.value.GetInt64() > max) {
      return make_error("invalid_field",
                        quoted(key) + " must be an integer from 0 to " + std::to_string(max));
    }
    if (count) *count = static_cast<int>(m.value.GetInt64());
    if (duration) *duration = std::chrono::milliseconds(m.value.GetInt64());
  }
  return base;
}

Result<Settings> parse_settings(std::string_view body, Settings base) {
  auto doc = parse_object(body);
  if (!doc) return doc.error();
  for (auto& m : doc->GetObject()) {
    const auto key = key_of(m.name);
    if (key == "write_clock_offset_s") {
      const auto max = kMaxWriteClockOffset.count();
      if (!m.value.IsInt64() || m.value.GetInt64() < -max || m.value.GetInt64() > max) {
        return make_error("invalid_field", "\"write_clock_offset_s\" must be an integer from " +
                                               std::to_string(-max) + " to " + std::to_string(max) +
                                               " (seconds)");
      }
      base.write_clock_offset = std::chrono::seconds(m.value.GetInt64());
      continue;
    }
    bool* flag = key == "payment_batch_required"   ? &base.payment_batch_required
                 : key == "unique_payment_numbers" ? &base.unique_payment_numbers
                                                   : nullptr;
    if (flag == nullptr) {
      return make_error("invalid_field", "unknown setting " + quoted(key) +
                                             "; known: payment_batch_required, "
                                             "unique_payment_numbers, write_clock_offset_s");
    }
    if (!m.value.IsBool())
      return make_error("invalid_field", quoted(key) + " must be true or false");
    *flag = m.value.GetBool();
  }
  return base;
}

}  // namespace isync::sandbox::detail
