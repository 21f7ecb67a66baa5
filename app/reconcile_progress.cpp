#include "app/reconcile_progress.hpp"

#include <cstdio>

#include "core/json.hpp"

namespace isync::app::detail {

namespace {

std::int64_t int_of(const rapidjson::Value& o, const char* k, std::int64_t fallback = 0) {
  auto it = o.FindMember(k);
  return it != o.MemberEnd() && it->value.IsInt64() ? it->value.GetInt64() : fallback;
}

std::string str_of(const rapidjson::Value& o, const char* k) {
  auto it = o.FindMember(k);
  return it != o.MemberEnd() && it->value.IsString() ? it->value.GetString() : std::string();
}

}  // namespace

std::string short_duration(std::int64_t s) {
  char buf[48];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>((s % 3600) / 60));
  }
  return buf;
}

std::vector<std::string> Progress::lines(const std::string& tenant, const std::string& report_json,
                                         std::int64_t now_ms) {
  auto doc = json::parse(report_json, json::kTrusted);
  if (!doc || !doc->IsObject() || !doc->HasMember("objects") || !(*doc)["objects"].IsObject()) {
    return {tenant + ": waiting for the run's report"};
  }
  std::vector<std::string> out;
  for (const auto& m : (*doc)["objects"].GetObject()) {
    const std::string object = m.name.GetString();
    const auto& o = m.value;
    if (!o.IsObject()) continue;
    const std::string state = str_of(o, "state");
    const std::int64_t listed = int_of(o, "listed");
    const std::int64_t total = int_of(o, "totalcount", -1);
    const std::int64_t reads = int_of(o, "reads_done");
    std::string line = tenant + " " + object;
    line.resize(std::max<std::size_t>(line.size() + 1, tenant.size() + 11), ' ');
    line += state;
    line.resize(std::max<std::size_t>(line.size() + 1, tenant.size() + 22), ' ');
    line += std::to_string(listed) + (total >= 0 ? "/" + std::to_string(total) : "") +
            " listed  reads " + std::to_string(reads);
    if (state == "listing" || state == "fixing") {
      auto [it, fresh] = seen_.try_emplace({tenant, object}, Seen{now_ms, listed});
      const double seconds = static_cast<double>(now_ms - it->second.at_ms) / 1000.0;
      if (!fresh && seconds >= 1.0 && listed > it->second.listed) {
        const double rate = static_cast<double>(listed - it->second.listed) / seconds;
        line += "  " + std::to_string(static_cast<std::int64_t>(rate)) + "/s";
        if (total > listed) {
          line += "  ETA " + short_duration(static_cast<std::int64_t>(
                                 static_cast<double>(total - listed) / rate + 0.5));
        }
      }
    }
    out.push_back(std::move(line));
  }
  if (out.empty()) out.push_back(tenant + ": " + str_of(*doc, "state"));
  return out;
}

}  // namespace isync::app::detail
