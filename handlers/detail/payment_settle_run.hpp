// One PaymentSettler::settle run (see handlers/payment_settle.hpp). Internal
// to handlers/.
//
//  * payment_settle.cpp: the walk — the run's copy of the old unsettled
//    entries, pages of 100, the peek, the lease, the pools, the end.
//  * payment_settle_act.cpp: what is done with each entry — the batched
//    reads, adopt, reverse, make due, release.
//
// A SettleRun lives, held by its own async steps (shared_from_this), until it
// has called `done` once. Its steps run strictly one after another (each
// starts the next from its completion), on the Redis strand or the thread
// `call` completes on, so its members need no lock.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "handlers/detail/payment_job.hpp"
#include "handlers/payment_settle.hpp"

namespace isync::handlers::detail {

// Read-backs and RECORDNOs per Intacct call.
inline constexpr std::size_t kSettleBatch = 100;

// One ledger entry, as the peek (and the lease) found it.
struct SettleEntry {
  std::string payment_id, state, event, recordno, body, invoice, lock;
  std::int64_t retry_due = -1;  // its event's score in `retry`; -1 = not retrying
  bool dead = false;            // its event is a dead letter
  bool held = false;            // at the peek, someone held its lease
};

class SettleRun : public std::enable_shared_from_this<SettleRun> {
 public:
  using Next = std::function<void()>;
  SettleRun(std::shared_ptr<redis::Connection> conn, const PaymentOptions& options, Clock& clock,
            Log& log, std::string tenant, CallFn call, Fence fence,
            std::chrono::milliseconds readback_wait, bool dry_run,
            std::function<void(Result<SettleCounts>)> done);
  void start();

 private:
  // ---- the walk (payment_settle.cpp) ----
  void next_page();
  void peeked(const redis::Reply& r);
  void next_entry();
  void taken(SettleEntry e, const redis::Reply& r);
  // Puts a leased (or, in a dry run, peeked) entry where it is settled.
  void route(SettleEntry e);
  void finish();
  // Ends the run: releases the leases still held, drops the run's copy, then
  // `done` with `result`.
  void end(Result<SettleCounts> result);
  void fail(std::string code, std::string message) { end(make_error(code, message)); }
  std::int64_t now() const { return clock_.now_ms(); }
  std::string key(const std::string& suffix) const;

  // ---- what is done (payment_settle_act.cpp) ----
  void flush_docs(Next then);
  void docs_answered(std::vector<SettleEntry> batch, const Answer& a, Next then);
  void flush_reversals(Next then);
  void reversals_answered(std::vector<SettleEntry> batch, const Answer& a, Next then);
  // Ends the run when a read failed; returns true then.
  bool read_failed(const Answer& a, const std::string& what, std::size_t payments);
  void adopt(const SettleEntry& e, const Posting& posting, const std::string& recordno, Next then);
  void reverse(const SettleEntry& e, Next then);
  void make_due(const SettleEntry& e, Next then);
  void release(const std::string& payment_id, Next then);
  // A settle script's answer: 1 done, 0 the lease or state moved on (busy),
  // -1 fenced (ends the run).
  bool settled(const SettleEntry& e, const redis::Reply& r, const char* what);
  void eval(const redis::Script& s, std::vector<std::string> keys, std::vector<std::string> args,
            std::function<void(const redis::Reply&)> then);

  std::shared_ptr<redis::Connection> conn_;
  PaymentOptions options_;
  Clock& clock_;
  Log& log_;
  std::string tenant_;
  CallFn call_;
  Fence fence_;
  std::chrono::milliseconds readback_wait_;
  bool dry_run_;
  std::function<void(Result<SettleCounts>)> done_;

  std::string owner_;     // who holds the leases this run takes
  std::string snapshot_;  // the run's copy of the entries to look at
  std::int64_t offset_ = 0;
  std::vector<SettleEntry> page_;
  std::size_t at_ = 0;
  bool last_page_ = false;
  std::vector<SettleEntry> docs_, reversals_;  // waiting for their batched read
  std::set<std::string> held_;                 // leases held (payment ids)
  SettleCounts counts_;
  bool ended_ = false;
};

}  // namespace isync::handlers::detail
