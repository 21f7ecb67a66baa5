// The messages: one headline naming the tenant and what happened, then the
// figures, then what to do. Plain text (Slack shows it as written).
#include "alerts/detail/text.hpp"

#include <algorithm>
#include <cmath>

#include "alerts/alerts.hpp"
#include "core/json.hpp"

namespace isync::alerts {

std::string_view kind_name(Kind kind) {
  switch (kind) {
    case Kind::dead_letters:
      return "dead_letters";
    case Kind::dead_threshold:
      return "dead_threshold";
    case Kind::circuit:
      return "circuit";
    case Kind::budget:
      return "budget";
    case Kind::reconcile:
      return "reconcile";
  }
  return "unknown";
}

std::string webhook_body(const Alert& alert) {
  std::string out = "{\"text\":";
  append_json_string(out, alert.text);
  return out + "}";
}

namespace detail {

namespace {

constexpr std::string_view kHead = "[intacct-sync] ";

std::string cut(std::string_view s) { return shorten(s, kMaxTextBytes); }

std::string str_member(const rapidjson::Value& v, const char* name) {
  if (!v.IsObject()) return {};
  auto it = v.FindMember(name);
  return it != v.MemberEnd() && it->value.IsString()
             ? std::string(it->value.GetString(), it->value.GetStringLength())
             : std::string();
}

std::int64_t num_member(const rapidjson::Value& v, const char* name) {
  if (!v.IsObject()) return 0;
  auto it = v.FindMember(name);
  if (it == v.MemberEnd() || !it->value.IsNumber()) return 0;
  return it->value.IsInt64() ? it->value.GetInt64()
                             : static_cast<std::int64_t>(it->value.GetDouble());
}

bool bool_member(const rapidjson::Value& v, const char* name) {
  if (!v.IsObject()) return false;
  auto it = v.FindMember(name);
  return it != v.MemberEnd() && it->value.IsBool() && it->value.GetBool();
}

// "1,234,567"
std::string grouped(std::int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string percent(double ratio) {
  const double p = ratio * 100.0;
  char buf[32];
  std::snprintf(buf, sizeof buf, p >= 10 || p == std::floor(p) ? "%.0f%%" : "%.2g%%", p);
  return buf;
}

// "  - BL34000061 (intacct_error) x3: Invalid customer. Correction: …"
std::string error_line(const ErrorGroup& g) {
  std::string line = "  - ";
  if (!g.errorno.empty() && g.errorno != g.code) {
    line += g.errorno + " (" + g.code + ")";
  } else {
    line += g.code.empty() ? std::string("(no code)") : g.code;
  }
  line += " x" + std::to_string(g.count);
  if (!g.description.empty()) line += ": " + cut(g.description);
  if (!g.correction.empty()) line += " Correction: " + cut(g.correction);
  return line;
}

}  // namespace

void Digest::add(std::string_view object, std::string_view code, std::string_view errorno,
                 std::string_view attempts_json) {
  ++sampled_;
  ++objects_[object.empty() ? std::string("(unknown)") : std::string(object)];
  std::string description, correction, err(errorno), c(code);
  if (auto doc = json::parse(attempts_json, json::kTrusted); doc && doc->IsArray()) {
    // The last failure; a missing kind is a failure (older documents).
    for (auto i = doc->Size(); i > 0; --i) {
      const auto& a = (*doc)[i - 1];
      const auto kind = str_member(a, "kind");
      if (!kind.empty() && kind != "failure") continue;
      description = str_member(a, "description");
      correction = str_member(a, "correction");
      if (err.empty()) err = str_member(a, "errorno");
      if (c.empty()) c = str_member(a, "code");
      break;
    }
  }
  const auto key = std::make_pair(c, err);
  auto [it, fresh] = groups_.try_emplace(key);
  if (fresh) {
    it->second.code = c;
    it->second.errorno = err;
    order_.push_back(key);
  }
  ++it->second.count;
  // The newest document comes first: keep its texts, fill in what is missing.
  if (it->second.description.empty()) it->second.description = description;
  if (it->second.correction.empty()) it->second.correction = correction;
}

std::vector<ErrorGroup> Digest::top() const {
  std::vector<ErrorGroup> all;
  for (const auto& k : order_) all.push_back(groups_.at(k));
  std::stable_sort(all.begin(), all.end(),
                   [](const ErrorGroup& a, const ErrorGroup& b) { return a.count > b.count; });
  if (all.size() > kTopErrors) all.resize(kTopErrors);
  return all;
}

std::string digest_text(std::string_view tenant, std::int64_t count, std::int64_t dead_now,
                        const Digest& digest) {
  std::string t(tenant);
  std::string out = std::string(kHead) + t + ": " + grouped(count) +
                    (count == 1 ? " event was" : " events were") +
                    " dead-lettered since the last alert (" + grouped(dead_now) +
                    " dead letters in all).";
  if (!digest.objects().empty()) {
    out += "\nObjects:";
    bool first = true;
    for (const auto& [object, n] : digest.objects()) {
      out += (first ? " " : ", ") + object + " " + grouped(n);
      first = false;
    }
    if (digest.sampled() < count) out += " (the newest " + grouped(digest.sampled()) + ")";
    out += ".";
  }
  const auto top = digest.top();
  if (!top.empty()) {
    out += "\nTop errors:";
    for (const auto& g : top) out += "\n" + error_line(g);
  }
  out += "\nSee them: intacct-sync events list --tenant " + t +
         " --state dead. Fix the cause (the correction says how), then replay them: "
         "intacct-sync events replay --filter --tenant " +
         t + " --state dead";
  return out;
}

std::string threshold_text(std::string_view tenant, std::int64_t dead, std::int64_t threshold,
                           bool over) {
  std::string t(tenant);
  if (over) {
    return std::string(kHead) + t + ": " + grouped(dead) +
           " dead letters, at or over the alert threshold of " + grouped(threshold) +
           ".\nThese events will not be retried on their own: see the dead-letter messages for "
           "their errors, fix the cause, then replay or discard them (intacct-sync events list "
           "--tenant " +
           t + " --state dead).";
  }
  return std::string(kHead) + t + ": recovered: dead letters are back under the threshold of " +
         grouped(threshold) + " (now " + grouped(dead) + ").";
}

std::string circuit_text(std::string_view tenant, bool open, std::string_view reason) {
  std::string t(tenant);
  if (open) {
    return std::string(kHead) + t + ": the Intacct circuit is open: Intacct rejected the " +
           "credentials" + (reason.empty() ? std::string() : " (" + cut(reason) + ")") +
           ".\nNo call reaches Intacct for this tenant and its events wait parked. Fix the "
           "tenant's Web Services user (company_id, user_id, user_password) or the sender "
           "credentials; the circuit closes when the configured credentials change or a probe "
           "login succeeds (one per circuit_probe_interval).";
  }
  return std::string(kHead) + t +
         ": recovered: the Intacct circuit is closed; parked events go back to the workers.";
}

std::string budget_text(std::string_view tenant, int level, std::int64_t calls, std::int64_t budget,
                        std::string_view month) {
  std::string t(tenant);
  const std::string figures = grouped(calls) + " of " + grouped(budget) + " API transactions in " +
                              std::string(month) + " (UTC)";
  if (level >= 100) {
    return std::string(kHead) + t + ": the monthly Intacct call budget is used up: " + figures +
           ".\nIntacct bills the overage; calls are not refused. Raise monthly_call_budget or "
           "the tenant's Intacct plan, or find what calls so much (isync_intacct_calls_total).";
  }
  return std::string(kHead) + t + ": " + std::to_string(level) +
         "% of the monthly Intacct call budget is used: " + figures + ".";
}

std::optional<RunAlert> reconcile_alert(std::string_view report_json, double drift_threshold,
                                        std::int64_t since_ms) {
  auto doc = json::parse(report_json, json::kTrusted);
  if (!doc || !doc->IsObject()) return std::nullopt;
  const auto& r = *doc;
  const std::string state = str_member(r, "state");
  const std::string run_id = str_member(r, "run_id");
  if (run_id.empty() || state.empty() || state == "running" || bool_member(r, "dry_run"))
    return std::nullopt;
  const auto finished = parse_whenmodified(str_member(r, "finished_at"));
  if (!finished || *finished * 1000 + 999 < since_ms) return std::nullopt;

  std::int64_t listed = 0, drift = 0;
  std::vector<std::string> mass, drift_lines;
  if (auto objs = r.FindMember("objects"); objs != r.MemberEnd() && objs->value.IsObject()) {
    for (const auto& m : objs->value.GetObject()) {
      const std::string object(m.name.GetString(), m.name.GetStringLength());
      const auto& o = m.value;
      const auto l = num_member(o, "listed");
      const auto missing = num_member(o, "missing"), stale = num_member(o, "stale"),
                 gone = num_member(o, "gone_candidates");
      listed += l;
      drift += missing + stale + gone;
      if (bool_member(o, "mass_delete_suspected"))
        mass.push_back(object + ": " + grouped(gone) + " of " + grouped(l) + " gone");
      if (missing + stale + gone > 0)
        drift_lines.push_back("  - " + object + ": " + grouped(missing) + " missing, " +
                              grouped(stale) + " stale, " + grouped(gone) + " gone of " +
                              grouped(l) + " listed");
    }
  }
  const bool failed = state == "failed" || state == "partial";
  const double ratio =
      listed > 0 ? static_cast<double>(drift) / static_cast<double>(listed) : (drift > 0 ? 1 : 0);
  const bool drifted = ratio > drift_threshold;
  if (!failed && mass.empty() && !drifted) return std::nullopt;

  const std::string t = str_member(r, "tenant");
  std::string out = std::string(kHead) + t + ": reconcile run " + run_id;
  if (auto trigger = str_member(r, "trigger"); !trigger.empty()) out += " (" + trigger + ")";
  std::vector<std::string> what;
  if (failed) {
    const auto failure = str_member(r, "failure");
    what.push_back((state == "failed" ? "failed" : "ended partial (an object failed)") +
                   (failure.empty() ? std::string() : ": " + cut(failure)));
  }
  if (!mass.empty()) {
    std::string m = "suspected a mass delete of";
    for (std::size_t i = 0; i < mass.size(); ++i) m += (i ? ", " : " ") + mass[i];
    what.push_back(m + " (nothing was tombstoned)");
  }
  if (drifted)
    what.push_back("found drift of " + percent(ratio) + " of the records listed (over " +
                   percent(drift_threshold) + "): " + grouped(drift) + " of " + grouped(listed));
  for (std::size_t i = 0; i < what.size(); ++i) out += (i == 0 ? " " : "; ") + what[i];
  out += ".";
  if (drifted || !mass.empty()) {
    for (const auto& line : drift_lines) out += "\n" + line;
  }
  if (auto errs = r.FindMember("errors");
      errs != r.MemberEnd() && errs->value.IsArray() && errs->value.Size() > 0) {
    out += "\nErrors:";
    rapidjson::SizeType shown = 0;
    for (const auto& e : errs->value.GetArray()) {
      if (shown++ == kTopErrors) break;
      std::string line = "  - " + str_member(e, "object") + " " + str_member(e, "code");
      if (auto no = str_member(e, "errorno"); !no.empty()) line += " " + no;
      const auto desc = str_member(e, "description");
      line += ": " + cut(desc.empty() ? str_member(e, "message") : desc);
      if (auto c = str_member(e, "correction"); !c.empty()) line += " Correction: " + cut(c);
      out += "\n" + line;
    }
  }
  if (!mass.empty())
    out +=
        "\nCheck in Intacct that the records were really deleted, then run: intacct-sync "
        "reconcile --tenant " +
        t + " --allow-mass-delete";
  out += "\nThe report: intacct-sync status, or GET /v1/admin/reconcile/runs?tenant=" + t;
  return RunAlert{run_id, out};
}

}  // namespace detail

}  // namespace isync::alerts
