// The control API. Every error is {"error":{"code","message"}}.
//
// clang-format off
//   GET    /healthz                           200 {"status":"ok"} (no token needed)
//   GET    /v1/records/{OBJECT}?after=&limit= 200 {"records":[record...]}
//          after: RECORDNOs above it (default 0); limit 1-1000 (default 100)
//   POST   /v1/records/{OBJECT}               201 record   body {"fields":{NAME:value...}}
//   GET    /v1/records/{OBJECT}/{RECORDNO}    200 record
//   PATCH  /v1/records/{OBJECT}/{RECORDNO}    200 record   body {"fields":{...}}
//   DELETE /v1/records/{OBJECT}/{RECORDNO}    204
//   GET    /v1/faults                         200 faults (every key below)
//   PUT    /v1/faults                         200 faults   body: any subset of latency_ms,
//          rate_limit, rate_limit_http, server_error, timeout_after_write, land_later,
//          land_delay_ms, drop_events, deny_reads; the others keep their values;
//          server_error_ratio, timeout_after_write_ratio, land_later_ratio (0 to 1)
//   DELETE /v1/faults                         200 faults (all cleared)
//   GET    /v1/settings                       200 {"payment_batch_required":bool,
//                                                  "unique_payment_numbers":bool}
//   PUT    /v1/settings                       200 settings  body: any subset of those keys
//   POST   /v1/sessions/expire                200 {"expired":true}
//   GET    /v1/stats                          200 engine stats, record counts, events
// clang-format on
//
// A record is {"object","recordno","fields":{...}}; OBJECT is CUSTOMER,
// ARINVOICE or ARPYMT in any case. Statuses: 401 unauthorized; 404
// not_found, unknown_object; 405 method_not_allowed (+Allow); 400
// malformed_body, invalid_field, invalid_parameter and the engine's
// invalid_value, unknown_field; 409 duplicate.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <boost/beast/http/verb.hpp>
#include <cctype>
#include <charconv>
#include <map>

#include "core/json.hpp"
#include "sandbox/detail/control_routes.hpp"

namespace isync::sandbox::detail {

namespace http = boost::beast::http;
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

namespace {

constexpr std::size_t kMaxListLimit = 1000;
constexpr std::size_t kDefaultListLimit = 100;

std::string quoted(std::string_view s) { return "\"" + shorten(s, 64) + "\""; }

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::optional<std::int64_t> parse_int(std::string_view text) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

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

Answer json_answer(unsigned status, const rapidjson::StringBuffer& buf) {
  Answer a;
  a.status = status;
  a.body.assign(buf.GetString(), buf.GetSize());
  return a;
}

Answer record_answer(unsigned status, const Record& r) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  write_record(w, r);
  return json_answer(status, buf);
}

Answer faults_answer(const Faults& f) {
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
  w.EndObject();
  return json_answer(200, buf);
}

Answer settings_answer(const Settings& s) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("payment_batch_required");
  w.Bool(s.payment_batch_required);
  w.Key("unique_payment_numbers");
  w.Bool(s.unique_payment_numbers);
  w.EndObject();
  return json_answer(200, buf);
}

// An engine error as an answer: the status follows the code.
Answer engine_error(const Error& e) {
  unsigned status = 400;
  if (e.code == "not_found" || e.code == "unknown_object") status = 404;
  if (e.code == "duplicate") status = 409;
  return error_answer(status, e.code, e.message);
}

// Parses a whole body as one JSON object (nothing after it but whitespace).
Result<rapidjson::Document> parse_object(std::string_view body) {
  auto doc = json::parse(body, {.subject = "the body"});
  if (doc && !doc->IsObject()) {
    return make_error("malformed_body", "the body must be a JSON object");
  }
  return doc;
}

// {"fields":{NAME: string | number | bool}} -> the field map.
Result<std::map<std::string, std::string>> parse_fields(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc) return doc.error();
  std::map<std::string, std::string> fields;
  bool seen = false;
  for (auto& m : doc->GetObject()) {
    std::string key(m.name.GetString(), m.name.GetStringLength());
    if (key != "fields") {
      return make_error("invalid_field", "unknown key " + quoted(key) + "; send {\"fields\":{…}}");
    }
    if (!m.value.IsObject()) {
      return make_error("invalid_field", "\"fields\" must be an object of NAME: value");
    }
    seen = true;
    for (auto& f : m.value.GetObject()) {
      std::string name(f.name.GetString(), f.name.GetStringLength());
      std::string value;
      if (f.value.IsString()) {
        value.assign(f.value.GetString(), f.value.GetStringLength());
      } else if (f.value.IsNumber() || f.value.IsBool()) {
        rapidjson::StringBuffer buf;
        JsonWriter w(buf);
        f.value.Accept(w);
        value.assign(buf.GetString(), buf.GetSize());
      } else {
        return make_error("invalid_field",
                          "field " + quoted(name) + " must be a string, number or boolean");
      }
      if (!fields.emplace(std::move(name), std::move(value)).second) {
        return make_error("invalid_field",
                          "field " + quoted(f.name.GetString()) + " appears more than once");
      }
    }
  }
  if (!seen) return make_error("invalid_field", "the body needs \"fields\": {NAME: value, …}");
  return fields;
}

// A subset of the fault keys applied over `base`.
Result<Faults> parse_faults(std::string_view body, Faults base) {
  auto doc = parse_object(body);
  if (!doc) return doc.error();
  for (auto& m : doc->GetObject()) {
    std::string key(m.name.GetString(), m.name.GetStringLength());
    if (key == "rate_limit_http") {
      if (!m.value.IsBool())
        return make_error("invalid_field", "\"rate_limit_http\" must be true or false");
      base.rate_limit_http = m.value.GetBool();
      continue;
    }
    double* ratio = key == "server_error_ratio"          ? &base.server_error_ratio
                    : key == "timeout_after_write_ratio" ? &base.timeout_after_write_ratio
                    : key == "land_later_ratio"          ? &base.land_later_ratio
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
                        "unknown fault " + quoted(key) +
                            "; known: latency_ms, rate_limit, rate_limit_http, server_error, "
                            "timeout_after_write, land_later, land_delay_ms, drop_events, "
                            "deny_reads, server_error_ratio, timeout_after_write_ratio, "
                            "land_later_ratio");
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

// A subset of the settings applied over `base`.
Result<Settings> parse_settings(std::string_view body, Settings base) {
  auto doc = parse_object(body);
  if (!doc) return doc.error();
  for (auto& m : doc->GetObject()) {
    std::string key(m.name.GetString(), m.name.GetStringLength());
    bool* flag = key == "payment_batch_required"   ? &base.payment_batch_required
                 : key == "unique_payment_numbers" ? &base.unique_payment_numbers
                                                   : nullptr;
    if (flag == nullptr) {
      return make_error("invalid_field", "unknown setting " + quoted(key) +
                                             "; known: payment_batch_required, "
                                             "unique_payment_numbers");
    }
    if (!m.value.IsBool())
      return make_error("invalid_field", quoted(key) + " must be true or false");
    *flag = m.value.GetBool();
  }
  return base;
}

Answer stats_answer(const ControlContext& ctx) {
  auto s = ctx.company.stats();
  auto p = ctx.poster_stats ? ctx.poster_stats() : PosterStats{};
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("requests");
  w.Int64(s.requests);
  w.Key("faults_injected");
  w.Int64(s.faults_injected);
  w.Key("faults_by_name");
  w.StartObject();
  for (const auto& [k, v] : s.faults_by_name) {
    write_string(w, k);
    w.Int64(v);
  }
  w.EndObject();
  w.Key("records_read");
  w.Int64(s.records_read);
  w.Key("calls_by_function");
  w.StartObject();
  for (const auto& [k, v] : s.calls_by_function) {
    write_string(w, k);
    w.Int64(v);
  }
  w.EndObject();
  w.Key("records");
  w.StartObject();
  for (const char* object : {"CUSTOMER", "ARINVOICE", "ARPYMT"}) {
    w.Key(object);
    w.Uint64(ctx.company.count(object));
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
  w.EndObject();
  return json_answer(200, buf);
}

Answer method_not_allowed(http::verb method, std::string allow) {
  auto a = error_answer(
      405, "method_not_allowed",
      "method " + std::string(http::to_string(method)) + " is not allowed here; use " + allow);
  a.allow = std::move(allow);
  return a;
}

Answer records_route(const ControlContext& ctx, const HttpRequest& req, std::string_view rest,
                     std::string_view query) {
  auto slash = rest.find('/');
  std::string object = upper(rest.substr(0, slash));
  if (object != "CUSTOMER" && object != "ARINVOICE" && object != "ARPYMT") {
    return error_answer(
        404, "unknown_object",
        "object " + quoted(rest.substr(0, slash)) + " is not one of CUSTOMER, ARINVOICE, ARPYMT");
  }
  if (slash == std::string_view::npos) {
    if (req.method() == http::verb::get) {
      std::int64_t after = 0;
      std::size_t limit = kDefaultListLimit;
      if (auto a = query_param(query, "after"); a && !a->empty()) {
        auto v = parse_int(*a);
        if (!v || *v < 0) {
          return error_answer(400, "invalid_parameter",
                              "after " + quoted(*a) + " is not a RECORDNO (an integer >= 0)");
        }
        after = *v;
      }
      if (auto l = query_param(query, "limit"); l && !l->empty()) {
        auto v = parse_int(*l);
        if (!v || *v < 1 || *v > static_cast<std::int64_t>(kMaxListLimit)) {
          return error_answer(400, "invalid_parameter",
                              "limit " + quoted(*l) + " is not an integer from 1 to 1000");
        }
        limit = static_cast<std::size_t>(*v);
      }
      rapidjson::StringBuffer buf;
      JsonWriter w(buf);
      w.StartObject();
      w.Key("records");
      w.StartArray();
      for (const auto& r : ctx.company.list(object, after, limit)) write_record(w, r);
      w.EndArray();
      w.EndObject();
      return json_answer(200, buf);
    }
    if (req.method() == http::verb::post) {
      auto fields = parse_fields(req.body());
      if (!fields) return error_answer(400, fields.error().code, fields.error().message);
      auto r = ctx.company.add(object, *fields);
      if (!r) return engine_error(r.error());
      return record_answer(201, *r);
    }
    return method_not_allowed(req.method(), "GET, POST");
  }
  auto key_text = rest.substr(slash + 1);
  auto key = parse_int(key_text);
  if (!key || *key <= 0) {
    return error_answer(404, "not_found",
                        "RECORDNO " + quoted(key_text) + " is not a positive integer");
  }
  switch (req.method()) {
    case http::verb::get: {
      auto r = ctx.company.get(object, *key);
      if (!r) {
        return error_answer(404, "not_found",
                            "no " + object + " with RECORDNO " + std::to_string(*key));
      }
      return record_answer(200, *r);
    }
    case http::verb::patch: {
      auto fields = parse_fields(req.body());
      if (!fields) return error_answer(400, fields.error().code, fields.error().message);
      auto r = ctx.company.set(object, *key, *fields);
      if (!r) return engine_error(r.error());
      return record_answer(200, *r);
    }
    case http::verb::delete_: {
      auto r = ctx.company.remove(object, *key);
      if (!r) return engine_error(r.error());
      Answer a;
      a.status = 204;
      return a;
    }
    default:
      return method_not_allowed(req.method(), "GET, PATCH, DELETE");
  }
}

}  // namespace

Target split_target(std::string_view target) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    auto raw = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    std::string out;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '+') {
        out += ' ';
      } else if (raw[i] == '%' && i + 2 < raw.size() &&
                 std::isxdigit(static_cast<unsigned char>(raw[i + 1])) &&
                 std::isxdigit(static_cast<unsigned char>(raw[i + 2]))) {
        // Two hex digits (from_chars alone would take a sign: "%-1").
        // Anything else is kept as written, so the value is refused by
        // its own check instead of being taken as absent.
        int v = 0;
        std::from_chars(raw.data() + i + 1, raw.data() + i + 3, v, 16);
        out += static_cast<char>(v);
        i += 2;
      } else {
        out += raw[i];
      }
    }
    return out;
  }
  return std::nullopt;
}

Answer error_answer(unsigned status, std::string_view code, std::string_view message) {
  Answer a;
  a.status = status;
  a.body = "{\"error\":{\"code\":";
  append_json_string(a.body, code);
  a.body += ",\"message\":";
  append_json_string(a.body, message);
  a.body += "}}";
  return a;
}

Answer handle_control(const ControlContext& ctx, const HttpRequest& req) {
  auto target = split_target(req.target());
  auto path = target.path;
  if (path == "/healthz") {
    if (req.method() != http::verb::get) return method_not_allowed(req.method(), "GET");
    Answer a;
    a.body = R"({"status":"ok"})";
    return a;
  }
  if (!ctx.token.empty()) {
    std::string_view auth = req[http::field::authorization];
    constexpr std::string_view kBearer = "Bearer ";
    bool ok = auth.size() > kBearer.size() && auth.substr(0, kBearer.size()) == kBearer &&
              constant_time_equal(auth.substr(kBearer.size()), ctx.token.reveal());
    if (!ok) {
      return error_answer(401, "unauthorized",
                          "the control token is missing or wrong; send Authorization: Bearer "
                          "<control token>");
    }
  }
  constexpr std::string_view kRecords = "/v1/records/";
  if (path.substr(0, kRecords.size()) == kRecords && path.size() > kRecords.size()) {
    return records_route(ctx, req, path.substr(kRecords.size()), target.query);
  }
  if (path == "/v1/faults") {
    switch (req.method()) {
      case http::verb::get:
        return faults_answer(ctx.company.faults());
      case http::verb::put: {
        auto f = parse_faults(req.body(), ctx.company.faults());
        if (!f) return error_answer(400, f.error().code, f.error().message);
        ctx.company.set_faults(*f);
        return faults_answer(*f);
      }
      case http::verb::delete_:
        ctx.company.set_faults(Faults{});
        return faults_answer(Faults{});
      default:
        return method_not_allowed(req.method(), "GET, PUT, DELETE");
    }
  }
  if (path == "/v1/settings") {
    switch (req.method()) {
      case http::verb::get:
        return settings_answer(ctx.company.settings());
      case http::verb::put: {
        auto st = parse_settings(req.body(), ctx.company.settings());
        if (!st) return error_answer(400, st.error().code, st.error().message);
        ctx.company.set_settings(*st);
        return settings_answer(*st);
      }
      default:
        return method_not_allowed(req.method(), "GET, PUT");
    }
  }
  if (path == "/v1/sessions/expire") {
    if (req.method() != http::verb::post) return method_not_allowed(req.method(), "POST");
    ctx.company.expire_sessions();
    Answer a;
    a.body = R"({"expired":true})";
    return a;
  }
  if (path == "/v1/stats") {
    if (req.method() != http::verb::get) return method_not_allowed(req.method(), "GET");
    return stats_answer(ctx);
  }
  return error_answer(404, "not_found", "no route for " + quoted(path));
}

}  // namespace isync::sandbox::detail
