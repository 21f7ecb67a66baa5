// Internal to alerts/: what each message says (pure functions, no I/O), so
// the wording is tested without Redis or a receiver.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace isync::alerts::detail {

// Errors listed per digest or run, most frequent first.
inline constexpr std::size_t kTopErrors = 5;
// Intacct's texts are cut to this many bytes in a message.
inline constexpr std::size_t kMaxTextBytes = 300;

struct ErrorGroup {
  std::string code, errorno, description, correction;
  std::int64_t count = 0;
};

// The dead letters filed since the last digest of one tenant.
class Digest {
 public:
  // One sampled dead letter: its document's object, code, errorno and
  // attempts (JSON array; the last failure gives description and correction).
  void add(std::string_view object, std::string_view code, std::string_view errorno,
           std::string_view attempts_json);
  std::int64_t sampled() const { return sampled_; }
  // The most frequent (code, errorno) groups, at most kTopErrors.
  std::vector<ErrorGroup> top() const;
  const std::map<std::string, std::int64_t>& objects() const { return objects_; }

 private:
  std::int64_t sampled_ = 0;
  std::map<std::string, std::int64_t> objects_;
  std::map<std::pair<std::string, std::string>, ErrorGroup> groups_;
  std::vector<std::pair<std::string, std::string>> order_;  // first seen first
};

// `count` dead-lettered since the last digest (the `digest` sampled the
// newest of them), `dead_now` dead letters in all.
std::string digest_text(std::string_view tenant, std::int64_t count, std::int64_t dead_now,
                        const Digest& digest);
std::string threshold_text(std::string_view tenant, std::int64_t dead, std::int64_t threshold,
                           bool over);
std::string circuit_text(std::string_view tenant, bool open, std::string_view reason);
// `level` 80 or 100; `month` "YYYY-MM".
std::string budget_text(std::string_view tenant, int level, std::int64_t calls, std::int64_t budget,
                        std::string_view month);

struct RunAlert {
  std::string run_id;
  std::string text;
};
// A kept reconcile report (JSON) worth an alert: not a dry run, finished at
// or after `since_ms`, and failed or partial, or suspecting a mass delete, or
// with drift (missing + stale + gone candidates) over `drift_threshold` of
// the records listed. nullopt otherwise (and for text that is not a report).
std::optional<RunAlert> reconcile_alert(std::string_view report_json, double drift_threshold,
                                        std::int64_t since_ms);

}  // namespace isync::alerts::detail
