// Internal to app/: the text forms of `intacct-sync events …` and `records
// show` (pure: no I/O, testable). The --json forms are oncall::to_json's, the
// admin API's own.
#pragma once

#include <string>
#include <vector>

#include "oncall/oncall.hpp"

namespace isync::app::detail {

// One line per event, newest first, under a header; then how to get the next
// page when there is one ("more: --cursor <c>").
std::string page_text(const queue::EventPage& page);

// Everything about one event, with each attempt's errorno, description and
// correction in plain sight, the envelope's fields, the raw payload as
// received (redacted at ingest), and the payment ledger entry if any.
std::string detail_text(const oncall::EventDetail& detail);

// "replayed 2 of 3 matched" and one line per skipped id; a dry run lists the
// sample events; a job names itself.
std::string answer_text(const oncall::ActionAnswer& answer, oncall::Action action);

// A job: what, whose, its state and progress, the first skipped ids.
std::string job_text(const oncall::Job& job);
std::string jobs_text(const std::vector<oncall::Job>& jobs);
// One line for a job being followed:
//   "job 01J… replay acme: 1200/10000 processed, 1180 replayed, 20 skipped (running)"
std::string job_progress(const oncall::Job& job);

// A mirror record (handlers::MirrorReader's JSON) as text: the header line,
// the fields, and the audit newest first. Text that does not parse is
// returned as it is.
std::string record_text(const std::string& record_json);

// "2026-12-01 10:00:00Z" for epoch ms; "-" for 0.
std::string when(std::int64_t ms);

}  // namespace isync::app::detail
