// The control API's JSON: answer bodies written from the engine's values, and
// request bodies parsed into them. Internal to the sandbox module; the routes
// that use them are in control.cpp, which lists every key.
//
// Errors: a parse returns Error{code, message} with code "malformed_body"
// (not one JSON object) or "invalid_field" (a key or value the route does not
// take), the message naming the key; the route answers 400 with it.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "sandbox/sandbox.hpp"
#include "sandbox/server.hpp"

namespace isync::sandbox::detail {

// ---- answers -------------------------------------------------------------------

// {"object","recordno","fields":{NAME:value…}}
std::string record_body(const Record& record);
// {"records":[record…]}
std::string records_body(const std::vector<Record>& records);
// Every fault key with its value (deny_read_objects as an array).
std::string faults_body(const Faults& faults);
// {"payment_batch_required","unique_payment_numbers","write_clock_offset_s"}
std::string settings_body(const Settings& settings);
// {"count":N,"truncated":bool,"events":[{"object","recordno","action",
// "whenmodified","at_ms"}…]}; truncated when count exceeds the listed events.
std::string dropped_body(const DroppedEvents& dropped);
// The engine's stats, record counts per object and the posters' counts
// ("events": smart events, "triggers": trigger webhooks with "retried").
std::string stats_body(const Stats& stats, const std::map<std::string, std::size_t>& records,
                       const PosterStats& events, const PosterStats& triggers);
// {"mode":"smart-events"|"triggers"|"both","trigger_token":"envelope"|"bare"}
std::string push_body(PushMode mode, bool bare);

// ---- request bodies ------------------------------------------------------------

struct RecordWrite {
  std::map<std::string, std::string> fields;
  WriteOptions how;
};
// {"fields":{NAME: string | number | bool}[, "silent": bool]}
Result<RecordWrite> parse_record_write(std::string_view body);
// An empty body, or {"silent": bool}.
Result<WriteOptions> parse_delete(std::string_view body);
// A subset of the fault keys applied over `base`.
Result<Faults> parse_faults(std::string_view body, Faults base);
// A subset of the settings applied over `base`.
Result<Settings> parse_settings(std::string_view body, Settings base);
struct PushSetting {
  PushMode mode = PushMode::smart_events;
  bool bare = false;
};
// A subset of {"mode","trigger_token"} applied over `base`.
Result<PushSetting> parse_push(std::string_view body, PushSetting base);

}  // namespace isync::sandbox::detail
