// Internals of intacct/client: the hub's shared state, the per-tenant queue
// and the call state machine. Everything marked "strand" is touched only on
// HubCore::strand().
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.hpp"
#include "intacct/client.hpp"

namespace isync::intacct::detail {

struct PendingCall {
  std::vector<Function> functions;
  bool unique_id = false;
  std::function<void(CallOutcome)> done;
  CallOptions options;
};

struct TenantState {
  TenantAccess access;      // immutable after add_tenant
  std::string fingerprint;  // credentials_fingerprint(access, options)
  std::string entity_key;   // entity or "-"
  std::atomic<bool> circuit_open{false};
  Gauge* circuit_gauge = nullptr;
  Gauge* budget_used = nullptr;
  Gauge* budget_limit = nullptr;
  // strand
  std::deque<PendingCall> queue;  // live calls
  int in_flight = 0;
  bool ready = false;  // in HubCore::ready_
  // Background calls: a queue and cap of their own, so that one waiting for
  // a slot (up to background_slot_wait) never holds a live call's place.
  std::deque<PendingCall> background;
  int background_in_flight = 0;
};

// Month of epoch milliseconds, UTC: "YYYY-MM".
std::string utc_month(std::int64_t epoch_ms);

// API transactions of one answered request (PROTOCOL.md §8): 1 per read-type
// function that ran, 1 per record a successful create/update/delete changed.
std::int64_t api_transactions(const std::vector<Function>& functions, const Response& response);

class HubCore : public std::enable_shared_from_this<HubCore> {
 public:
  HubCore(boost::asio::any_io_executor ex, std::shared_ptr<redis::Connection> conn,
          std::shared_ptr<HttpTransport> transport, ClientOptions options, Metrics& metrics,
          Clock& clock, Log& log);

  const boost::asio::any_io_executor& strand() const { return strand_; }
  redis::Connection& redis() { return *redis_; }
  HttpTransport& transport() { return *transport_; }
  const ClientOptions& options() const { return options_; }
  Metrics& metrics() { return metrics_; }
  Clock& clock() { return clock_; }
  Log& log() { return log_; }

  std::shared_ptr<TenantState> add(TenantAccess access);
  std::shared_ptr<TenantState> find(std::string_view tenant) const;

  // Any thread: queues the call for its tenant (or fails it after shutdown).
  void enqueue(std::shared_ptr<TenantState> tenant, PendingCall call);
  // Strand: a call of `tenant` finished.
  void finished(const std::shared_ptr<TenantState>& tenant, const CallOptions& options);
  void shutdown();
  bool stopped() const { return stopped_; }

  // Accounting, any thread.
  void count(const TenantState& t, std::string_view function, std::string_view outcome,
             std::uint64_t n = 1);
  void observe(std::string_view function, double seconds);
  void add_budget(const std::shared_ptr<TenantState>& t, std::int64_t transactions);
  // Strand: marks the circuit open in Redis, logs and sets the gauge, then
  // calls `then` (on the strand), so the caller hears of the failure only
  // once every process will refuse the tenant's calls.
  void open_circuit(const std::shared_ptr<TenantState>& t, const IntacctError& why,
                    std::function<void()> then);
  void set_circuit(TenantState& t, bool open);

 private:
  void pump();                                                        // strand
  void start_background(const std::shared_ptr<TenantState>& tenant);  // strand
  static void fail_queued(PendingCall& call, std::string why);

  boost::asio::any_io_executor strand_;
  std::shared_ptr<redis::Connection> redis_;
  std::shared_ptr<HttpTransport> transport_;
  ClientOptions options_;
  Metrics& metrics_;
  Clock& clock_;
  Log& log_;

  mutable std::mutex mu_;  // guards tenants_
  std::map<std::string, std::shared_ptr<TenantState>, std::less<>> tenants_;
  std::atomic<bool> stopped_{false};
  // strand: the tenants with queued calls, served round-robin
  std::deque<std::shared_ptr<TenantState>> ready_;
};

// Runs one call: slot, session, request, retries, accounting. Lives until
// its last continuation; every step runs on the hub's strand.
void start_call(std::shared_ptr<HubCore> hub, std::shared_ptr<TenantState> tenant,
                PendingCall call);

// A transient error for failures that are not Intacct's (Redis, throttle).
IntacctError local_error(std::string what);

}  // namespace isync::intacct::detail
