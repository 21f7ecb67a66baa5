#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <optional>
#include <utility>

#include "bench/common/company.hpp"
#include "bench/thin/thin_bench.hpp"

namespace isync::bench::thin {

namespace http = boost::beast::http;

namespace {

// "YYYY-MM-DDTHH:MM:SS.mmmZ" -> epoch milliseconds.
std::optional<std::int64_t> parse_iso_ms(const std::string& s) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
    return std::nullopt;
  tm.tm_mon -= 1;
  tm.tm_year -= 1900;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000 + ms;
}

struct AuditEntry {
  std::int64_t at_ms = 0;
  std::int64_t version = 0;
  std::string event_id, result;
};

}  // namespace

std::vector<Target> list_records(HttpClient& control, const std::string& object) {
  std::vector<Target> out;
  std::int64_t after = 0;
  for (int page = 0; page < 1000; ++page) {
    auto r = control.request(http::verb::get, "/v1/records/" + object + "?after=" +
                                                  std::to_string(after) + "&limit=1000");
    if (r.status != 200)
      throw std::runtime_error("listing " + object + " answered " + std::to_string(r.status) +
                               ": " + r.body);
    auto doc = parse_json(r.body);
    if (!doc.IsObject() || !doc.HasMember("records") || !doc["records"].IsArray())
      throw std::runtime_error("listing " + object + ": unexpected answer");
    const auto& records = doc["records"];
    if (records.Empty()) break;
    for (const auto& rec : records.GetArray()) {
      after = rec["recordno"].GetInt64();
      if (object == "ARINVOICE" && json_string(rec["fields"], "STATE") == "Draft") continue;
      out.push_back({object, after});
    }
  }
  return out;
}

std::string rkey(const std::string& suffix) {
  return std::string("isync:{") + kTenant + "}:" + suffix;
}

QueueState queue_state(RedisClient& redis) {
  QueueState q;
  q.stream = redis.cmd({"XLEN", rkey("events")}).integer;
  try {
    auto p = redis.cmd({"XPENDING", rkey("events"), "isync-workers"});
    if (!p.elements.empty()) q.pending = p.elements[0].integer;
  } catch (const std::exception&) {
    q.pending = 0;  // no group yet: nothing was ever read
  }
  q.retry = redis.cmd({"ZCARD", rkey("retry")}).integer;
  q.recheck = redis.cmd({"ZCARD", rkey("recheck")}).integer;
  q.parked = redis.cmd({"ZCARD", rkey("parked")}).integer;
  q.dead = redis.cmd({"ZCARD", rkey("dead")}).integer;
  return q;
}

MirrorCheck check_mirror(const Driver& driver, RedisClient& redis, const std::string& workdir) {
  // The last change of every record, and each record's changes in order.
  const auto& changes = driver.changes();
  std::map<std::size_t, std::vector<std::size_t>> by_target;
  std::int64_t made = 0;
  for (std::size_t i = 0; i < changes.size(); ++i) {
    if (!changes[i].made) continue;
    ++made;
    by_target[changes[i].target].push_back(i);
  }
  std::map<std::string, std::size_t> change_of_value;
  for (std::size_t i = 0; i < changes.size(); ++i) change_of_value[changes[i].value] = i;

  std::int64_t mismatches = 0, mismatch_same_second = 0, mismatch_dup = 0;
  std::vector<std::string> mismatch_lines;
  // Latency: the first audit entry that shows the change (see below).
  // All changes seen; then split: own event delivered on time, first
  // delivery held back, and same-second changes whose event was answered as
  // a duplicate of the earlier change's (they are seen only when a read
  // made after them, or a later change, lands).
  std::vector<double> latency_ms, latency_on_time_ms, latency_late_ms, latency_dup_ms;
  std::int64_t dup_changes = 0, dup_not_seen = 0;
  std::int64_t not_seen = 0, same_second_changes = 0;
  // One line per change, for a closer look: changes.tsv in the workdir.
  std::ofstream tsv(workdir + "/changes.tsv");
  tsv << "change\tobject\trecordno\tt_ms\tversion\tlate\tduplicate\tevent_id\tseen_at_ms\t"
         "seen_version\tseen_event_id\tlatency_ms\n";
  for (const auto& [ti, idx] : by_target) {
    const auto& t = driver.targets()[ti];
    const std::string rec = rkey("rec:" + t.object + ":" + std::to_string(t.recordno));
    auto f = redis.cmd({"HGET", rec, "f"});
    auto v = redis.cmd({"HGET", rec, "v"});
    const auto& last = changes[idx.back()];
    std::string held;
    if (f.type == REDIS_REPLY_STRING)
      held = json_string(parse_json(f.str), changed_field(t.object));
    if (held != last.value) {
      ++mismatches;
      const bool same_second =
          idx.size() >= 2 && changes[idx[idx.size() - 2]].version == last.version;
      if (same_second) ++mismatch_same_second;
      if (last.duplicate) ++mismatch_dup;
      if (mismatch_lines.size() < 5) {
        auto it = change_of_value.find(held);
        std::string which = it == change_of_value.end()
                                ? "no change of the bench"
                                : "change #" + std::to_string(it->second + 1) + " of version " +
                                      std::to_string(changes[it->second].version);
        mismatch_lines.push_back(
            "  " + t.object + " " + std::to_string(t.recordno) + ": last change #" +
            std::to_string(idx.back() + 1) + " (version " + std::to_string(last.version) +
            (last.duplicate ? ", its event answered duplicate" : "") +
            (same_second ? ", same second as the change before it" : "") +
            "), mirror holds version " + (v.type == REDIS_REPLY_STRING ? v.str : "none") +
            " with " + which);
      }
    }

    // Audit entries, oldest first.
    auto list = redis.cmd(
        {"LRANGE", rkey("audit:" + t.object + ":" + std::to_string(t.recordno)), "0", "-1"});
    std::vector<AuditEntry> audit;
    for (auto it = list.elements.rbegin(); it != list.elements.rend(); ++it) {
      auto d = parse_json(it->str);
      if (!d.IsObject()) continue;
      AuditEntry e;
      auto at = parse_iso_ms(json_string(d, "at"));
      if (!at || !d.HasMember("version") || !d["version"].IsInt64()) continue;
      e.at_ms = *at;
      e.version = d["version"].GetInt64();
      e.event_id = json_string(d, "event_id");
      e.result = json_string(d, "result");
      audit.push_back(std::move(e));
    }
    // Change-to-mirror latency of change c (version V = its WHENMODIFIED in
    // epoch seconds, t = system time just before its PATCH was sent): the
    // "at" of the first audit entry with version >= V and at >= t, minus t.
    // Entries are written only when the mirror's fields change, and a read
    // brings the record as it is when read, so an entry at a version > V,
    // or at V when c is the record's first change in that second, shows c
    // or a later state. WHENMODIFIED has whole seconds: when an earlier
    // change of the same record has the same second, an entry at V applied
    // after t may come from a read made before c. For those changes
    // (counted below) the latency is a lower bound, and whether their value
    // landed is told only by the final check (when it is the last change).
    for (std::size_t k = 0; k < idx.size(); ++k) {
      const auto& c = changes[idx[k]];
      if (k > 0 && changes[idx[k - 1]].version == c.version) ++same_second_changes;
      auto hit = std::find_if(audit.begin(), audit.end(), [&](const AuditEntry& e) {
        return e.version >= c.version && e.at_ms >= c.t_ms;
      });
      tsv << idx[k] + 1 << '\t' << t.object << '\t' << t.recordno << '\t' << c.t_ms << '\t'
          << c.version << '\t' << c.late << '\t' << c.duplicate << '\t' << c.event_id;
      if (hit == audit.end()) {
        tsv << "\t\t\t\t\n";
      } else {
        tsv << '\t' << hit->at_ms << '\t' << hit->version << '\t' << hit->event_id << '\t'
            << hit->at_ms - c.t_ms << '\n';
      }
      if (c.duplicate) ++dup_changes;
      if (hit == audit.end()) {
        ++not_seen;
        if (c.duplicate) ++dup_not_seen;
      } else {
        latency_ms.push_back(static_cast<double>(hit->at_ms - c.t_ms));
        auto& group = c.duplicate ? latency_dup_ms : c.late ? latency_late_ms : latency_on_time_ms;
        group.push_back(latency_ms.back());
      }
    }
  }
  return {by_target.size(),
          made,
          mismatches,
          mismatch_same_second,
          mismatch_dup,
          std::move(mismatch_lines),
          std::move(latency_ms),
          std::move(latency_on_time_ms),
          std::move(latency_late_ms),
          std::move(latency_dup_ms),
          dup_changes,
          dup_not_seen,
          not_seen,
          same_second_changes};
}

}  // namespace isync::bench::thin
