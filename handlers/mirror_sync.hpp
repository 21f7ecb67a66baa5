// handlers/mirror_sync — the mirror's side of the daily reconciliation
// (PRODUCT.md §4): the per-tenant RECORDNO index, and writes of records read
// from Intacct through the same apply script as smart events.
//
// Contract:
//  * The index (format in detail/mirror_index.hpp) holds, per tenant and
//    object (CUSTOMER, ARINVOICE, ARPYMT), every live record (no tombstones,
//    no draft markers) by RECORDNO with its version, and for ARINVOICE the
//    mirrored TOTALDUE text. Every run of the apply script — event or
//    reconcile, whatever it decides — sets the record's entry from what the
//    record then holds, in the same script (every other script writing a
//    rec: key must call isync_index too, detail/mirror_index.hpp).
//    index_page drops (and leaves out) any entry whose rec: key is missing or
//    not live, so an expired or deleted record never shows.
//  * Records written before the index existed are added by a one-time,
//    resumable back-fill (backfill_step, run_backfill). Until it has marked
//    the tenant ready, the index may miss records: reconcile answers
//    index_building. The back-fill refuses to run while a process of an older
//    version (one that writes records without indexing them; its mirror
//    connection is named "isync-handler") is connected.
//  * apply_read / apply_gone / apply_draft run the apply script with audit
//    source `source` and no stream entry: the ordering rules of events hold,
//    so a read applied at its row's WHENMODIFIED never overwrites a newer
//    event that landed meanwhile (the answer is then "ignored").
//  * Fence: a write made with a non-empty Fence::token changes nothing when
//    Fence::lock_key (a key of the same tenant) no longer holds exactly that
//    token; the answer is then "fenced".
//  * Errors as values: Error{"invalid_argument"} for an unknown object, a
//    RECORDNO that is not a positive integer, a limit outside 1..10000, a row
//    without a valid WHENMODIFIED, or a fence key of another tenant;
//    Error{"unavailable", "Redis: …"} when Redis cannot be reached or fails
//    (for a write whose reply was lost, the message says it may have been
//    applied: the scripts are idempotent, so repeating it is safe);
//    Error{"older_writer"} from the back-fill (above).
//  * Thread-safe. Callbacks run on the connection's strand, exactly once, and
//    never throw. Callbacks do not need the MirrorSync object alive (they hold
//    the connection); run_backfill's loop ends with it (stop() also frees
//    the back-fill lock at once instead of letting it expire).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/core.hpp"
#include "handlers/fence.hpp"
#include "handlers/handlers.hpp"
#include "intacct/intacct.hpp"
#include "redis/redis.hpp"

namespace isync::handlers {

struct IndexEntry {
  std::string recordno;
  std::int64_t version = 0;  // 0: a payment written by the posted script, not read yet
  std::string totaldue;      // ARINVOICE only: the mirrored TOTALDUE text ("" when none)
};

struct BackfillStatus {
  bool ready = false;        // the tenant's index holds every record (for good)
  std::int64_t scanned = 0;  // record keys visited so far (SCAN may visit one twice)
};

class MirrorSync {
 public:
  // `ex`: where the back-fill loop's timers run. `clock` and `log` must
  // outlive the object and every callback.
  MirrorSync(boost::asio::any_io_executor ex, std::shared_ptr<redis::Connection> conn,
             MirrorOptions options, Clock& clock, Log& log);
  ~MirrorSync();
  MirrorSync(const MirrorSync&) = delete;
  MirrorSync& operator=(const MirrorSync&) = delete;

  // Entries of `object` with RECORDNO in (after, upto] (no upper bound when
  // upto is nullopt), ascending, at most `limit` (1..10000). An entry whose
  // rec: key is missing or not live is left out of the answer (and removed
  // from the index); fewer than `limit` entries means the range is
  // exhausted. One round trip (a script).
  void index_page(std::string tenant, std::string object, std::int64_t after,
                  std::optional<std::int64_t> upto, int limit,
                  std::function<void(Result<std::vector<IndexEntry>>)> done);

  // A record read from Intacct, applied by the same apply script as events
  // (kind read, or readdraft for an ARINVOICE whose STATE is Draft), at the
  // row's own WHENMODIFIED, audit source `source`, no stream entry to ack.
  // `read_at_ms`: when the read was sent. Result: the script's decision
  // (applied | ignored | removed | tombstoned | fenced …).
  void apply_read(std::string tenant, std::string object, std::string recordno, intacct::Row row,
                  std::int64_t read_at_ms, std::string source, Fence fence,
                  std::function<void(Result<std::string>)> done);

  // A read found no such record: kind gone (a tombstone, keeping the newer
  // of the stored version and the read's time).
  void apply_gone(std::string tenant, std::string object, std::string recordno,
                  std::int64_t read_at_ms, std::string source, Fence fence,
                  std::function<void(Result<std::string>)> done);

  // A listed Draft ARINVOICE the mirror holds live: removed as an event
  // would (kind draft at `version`, `whenmodified` its text). As with events,
  // a live record at the same version answers "reread" (only a read settles
  // that).
  void apply_draft(std::string tenant, std::string recordno, std::int64_t version,
                   std::string whenmodified, std::string source, Fence fence,
                   std::function<void(Result<std::string>)> done);

  // The one-time back-fill of the index for records written before it
  // existed. State in isync:{t}:idx-state (hash: cursor, scanned, ready).
  void backfill_status(std::string tenant, std::function<void(Result<BackfillStatus>)> done);

  // One step: SCAN a batch (~500) of the tenant's rec: keys and index each
  // with a script that reads the record's state in the same call; the cursor
  // and count are kept in Redis so the back-fill resumes after a crash; when
  // the scan ends the tenant's index is marked ready (for good). Refuses with
  // Error{"older_writer", …} while CLIENT LIST shows a connection named
  // exactly "isync-handler" (the name older versions give their
  // mirror-writing connection; this version's is "isync-handler-2"). Once
  // ready, answers at once without scanning.
  void backfill_step(std::string tenant, std::function<void(Result<BackfillStatus>)> done);

  // In serve: runs the back-fill of these tenants in the background until
  // each is ready, one process at a time per tenant (a short Redis lock,
  // isync:{t}:idx-lock, renewed at each step); retries after errors, pauses
  // between steps. Call at most once. stop() ends it.
  void run_backfill(std::vector<std::string> tenants);
  void stop();

  // Internal (handlers/detail/mirror_sync_core.hpp, handlers/mirror_backfill.cpp).
  struct Core;
  struct Backfill;

 private:
  std::shared_ptr<Core> core_;
  std::shared_ptr<Backfill> backfill_;
};

}  // namespace isync::handlers
