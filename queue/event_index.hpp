// queue/event_index — the events on-call can find (PRODUCT.md §6): every
// event with a document ev:<id> (it failed at least once, or was parked), by
// state, object, record key, error and time, newest first.
//
// Contract:
//  * The document ev:<id> is a hash: event_id, envelope (JSON), state
//    (pending | retrying | parked | dead | done | discarded), attempts (a JSON
//    array, see below), attempt (attempts used), first_failure (ms, 0 = fresh
//    budget), reason, updated_at (ms of the last state change), object, key
//    (from the envelope), code and errorno (of the last failed attempt), ix
//    (the index keys it is filed under, for removal). No TTL: a document lives
//    until the sweep removes it.
//  * Every script that changes a document's state also sets updated_at and
//    re-files it by calling the Lua function of kEventIndexLua:
//    kAckLua (done), the move (retrying, parked, dead), the release/unpark
//    (pending), file_dead_letter (dead), and on-call's replay (pending) and
//    discard (discarded). Events that succeed on their first delivery have no
//    document and are never indexed: the ingest and ack path pay nothing.
//  * Index keys, all ZSETs of event ids scored by updated_at, under the
//    tenant's hash tag: evx:all, evx:s:<state>, evx:o:<OBJECT>,
//    evx:k:<OBJECT>:<key>, evx:e:<code> and evx:e:<errorno> (both name the
//    last failed attempt). The SET evx:keys names every index key ever used
//    (so the sweep can find entries whose document is gone).
//  * An attempt is {"kind":"failure","at","attempt","class","code","message",
//    "errorno","description","correction","controlid"}; on-call's actions
//    append {"kind":"replayed"|"discarded"|"set","at","actor","reason"} (set
//    also carries "fields" and "was"). Readers treat a missing kind as failure
//    (documents written before the index).
//  * list_events pages with an opaque cursor over (updated_at desc, tenant,
//    id desc), scanning a bounded number of candidates per call (2,000 per
//    tenant, in the one index key that covers most of the filter: key, else
//    error, else object, else state, else all): a page may hold fewer than
//    `limit` events and still have a next_cursor. Redis
//    trouble is Error{"unavailable"}; a cursor this code did not write is
//    Error{"invalid_field"} naming "cursor".
//  * sweep_events is bounded per call (a few thousand keys) and safe to run
//    from every process at once; backfill_event_index indexes the documents
//    of an older version once per tenant (marker evx:backfilled) and is
//    resumable.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/core.hpp"
#include "redis/redis.hpp"

namespace isync::queue {

// Lua text defining `local function isync_evindex(doc)`: re-files the
// document `doc` (its full key, isync:{t}:ev:<id>) under the index keys its
// current fields call for, removing the entries it had (field ix). When the
// document has no object field yet, object and key are taken from its
// envelope once. Also defines `isync_evunindex(doc)` (removes every entry the
// document has, leaves the document). Paste at the top of a script, or inside
// a function body (both are local functions).
extern const char* const kEventIndexLua;

inline constexpr const char* kEventStates[] = {"pending", "retrying", "parked",
                                               "dead",    "done",     "discarded"};

struct EventFilter {
  std::string state{};        // one of kEventStates, or "" = any
  std::string object{};       // CUSTOMER | ARINVOICE | ARPYMT, or ""
  std::string key{};          // record key (RECORDNO; a Stripe payment id); needs object
  std::string error{};        // last failed attempt's code or Intacct errorno, or ""
  std::int64_t since_ms = 0;  // updated_at >= since (0 = open)
  std::int64_t until_ms = 0;  // updated_at <= until (0 = open)
};

struct EventSummary {
  std::string id, tenant, state;
  std::string source, object, key, action;  // from the envelope
  std::string code, errorno, reason;        // the last failure
  int attempt = 0;                          // attempts used in the current budget
  std::int64_t updated_at_ms = 0, first_failure_ms = 0, received_at_ms = 0;
};

struct EventPage {
  std::vector<EventSummary> events;  // newest first
  std::string next_cursor;           // "" = no more
};

inline constexpr int kMaxListLimit = 1000;

// One page over `tenants` (all configured ones, or the one of the filter),
// merged newest first. REQUIRES: 1 <= limit <= kMaxListLimit.
void list_events(redis::Connection& conn, std::vector<std::string> tenants, EventFilter filter,
                 int limit, std::string cursor, std::function<void(Result<EventPage>)> done);

// An event's document, every field as stored; nullopt when `tenant` keeps no
// document for `event_id`.
using EventDoc = std::map<std::string, std::string>;
void read_event(redis::Connection& conn, const std::string& tenant, const std::string& event_id,
                std::function<void(Result<std::optional<EventDoc>>)> done);

// The summary of a document read with read_event.
EventSummary summarize(const std::string& tenant, const EventDoc& doc);

struct SweepOptions {
  std::chrono::milliseconds done_retention{7LL * 86'400'000};   // done documents
  std::chrono::milliseconds dead_retention{30LL * 86'400'000};  // dead and discarded ones
  int batch = 500;                                              // documents per state per call
};
struct SweepResult {
  std::int64_t removed = 0;  // documents past their retention, with their entries
  std::int64_t orphans = 0;  // index entries whose document was gone
};
// One bounded pass for `tenant` at `now_ms`; removed documents also leave
// the queue's dead, retry and parked ZSETs. The orphan pass looks at up to
// 2,000 index entries per call and keeps its place in evx:sweep-cursor, so
// successive calls cover every index key.
void sweep_events(redis::Connection& conn, const std::string& tenant, std::int64_t now_ms,
                  const SweepOptions& options, std::function<void(Result<SweepResult>)> done);

// Indexes the documents written before the index (no ix field): derives
// object, key, code, errorno and updated_at, removes their TTL. Returns the
// number indexed; a second call after it completed costs one GET.
void backfill_event_index(redis::Connection& conn, const std::string& tenant,
                          std::function<void(Result<std::int64_t>)> done);

}  // namespace isync::queue
