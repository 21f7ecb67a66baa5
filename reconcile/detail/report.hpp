// A reconcile run's report: what it found and fixed, per object, and what it
// cost. Internal to reconcile/.
//
// JSON (kept in Redis, served by the admin API, printed by `--json`):
//   {"run_id","tenant","trigger","dry_run","state":"running|succeeded|partial|failed",
//    "failure","started_at","finished_at","duration_ms","since",
//    "objects":{"CUSTOMER":{"state","listed","totalcount","reads_done","missing","stale",
//        "drafts","gone_candidates","created","updated","tombstoned","drafts_removed",
//        "mass_delete_suspected","segments","calls":{"list","read"},"retries","logins",
//        "samples":{"missing":[…],"stale":[…],"gone":[…],"draft":[…]}, "error":{…}},…},
//    "payments":{"examined","adopted","made_due","reversed","conflicts","busy",
//        "dead_letters","calls":{"docnumber","reversal"}},
//    "api_calls","retries","logins",
//    "errors":[{"object","code","message","errorno","description","correction","key"}]}
// segments: the key ranges the listing was split into (1 when not split).
// state: succeeded = every object done; partial = an object ended with an
// error (the others done); failed = the run could not go on (`failure`).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/core.hpp"

namespace isync::reconcile::detail {

struct ReportError {
  std::string object, code, message, errorno, description, correction, key;
};

struct ObjectReport {
  std::string state = "pending";  // pending | listing | fixing | confirming | done | failed
  std::int64_t listed = 0, totalcount = -1, reads_done = 0;
  std::int64_t missing = 0, stale = 0, drafts = 0, gone_candidates = 0;
  std::int64_t created = 0, updated = 0, tombstoned = 0, drafts_removed = 0;
  bool mass_delete_suspected = false;
  // Key ranges listed side by side (each may end with a short page).
  std::int64_t segments = 1;
  std::int64_t list_calls = 0, read_calls = 0, retries = 0, logins = 0;
  // Dry run: the first 20 keys of each kind.
  std::map<std::string, std::vector<std::string>> samples;
  void sample(const std::string& kind, const std::string& key);
};

struct PaymentsReport {
  bool ran = false;
  std::int64_t examined = 0, adopted = 0, made_due = 0, reversed = 0, conflicts = 0, busy = 0,
               dead_letters = 0, docnumber_calls = 0, reversal_calls = 0;
};

struct Report {
  std::string run_id, tenant, trigger, state = "running", failure;
  bool dry_run = false;
  std::int64_t started_ms = 0, finished_ms = 0, since = 0;
  std::vector<std::string> order;  // objects in run order
  std::map<std::string, ObjectReport> objects;
  PaymentsReport payments;
  std::int64_t retries = 0, logins = 0;
  std::vector<ReportError> errors;

  std::int64_t api_calls() const;
  std::string to_json() const;
};

// The report as text for a terminal or a log (from its JSON).
// Error{"invalid_report"} when the text is not a report.
Result<std::string> render_text(std::string_view report_json);

}  // namespace isync::reconcile::detail
