// oncall/http — the admin API's on-call routes (PRODUCT.md §6) over the
// Engine: a request in (method, path, query, body), an answer out (status,
// JSON body, whether a Retry-After is due). ingest/ carries the bytes and
// checks the admin token, the media type and the body's size; everything else
// is decided here. The CLI (app/) shares the checks below, so the two faces
// refuse the same values with the same messages.
//
// Contract:
//  * Routes (anything else is 404 not_found; a known path with another
//    method is 405 method_not_allowed):
//      GET    /v1/admin/events?state=&tenant=&object=&key=&error=&since=&until=&limit=&cursor=
//               → 200 {"events":[summary…],"next_cursor"} (limit 1..1000, default 50)
//      GET    /v1/admin/events/{id}[?tenant=]  → 200 the event (oncall::to_json(EventDetail))
//      POST   /v1/admin/events/replay | /v1/admin/events/discard, body (strict JSON):
//               {"ids":[…1..1000 strings],"reason","dry_run","set":{"INVOICE"|"CUSTOMER":…},
//                "settled_by_hand"}
//               or {"filter":{"tenant", "state","object","key","error","since","until"},…}
//               → 200 {"matched","replayed"|"discarded","skipped":[{"id","state","code"}]}
//                 (by ids), 202 {"job_id","matched"} (by filter),
//                 200 {"matched","samples":[…]} (dry_run); the actor is "admin-api".
//      GET    /v1/admin/jobs[?tenant=]        → 200 {"jobs":[…]}
//      GET    /v1/admin/jobs/{id}             → 200 the job
//      DELETE /v1/admin/jobs/{id}             → 200 the job, cancelled (a finished one as it is)
//  * Times (since, until) are RFC 3339 with a zone ("2026-12-01T10:00:00Z",
//    "2026-12-01T11:00:00.250+01:00"), or whole epoch milliseconds
//    ("1796119200000"; in a body also a JSON integer). Answers carry epoch
//    milliseconds (fields *_ms).
//  * Errors are {"error":{"code","message"}}: 400 invalid_field (the message
//    names the parameter or member), 400 malformed_body (not strict JSON),
//    404 not_found, 409 invalid_state / payment_unsettled /
//    payment_in_progress / payment_abandoned / payment_may_be_posted, 503
//    unavailable (retry_after set). Any other engine code is answered 503.
//  * Every check of a query or body is a pure function below (no I/O), so
//    the fuzz target fuzz/oncall_request drives them directly.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.hpp"
#include "oncall/oncall.hpp"
#include "queue/event_index.hpp"

namespace isync::oncall {

struct HttpCall {
  std::string method;  // "GET", "POST", "DELETE", …
  std::string path;    // without the query
  std::string query;   // without '?', still percent-encoded; "" when none
  std::string body;
};

struct HttpAnswer {
  unsigned status = 200;
  std::string body;          // JSON
  bool retry_after = false;  // a 503: the caller adds Retry-After
};

// Answers one call; `done` runs exactly once, on any thread (the engine's
// callbacks). REQUIRES: `engine` outlives the call's completion.
void serve_http(Engine& engine, HttpCall call, std::function<void(HttpAnswer)> done);

// ---- the checks, shared with the CLI ---------------------------------------

inline constexpr int kDefaultListLimit = 50;
inline constexpr std::size_t kMaxIdLength = 128;       // event and job ids
inline constexpr std::size_t kMaxReasonLength = 1000;  // bytes of a reason
inline constexpr std::size_t kMaxKeyLength = 256;      // bytes of a record key
inline constexpr std::size_t kMaxSetLength = 128;      // bytes of a --set value

// "2026-12-01T10:00:00Z" (any offset, optional fraction: milliseconds kept)
// or epoch milliseconds as digits → epoch ms. Error{"invalid_field",
// "\"<name>\" must be an RFC 3339 time (2026-12-01T10:00:00Z) or epoch
// milliseconds"}. Times before 1970 are refused.
Result<std::int64_t> parse_time(std::string_view text, std::string_view name);
// Epoch ms → "2026-12-01T10:00:00.123Z" (the fraction only when non-zero).
std::string format_time(std::int64_t ms);

struct ListQuery {
  std::string tenant;  // "" = every tenant
  queue::EventFilter filter;
  int limit = kDefaultListLimit;
  std::string cursor;
};

// One filter parameter by its API name (tenant, state, object, key, error,
// since, until, limit, cursor) into `q`, checked alone; `tenants` are the
// configured ones. Error{"invalid_field", …} naming it; an unknown name is
// "unknown query parameter \"<name>\"; …".
Result<void> set_list_field(ListQuery& q, std::string_view name, std::string_view value,
                            const std::vector<std::string>& tenants);
// The checks across fields: key needs object; since <= until.
Result<void> check_list_query(const ListQuery& q);
// The query string of GET /v1/admin/events (percent-decoded, '+' = space;
// a parameter given twice is refused).
Result<ListQuery> parse_list_query(std::string_view query, const std::vector<std::string>& tenants);
// The query of GET /v1/admin/events/{id} and /v1/admin/jobs: only "tenant"
// (optional, must be configured); "" when absent.
Result<std::string> parse_tenant_query(std::string_view query,
                                       const std::vector<std::string>& tenants);
// An event or job id from a path or a body: 1..kMaxIdLength of [A-Za-z0-9_.:-].
bool plausible_id(std::string_view id);

// The body of POST /v1/admin/events/replay or /discard (see above); the actor
// is left empty for the caller to set. Error{"malformed_body", …} for text
// that is not strict JSON; Error{"invalid_field", …} otherwise.
Result<ActionRequest> parse_action_body(std::string_view body, Action action,
                                        const std::vector<std::string>& tenants);
// The rules across members, for a request however it was made (body or CLI):
// ids xor a filter; a filter needs a configured tenant; at most kMaxIds ids;
// discard needs a reason; settled_by_hand is for discard only; set is for a
// replay of exactly one id, and names INVOICE and/or CUSTOMER only.
Result<void> check_action(const ActionRequest& request, const std::vector<std::string>& tenants);

// The request as a body that parse_action_body reads back equal (for the
// fuzz target's round trip and the tests).
std::string action_body_json(const ActionRequest& request);

}  // namespace isync::oncall
