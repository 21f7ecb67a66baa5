// The bodies of POST /v1/admin/events/replay and /discard (oncall/http.hpp).
#include <algorithm>
#include <array>

#include "core/json.hpp"
#include "oncall/detail/http_checks.hpp"

namespace isync::oncall {

using detail::configured;
using detail::invalid;
using detail::kMaxEpochMs;
using detail::printable;
using detail::quoted;
using detail::unknown_tenant;

namespace {

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
    if (auto r = detail::set_filter_field(q, "filter.", name, text(m.value), tenants); !r) {
      return r.error();
    }
  }
  if (auto r = detail::check_filter(q, "filter."); !r) return r.error();
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
