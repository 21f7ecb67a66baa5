#include "ingest/detail/reconcile_request.hpp"

#include <algorithm>
#include <array>

#include "core/json.hpp"

namespace isync::ingest::detail {

namespace {

struct ObjectName {
  std::string_view api;      // as the request names it
  std::string_view intacct;  // as the engine does
};
// In run order.
constexpr std::array<ObjectName, 3> kObjects{
    {{"customers", "CUSTOMER"}, {"invoices", "ARINVOICE"}, {"payments", "ARPYMT"}}};

Error invalid(std::string message) { return make_error("invalid_field", std::move(message)); }

std::string quoted(const rapidjson::Value& s) {
  return "\"" + shorten({s.GetString(), s.GetStringLength()}, 64) + "\"";
}

Result<bool> flag(const rapidjson::Value& v, std::string_view name) {
  if (!v.IsBool()) return invalid("\"" + std::string(name) + "\" must be true or false");
  return v.GetBool();
}

}  // namespace

std::string_view reconcile_object_of(std::string_view name) {
  for (const auto& o : kObjects) {
    if (o.api == name) return o.intacct;
  }
  return {};
}

Result<ReconcileRequest> parse_reconcile_request(std::string_view body) {
  auto doc = json::parse(body, json::kStrict);
  if (!doc) return doc.error();
  if (!doc->IsObject()) return invalid("the body must be a JSON object");
  ReconcileRequest out;
  bool has_tenant = false;
  std::array<bool, kObjects.size()> wanted{};
  for (const auto& m : doc->GetObject()) {
    const std::string_view name(m.name.GetString(), m.name.GetStringLength());
    const rapidjson::Value& v = m.value;
    if (name == "tenant") {
      if (!v.IsString()) return invalid("\"tenant\" must be a string");
      out.tenant.assign(v.GetString(), v.GetStringLength());
      if (!valid_tenant_id(out.tenant)) {
        return invalid("\"tenant\" must be a tenant id ([a-z0-9_-]{1,64})");
      }
      has_tenant = true;
    } else if (name == "objects") {
      if (!v.IsArray()) {
        return invalid(
            "\"objects\" must be an array of \"customers\", \"invoices\" and \"payments\"");
      }
      if (v.Empty()) return invalid("\"objects\" is empty; leave it out to reconcile every object");
      for (const auto& e : v.GetArray()) {
        if (!e.IsString()) {
          return invalid(
              "\"objects\" must be an array of \"customers\", \"invoices\" and \"payments\"");
        }
        const std::string_view api(e.GetString(), e.GetStringLength());
        auto it = std::find_if(kObjects.begin(), kObjects.end(),
                               [&](const ObjectName& o) { return o.api == api; });
        if (it == kObjects.end()) {
          return invalid("\"objects\" holds " + quoted(e) +
                         "; expected \"customers\", \"invoices\" or \"payments\"");
        }
        wanted[static_cast<std::size_t>(it - kObjects.begin())] = true;
      }
    } else if (name == "dry_run") {
      auto f = flag(v, name);
      if (!f) return f.error();
      out.dry_run = *f;
    } else if (name == "allow_mass_delete") {
      auto f = flag(v, name);
      if (!f) return f.error();
      out.allow_mass_delete = *f;
    } else {
      return invalid("unknown member " + quoted(m.name) +
                     "; the body takes tenant, objects, dry_run and allow_mass_delete");
    }
  }
  if (!has_tenant) return invalid("\"tenant\" is required");
  for (std::size_t i = 0; i < kObjects.size(); ++i) {
    if (wanted[i]) out.objects.emplace_back(kObjects[i].intacct);
  }
  return out;
}

std::string reconcile_request_json(const ReconcileRequest& request) {
  std::string out = "{\"tenant\":";
  append_json_string(out, request.tenant);
  if (!request.objects.empty()) {
    out += ",\"objects\":[";
    bool first = true;
    for (const auto& o : request.objects) {
      auto it = std::find_if(kObjects.begin(), kObjects.end(),
                             [&](const ObjectName& n) { return n.intacct == o; });
      if (!first) out += ',';
      first = false;
      append_json_string(out, it == kObjects.end() ? o : std::string(it->api));
    }
    out += ']';
  }
  out += request.dry_run ? ",\"dry_run\":true" : ",\"dry_run\":false";
  out +=
      request.allow_mass_delete ? ",\"allow_mass_delete\":true}" : ",\"allow_mass_delete\":false}";
  return out;
}

}  // namespace isync::ingest::detail
