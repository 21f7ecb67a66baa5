// The control API's routes. Every error is {"error":{"code","message"}}.
// The JSON bodies are written in control_json.cpp and parsed in
// control_json_parse.cpp.
//
// clang-format off
//   GET    /healthz                           200 {"status":"ok"} (no token needed)
//   GET    /v1/records/{OBJECT}?after=&limit= 200 {"records":[record...]}
//          after: RECORDNOs above it (default 0); limit 1-1000 (default 100)
//   POST   /v1/records/{OBJECT}               201 record   body {"fields":{NAME:value...}}
//   GET    /v1/records/{OBJECT}/{RECORDNO}    200 record
//   PATCH  /v1/records/{OBJECT}/{RECORDNO}    200 record   body {"fields":{...}}
//   DELETE /v1/records/{OBJECT}/{RECORDNO}    204          body: none or {"silent":bool}
//          POST and PATCH bodies may add "silent":true too: the write (and
//          every change it causes) posts no smart event
//   GET    /v1/faults                         200 faults (every key below)
//   PUT    /v1/faults                         200 faults   body: any subset of latency_ms,
//          rate_limit, rate_limit_http, server_error, timeout_after_write, land_later,
//          land_delay_ms, drop_events, deny_reads; the others keep their values;
//          server_error_ratio, timeout_after_write_ratio, land_later_ratio,
//          drop_events_ratio (0 to 1); deny_read_objects (array of OBJECT)
//   DELETE /v1/faults                         200 faults (all cleared)
//   GET    /v1/events/dropped                 200 {"count","truncated","events":[{"object",
//                                                  "recordno","action","whenmodified","at_ms"}]}
//   DELETE /v1/events/dropped                 200 the same, emptied
//   GET    /v1/settings                       200 {"payment_batch_required":bool,
//                                                  "unique_payment_numbers":bool,
//                                                  "write_clock_offset_s":int}
//   PUT    /v1/settings                       200 settings  body: any subset of those keys
//   GET    /v1/push                           200 {"mode":"smart-events"|"triggers"|"both",
//                                                  "trigger_token":"envelope"|"bare"}
//   PUT    /v1/push                           200 the same  body: any subset of those keys
//   POST   /v1/sessions/expire                200 {"expired":true}
//   GET    /v1/stats                          200 engine stats, record counts, events
// clang-format on
//
// A record is {"object","recordno","fields":{...}}; OBJECT is CUSTOMER,
// ARINVOICE or ARPYMT in any case. Statuses: 401 unauthorized; 404
// not_found, unknown_object; 405 method_not_allowed (+Allow); 400
// malformed_body, invalid_field, invalid_parameter and the engine's
// invalid_value, unknown_field; 409 duplicate.
#include <boost/beast/http/verb.hpp>
#include <cctype>
#include <charconv>
#include <map>

#include "sandbox/detail/control_json.hpp"
#include "sandbox/detail/control_routes.hpp"

namespace isync::sandbox::detail {

namespace http = boost::beast::http;

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

Answer json_answer(unsigned status, std::string body) {
  Answer a;
  a.status = status;
  a.body = std::move(body);
  return a;
}

// An engine error as an answer: the status follows the code.
Answer engine_error(const Error& e) {
  unsigned status = 400;
  if (e.code == "not_found" || e.code == "unknown_object") status = 404;
  if (e.code == "duplicate") status = 409;
  return error_answer(status, e.code, e.message);
}

Answer bad_body(const Error& e) { return error_answer(400, e.code, e.message); }

Answer stats_answer(const ControlContext& ctx) {
  std::map<std::string, std::size_t> records;
  for (const char* object : {"CUSTOMER", "ARINVOICE", "ARPYMT"}) {
    records[object] = ctx.company.count(object);
  }
  return json_answer(200, stats_body(ctx.company.stats(), records,
                                     ctx.poster_stats ? ctx.poster_stats() : PosterStats{},
                                     ctx.trigger_stats ? ctx.trigger_stats() : PosterStats{}));
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
      return json_answer(200, records_body(ctx.company.list(object, after, limit)));
    }
    if (req.method() == http::verb::post) {
      auto write = parse_record_write(req.body());
      if (!write) return bad_body(write.error());
      auto r = ctx.company.add(object, write->fields, write->how);
      if (!r) return engine_error(r.error());
      return json_answer(201, record_body(*r));
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
      return json_answer(200, record_body(*r));
    }
    case http::verb::patch: {
      auto write = parse_record_write(req.body());
      if (!write) return bad_body(write.error());
      auto r = ctx.company.set(object, *key, write->fields, write->how);
      if (!r) return engine_error(r.error());
      return json_answer(200, record_body(*r));
    }
    case http::verb::delete_: {
      auto how = parse_delete(req.body());
      if (!how) return bad_body(how.error());
      auto r = ctx.company.remove(object, *key, *how);
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
        return json_answer(200, faults_body(ctx.company.faults()));
      case http::verb::put: {
        auto f = parse_faults(req.body(), ctx.company.faults());
        if (!f) return bad_body(f.error());
        ctx.company.set_faults(*f);
        return json_answer(200, faults_body(*f));
      }
      case http::verb::delete_:
        ctx.company.set_faults(Faults{});
        return json_answer(200, faults_body(Faults{}));
      default:
        return method_not_allowed(req.method(), "GET, PUT, DELETE");
    }
  }
  if (path == "/v1/settings") {
    switch (req.method()) {
      case http::verb::get:
        return json_answer(200, settings_body(ctx.company.settings()));
      case http::verb::put: {
        auto st = parse_settings(req.body(), ctx.company.settings());
        if (!st) return bad_body(st.error());
        ctx.company.set_settings(*st);
        return json_answer(200, settings_body(ctx.company.settings()));
      }
      default:
        return method_not_allowed(req.method(), "GET, PUT");
    }
  }
  if (path == "/v1/push" && ctx.push) {
    switch (req.method()) {
      case http::verb::get:
        return json_answer(200, push_body(ctx.push->mode.load(), ctx.push->bare.load()));
      case http::verb::put: {
        auto p = parse_push(req.body(), PushSetting{ctx.push->mode.load(), ctx.push->bare.load()});
        if (!p) return bad_body(p.error());
        ctx.push->mode.store(p->mode);
        ctx.push->bare.store(p->bare);
        return json_answer(200, push_body(p->mode, p->bare));
      }
      default:
        return method_not_allowed(req.method(), "GET, PUT");
    }
  }
  if (path == "/v1/events/dropped") {
    switch (req.method()) {
      case http::verb::get:
        return json_answer(200, dropped_body(ctx.company.dropped_events()));
      case http::verb::delete_:
        ctx.company.clear_dropped_events();
        return json_answer(200, dropped_body(ctx.company.dropped_events()));
      default:
        return method_not_allowed(req.method(), "GET, DELETE");
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
