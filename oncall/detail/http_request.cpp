// The pure checks of oncall/http.hpp: query strings, action bodies, times.
#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>

#include "core/json.hpp"
#include "oncall/http.hpp"

namespace isync::oncall {

namespace {

constexpr std::size_t kMaxCursorLength = 1024;
constexpr std::size_t kMaxErrorLength = 64;
constexpr std::int64_t kMaxEpochMs = 253402300799999;  // 9999-12-31T23:59:59.999Z

Error invalid(std::string message) { return make_error("invalid_field", std::move(message)); }

std::string quoted(std::string_view s) { return "\"" + shorten(s, 64) + "\""; }

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr std::array<unsigned, 12> kDays{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// `n` digits at `s[at]` as a number; false when they are not all digits.
bool digits(std::string_view s, std::size_t at, std::size_t n, int& out) {
  if (at + n > s.size()) return false;
  out = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (!is_digit(s[i])) return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

// RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM).
std::optional<std::int64_t> rfc3339_ms(std::string_view s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2, h) ||
      s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, sec)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 ||
      d > static_cast<int>(days_in_month(y, static_cast<unsigned>(mo))) || h > 23 || mi > 59 ||
      sec > 59) {
    return std::nullopt;
  }
  std::size_t at = 19;
  int ms = 0;
  if (at < s.size() && s[at] == '.') {
    ++at;
    std::size_t start = at;
    int scale = 100;
    while (at < s.size() && is_digit(s[at]) && at - start < 9) {
      ms += (s[at] - '0') * scale;
      scale /= 10;
      ++at;
    }
    if (at == start || (at < s.size() && is_digit(s[at]))) return std::nullopt;
  }
  if (at >= s.size()) return std::nullopt;
  int offset_min = 0;
  if (s[at] == 'Z' || s[at] == 'z') {
    ++at;
  } else if (s[at] == '+' || s[at] == '-') {
    int oh = 0, om = 0;
    if (!digits(s, at + 1, 2, oh) || at + 3 >= s.size() || s[at + 3] != ':' ||
        !digits(s, at + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_min = (s[at] == '-' ? -1 : 1) * (oh * 60 + om);
    at += 6;
  } else {
    return std::nullopt;
  }
  if (at != s.size()) return std::nullopt;
  const std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  const std::int64_t seconds =
      days * 86400 + h * 3600 + mi * 60 + sec - static_cast<std::int64_t>(offset_min) * 60;
  return seconds * 1000 + ms;
}

bool valid_state(std::string_view s) {
  return std::find(std::begin(queue::kEventStates), std::end(queue::kEventStates), s) !=
         std::end(queue::kEventStates);
}

bool valid_object(std::string_view s) {
  return s == "CUSTOMER" || s == "ARINVOICE" || s == "ARPYMT";
}

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u != 0x7f;
  });
}

bool configured(const std::vector<std::string>& tenants, std::string_view t) {
  return std::find(tenants.begin(), tenants.end(), t) != tenants.end();
}

Error unknown_tenant(std::string_view field, std::string_view t) {
  return invalid("\"" + std::string(field) + "\": no tenant " + quoted(t) + " is configured");
}

// `prefix` is "" for the query, "filter." for a body's filter.
Result<void> set_field(ListQuery& q, std::string_view prefix, std::string_view name,
                       std::string_view value, const std::vector<std::string>& tenants) {
  const std::string field = std::string(prefix) + std::string(name);
  const std::string named = "\"" + field + "\"";
  if (name == "tenant") {
    if (!value.empty() && !configured(tenants, value)) return unknown_tenant(field, value);
    q.tenant = std::string(value);
  } else if (name == "state") {
    if (!value.empty() && !valid_state(value)) {
      return invalid(named + " must be one of pending, retrying, parked, dead, done, discarded");
    }
    q.filter.state = std::string(value);
  } else if (name == "object") {
    if (!value.empty() && !valid_object(value)) {
      return invalid(named + " must be CUSTOMER, ARINVOICE or ARPYMT");
    }
    q.filter.object = std::string(value);
  } else if (name == "key") {
    if (value.size() > kMaxKeyLength || !printable(value)) {
      return invalid(named + " must be a record key of at most " + std::to_string(kMaxKeyLength) +
                     " bytes, without control characters");
    }
    q.filter.key = std::string(value);
  } else if (name == "error") {
    bool ok =
        value.size() <= kMaxErrorLength && std::all_of(value.begin(), value.end(), [](char c) {
          return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 c == '-' || c == '.';
        });
    if (!ok) {
      return invalid(named +
                     " must be an error code or an Intacct errorno (at most 64 of A-Z a-z 0-9 _ "
                     ". -)");
    }
    q.filter.error = std::string(value);
  } else if (name == "since" || name == "until") {
    std::int64_t ms = 0;
    if (!value.empty()) {
      auto t = parse_time(value, field);
      if (!t) return t.error();
      ms = *t;
    }
    (name == "since" ? q.filter.since_ms : q.filter.until_ms) = ms;
  } else if (name == "limit") {
    if (value.empty()) {
      q.limit = kDefaultListLimit;
      return {};
    }
    int n = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc{} || ptr != value.data() + value.size() || !is_digit(value.front()) ||
        n < 1 || n > queue::kMaxListLimit) {
      return invalid(named + " must be a whole number from 1 to " +
                     std::to_string(queue::kMaxListLimit));
    }
    q.limit = n;
  } else if (name == "cursor") {
    if (value.size() > kMaxCursorLength || !printable(value)) {
      return invalid(named + " is not a cursor of this list; start again without it");
    }
    q.cursor = std::string(value);
  } else {
    return invalid("unknown query parameter " + quoted(name) +
                   "; the list takes tenant, state, object, key, error, since, until, limit and "
                   "cursor");
  }
  return {};
}

Result<void> check_query(const ListQuery& q, std::string_view prefix) {
  const std::string p(prefix);
  if (!q.filter.key.empty() && q.filter.object.empty()) {
    return invalid("\"" + p + "key\" needs \"" + p +
                   "object\" (a record key is unique within its object only)");
  }
  if (q.filter.since_ms != 0 && q.filter.until_ms != 0 && q.filter.since_ms > q.filter.until_ms) {
    return invalid("\"" + p + "since\" is after \"" + p + "until\"");
  }
  return {};
}

// Percent-decoding of one query component ('+' is a space); false when an
// escape is broken.
bool decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= in.size()) return false;
      auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'a' && h <= 'f') return h - 'a' + 10;
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;
      };
      int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  return true;
}

// Each name=value of `query`, decoded; refuses broken escapes and a name
// given twice.
Result<std::vector<std::pair<std::string, std::string>>> split_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    std::string name, value;
    if (!decode(part.substr(0, eq), name) ||
        !decode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1), value)) {
      return invalid("query parameter " + quoted(part.substr(0, eq)) +
                     " is not correctly percent-encoded");
    }
    for (const auto& [n, v] : out) {
      if (n == name) return invalid("query parameter " + quoted(name) + " is given twice");
    }
    if (out.size() >= 16) return invalid("the query has more than 16 parameters");
    out.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

std::string_view text(const rapidjson::Value& v) { return {v.GetString(), v.GetStringLength()}; }

Result<bool> flag(const rapidjson::Value& v, std::string_view name) {
  if (!v.IsBool()) return invalid("\"" + std::string(name) + "\" must be true or false");
  return v.GetBool();
}

Result<void> read_filter(const rapidjson::Value& v, ActionRequest& out,
                         const std::vector<std::string>& tenants) {
  if (!v.IsObject()) return invalid("\"filter\" must be an object");
  ListQuery q;
  for (const auto& m : v.GetObject()) {
    const std::string_view name = text(m.name);
    static constexpr std::array<std::string_view, 7> kKeys{"tenant", "state", "object", "key",
                                                           "error",  "since", "until"};
    if (std::find(kKeys.begin(), kKeys.end(), name) == kKeys.end()) {
      return invalid("unknown member " + quoted("filter." + std::string(name)) +
                     "; a filter takes tenant, state, object, key, error, since and until");
    }
    const std::string field = "filter." + std::string(name);
    if ((name == "since" || name == "until") && m.value.IsNumber()) {
      if (!m.value.IsInt64() || m.value.GetInt64() < 0 || m.value.GetInt64() > kMaxEpochMs) {
        return invalid("\"" + field +
                       "\" must be an RFC 3339 time (2026-12-01T10:00:00Z) or epoch milliseconds");
      }
      (name == "since" ? q.filter.since_ms : q.filter.until_ms) = m.value.GetInt64();
      continue;
    }
    if (!m.value.IsString()) return invalid("\"" + field + "\" must be a string");
    if (auto r = set_field(q, "filter.", name, text(m.value), tenants); !r) return r.error();
  }
  if (auto r = check_query(q, "filter."); !r) return r.error();
  out.tenant = std::move(q.tenant);
  out.filter = std::move(q.filter);
  return {};
}

Result<void> read_ids(const rapidjson::Value& v, ActionRequest& out) {
  if (!v.IsArray()) return invalid("\"ids\" must be an array of event ids");
  if (v.Size() > kMaxIds) {
    return invalid("\"ids\" holds more than " + std::to_string(kMaxIds) +
                   " ids; use a \"filter\" to act on more");
  }
  if (v.Empty()) return invalid("\"ids\" is empty; give 1 to 1000 event ids, or a \"filter\"");
  for (const auto& e : v.GetArray()) {
    if (!e.IsString()) return invalid("\"ids\" holds a value that is not a string");
    const std::string_view id = text(e);
    if (!plausible_id(id)) {
      return invalid("\"ids\" holds " + quoted(id) + ", which is not an event id");
    }
    if (std::find(out.ids.begin(), out.ids.end(), id) == out.ids.end()) out.ids.emplace_back(id);
  }
  return {};
}

Result<void> read_set(const rapidjson::Value& v, ActionRequest& out) {
  if (!v.IsObject()) {
    return invalid(
        "\"set\" must be an object naming INVOICE and/or CUSTOMER, e.g. "
        "{\"INVOICE\":\"INV-1002\"}");
  }
  for (const auto& m : v.GetObject()) {
    const std::string_view name = text(m.name);
    if (name != "INVOICE" && name != "CUSTOMER") {
      return invalid("\"set\" holds " + quoted(name) + "; only INVOICE and CUSTOMER can be set");
    }
    if (!m.value.IsString() || m.value.GetStringLength() == 0 ||
        m.value.GetStringLength() > kMaxSetLength || !printable(text(m.value))) {
      return invalid("\"set." + std::string(name) + "\" must be a string of 1 to " +
                     std::to_string(kMaxSetLength) + " bytes");
    }
    out.set.emplace_back(std::string(name), std::string(text(m.value)));
  }
  return {};
}

void write_string(std::string& out, std::string_view s) { append_json_string(out, s); }

}  // namespace

Result<std::int64_t> parse_time(std::string_view value, std::string_view name) {
  auto bad = [&] {
    return invalid("\"" + std::string(name) +
                   "\" must be an RFC 3339 time (2026-12-01T10:00:00Z) or epoch milliseconds");
  };
  if (!value.empty() && std::all_of(value.begin(), value.end(), is_digit)) {
    if (value.size() > 15) return bad();
    std::int64_t ms = 0;
    std::from_chars(value.data(), value.data() + value.size(), ms);
    if (ms > kMaxEpochMs) return bad();
    return ms;
  }
  auto ms = rfc3339_ms(value);
  if (!ms || *ms < 0 || *ms > kMaxEpochMs) return bad();
  return *ms;
}

std::string format_time(std::int64_t ms) {
  const std::int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  const auto frac = static_cast<int>(ms - secs * 1000);
  std::int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  const auto rem = static_cast<int>(secs - days * 86400);
  // civil_from_days (H. Hinnant).
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2 ? 1 : 0;
  char buf[96];
  if (frac != 0) {
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ",
                  static_cast<long long>(y), m, d, rem / 3600, rem / 60 % 60, rem % 60, frac);
  } else {
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02dZ", static_cast<long long>(y), m,
                  d, rem / 3600, rem / 60 % 60, rem % 60);
  }
  return buf;
}

bool plausible_id(std::string_view id) {
  return !id.empty() && id.size() <= kMaxIdLength && std::all_of(id.begin(), id.end(), [](char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           c == '-' || c == '.' || c == ':';
  });
}

Result<void> set_list_field(ListQuery& q, std::string_view name, std::string_view value,
                            const std::vector<std::string>& tenants) {
  return set_field(q, "", name, value, tenants);
}

Result<void> check_list_query(const ListQuery& q) { return check_query(q, ""); }

Result<ListQuery> parse_list_query(std::string_view query,
                                   const std::vector<std::string>& tenants) {
  auto params = split_query(query);
  if (!params) return params.error();
  ListQuery q;
  for (const auto& [name, value] : *params) {
    if (auto r = set_field(q, "", name, value, tenants); !r) return r.error();
  }
  if (auto r = check_list_query(q); !r) return r.error();
  return q;
}

Result<std::string> parse_tenant_query(std::string_view query,
                                       const std::vector<std::string>& tenants) {
  auto params = split_query(query);
  if (!params) return params.error();
  std::string tenant;
  for (const auto& [name, value] : *params) {
    if (name != "tenant") {
      return invalid("unknown query parameter " + quoted(name) + "; this route takes tenant only");
    }
    if (!value.empty() && !configured(tenants, value)) return unknown_tenant("tenant", value);
    tenant = value;
  }
  return Result<std::string>(boost::system::in_place_value, std::move(tenant));
}

Result<ActionRequest> parse_action_body(std::string_view body, Action action,
                                        const std::vector<std::string>& tenants) {
  auto doc = json::parse(body, json::kStrict);
  if (!doc) return doc.error();
  if (!doc->IsObject()) return invalid("the body must be a JSON object");
  ActionRequest out;
  out.action = action;
  bool has_ids = false, has_filter = false;
  for (const auto& m : doc->GetObject()) {
    const std::string_view name = text(m.name);
    const rapidjson::Value& v = m.value;
    if (name == "ids") {
      has_ids = true;
      if (auto r = read_ids(v, out); !r) return r.error();
    } else if (name == "filter") {
      has_filter = true;
      if (auto r = read_filter(v, out, tenants); !r) return r.error();
    } else if (name == "reason") {
      if (!v.IsString()) return invalid("\"reason\" must be a string");
      if (v.GetStringLength() > kMaxReasonLength) {
        return invalid("\"reason\" is longer than " + std::to_string(kMaxReasonLength) + " bytes");
      }
      out.reason = std::string(text(v));
    } else if (name == "dry_run") {
      auto f = flag(v, name);
      if (!f) return f.error();
      out.dry_run = *f;
    } else if (name == "settled_by_hand") {
      auto f = flag(v, name);
      if (!f) return f.error();
      out.settled_by_hand = *f;
    } else if (name == "set") {
      if (auto r = read_set(v, out); !r) return r.error();
      if (out.set.empty()) return invalid("\"set\" is empty; name INVOICE and/or CUSTOMER");
    } else {
      return invalid("unknown member " + quoted(name) +
                     "; the body takes ids, filter, reason, dry_run, set and settled_by_hand");
    }
  }
  if (has_ids && has_filter) return invalid("give either \"ids\" or \"filter\", not both");
  if (!has_ids && !has_filter) {
    return invalid("give \"ids\" (1 to 1000 event ids) or a \"filter\" (with its tenant)");
  }
  if (auto r = check_action(out, tenants); !r) return r.error();
  return out;
}

Result<void> check_action(const ActionRequest& r, const std::vector<std::string>& tenants) {
  const bool by_filter = r.ids.empty();
  if (r.ids.size() > kMaxIds) {
    return invalid("\"ids\" holds more than " + std::to_string(kMaxIds) +
                   " ids; use a \"filter\" to act on more");
  }
  if (by_filter && r.tenant.empty()) {
    return invalid("\"filter.tenant\" is required (a job belongs to one tenant)");
  }
  if (by_filter && !configured(tenants, r.tenant)) return unknown_tenant("filter.tenant", r.tenant);
  if (r.reason.size() > kMaxReasonLength) {
    return invalid("\"reason\" is longer than " + std::to_string(kMaxReasonLength) + " bytes");
  }
  if (r.action == Action::discard && r.reason.empty()) {
    return invalid("\"reason\" is required to discard (it is recorded with the event)");
  }
  if (r.settled_by_hand && r.action != Action::discard) {
    return invalid("\"settled_by_hand\" applies to discard only");
  }
  if (!r.set.empty()) {
    if (r.action != Action::replay) return invalid("\"set\" applies to replay only");
    if (by_filter) return invalid("\"set\" takes exactly one id, not a filter");
    if (r.ids.size() != 1) {
      return invalid("\"set\" takes exactly one id; \"ids\" holds " + std::to_string(r.ids.size()));
    }
    for (std::size_t i = 0; i < r.set.size(); ++i) {
      const auto& [field, value] = r.set[i];
      if (field != "INVOICE" && field != "CUSTOMER") {
        return invalid("\"set\" holds " + quoted(field) + "; only INVOICE and CUSTOMER can be set");
      }
      if (value.empty() || value.size() > kMaxSetLength || !printable(value)) {
        return invalid("\"set." + field + "\" must be a string of 1 to " +
                       std::to_string(kMaxSetLength) + " bytes");
      }
      for (std::size_t j = 0; j < i; ++j) {
        if (r.set[j].first == field) return invalid("\"set\" names " + field + " twice");
      }
    }
  }
  return {};
}

std::string action_body_json(const ActionRequest& r) {
  std::string out = "{";
  if (!r.ids.empty()) {
    out += "\"ids\":[";
    for (std::size_t i = 0; i < r.ids.size(); ++i) {
      if (i > 0) out += ',';
      write_string(out, r.ids[i]);
    }
    out += ']';
  } else {
    out += "\"filter\":{\"tenant\":";
    write_string(out, r.tenant);
    auto member = [&](const char* name, const std::string& v) {
      if (v.empty()) return;
      out += ",\"";
      out += name;
      out += "\":";
      write_string(out, v);
    };
    member("state", r.filter.state);
    member("object", r.filter.object);
    member("key", r.filter.key);
    member("error", r.filter.error);
    if (r.filter.since_ms != 0) out += ",\"since\":" + std::to_string(r.filter.since_ms);
    if (r.filter.until_ms != 0) out += ",\"until\":" + std::to_string(r.filter.until_ms);
    out += '}';
  }
  if (!r.reason.empty()) {
    out += ",\"reason\":";
    write_string(out, r.reason);
  }
  if (r.dry_run) out += ",\"dry_run\":true";
  if (r.settled_by_hand) out += ",\"settled_by_hand\":true";
  if (!r.set.empty()) {
    out += ",\"set\":{";
    for (std::size_t i = 0; i < r.set.size(); ++i) {
      if (i > 0) out += ',';
      write_string(out, r.set[i].first);
      out += ':';
      write_string(out, r.set[i].second);
    }
    out += '}';
  }
  return out + "}";
}

}  // namespace isync::oncall
