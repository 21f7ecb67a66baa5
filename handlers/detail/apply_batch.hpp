// Applies snapshot, draft and delete events to the mirror several at a time:
// one apply_batch_script call (detail/mirror_lua.hpp) for up to
// MirrorOptions::apply_batch events of one tenant. Internal to handlers/.
//
// Contract:
//  * apply() answers exactly what run_apply would for that event alone: the
//    script's decision, "error:lost:<why>" when the call was sent and its
//    reply lost (it may have committed), or "error:<why>". Each event keeps
//    its own decision, ack, audit and index entry: the batch script runs the
//    one-event apply for each, in the order apply() was called.
//  * Group commit: while fewer than kMaxInFlight calls are in flight an event
//    is sent at once (alone when the queue is quiet); otherwise it waits for
//    the next call, which takes up to `apply_batch` waiting events of its
//    tenant and at most kMaxBatchBytes of arguments. So batches grow only
//    under load, and latency at low load is one round trip as before.
//  * An event whose apply raised an error inside the batch is run again
//    alone (run_apply); so is every event of a call Redis answered with an
//    error. One poison event never fails its neighbours.
//  * A call holds Redis for about `budget` at most: the script stops between
//    events once it has run that long and answers the rest "later"; they go
//    back to the front of their tenant's queue for the next call. A call
//    sent meanwhile may then apply later events first: like events read by
//    two workers, two events of one record applied out of order leave what
//    the version rules say (the older one is ignored), never the older data.
//  * Thread-safe; `then` runs on the connection's strand, never under the
//    batcher's lock.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "handlers/detail/apply_call.hpp"
#include "redis/redis.hpp"

namespace isync::handlers::detail {

class ApplyBatcher : public std::enable_shared_from_this<ApplyBatcher> {
 public:
  // Calls sent and not answered yet, at most.
  static constexpr int kMaxInFlight = 2;
  // Arguments of one call, at most (bytes); a larger event goes alone.
  static constexpr std::size_t kMaxBatchBytes = 256 * 1024;

  // How long one call may run before it leaves its remaining events for the
  // next (a batch holds Redis under 2 ms).
  static constexpr std::chrono::microseconds kDefaultBudget{1000};

  ApplyBatcher(std::shared_ptr<redis::Connection> conn, int max_events,
               std::chrono::microseconds budget = kDefaultBudget);

  // `keys` and `args`: from apply_inputs for one event of `tenant`.
  void apply(const std::string& tenant, std::vector<std::string> keys,
             std::vector<std::string> args, std::function<void(std::string decision)> then);

 private:
  struct Item {
    std::vector<std::string> keys, args;
    std::size_t bytes = 0;
    std::function<void(std::string)> then;
  };
  struct Batch {
    std::string tenant;
    std::vector<Item> items;
  };

  // REQUIRES: mu_ held. Takes the next batch of the tenant waiting longest.
  bool take(Batch& out);
  void send(Batch batch);
  void answered(Batch batch, boost::system::error_code ec, const redis::Reply& reply);
  // The call of `tenant` ended; `later` (in order) waits first for the next.
  void finished(const std::string& tenant, std::vector<Item> later);
  void next();

  std::shared_ptr<redis::Connection> conn_;
  const std::size_t max_events_;
  const std::string budget_us_;
  std::mutex mu_;
  int in_flight_ = 0;
  bool sending_ = false;  // a thread is in next()'s sending loop
  // Waiting events per tenant (one script call holds one tenant's keys).
  std::map<std::string, std::vector<Item>> waiting_;
  std::vector<std::string> order_;  // tenants with waiting events, oldest first
};

}  // namespace isync::handlers::detail
