// WorkerPool's state and operations, shared by worker_pool.cpp (starting,
// reading, handling, stopping) and worker_reclaim.cpp (the retry mover,
// reclaim and poison redelivery). Every member function runs on strand_,
// and every Redis or handler completion is posted back to it; no locks.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "queue/activity.hpp"
#include "queue/detail/outcomes.hpp"
#include "queue/queue.hpp"
#include "redis/redis.hpp"

namespace isync::queue {

struct WorkerPool::Impl : std::enable_shared_from_this<Impl> {
  using Reply = redis::Reply;
  using SteadyClock = std::chrono::steady_clock;
  using ms = std::chrono::milliseconds;

  // One stream entry as read: id and field/value pairs.
  struct Entry {
    std::string id;
    std::map<std::string, std::string> fields;
  };

  struct Worker {
    std::string consumer;
    std::shared_ptr<redis::Connection> conn;
    int in_flight = 0;
    bool reading = false;
  };

  struct Job {
    Delivery delivery;
    std::string raw_envelope;
    std::string decode_error;  // non-empty: the envelope could not be decoded
    int* in_flight;            // the worker's counter, or reclaim_in_flight_
    SteadyClock::time_point started;
  };

  static Entry parse_entry(const Reply& r);

  Impl(boost::asio::any_io_executor ex, redis::Endpoint endpoint, std::vector<std::string> tenants,
       Handler& handler, WorkerOptions options, Metrics& metrics, Clock& clock, Log& log);

  // ---- starting (worker_pool.cpp) ----
  std::shared_ptr<redis::Connection> make_conn(const std::string& name, ms block);
  void start();
  void ensure_groups();
  void groups_ready();

  // ---- reading (worker_pool.cpp) ----
  void read(size_t i);
  void on_read(size_t i, boost::system::error_code ec, const Reply& r);

  // ---- handling (worker_pool.cpp) ----
  std::shared_ptr<Job> make_job(int* in_flight, const std::string& consumer,
                                const std::string& stream, const std::string& tenant, Entry& entry);
  void dispatch(int* in_flight, const std::string& consumer, const std::string& stream,
                Entry entry);
  void settle(const std::shared_ptr<Job>& job, Outcome o);
  void move(const std::shared_ptr<Job>& job, const Outcome& o, std::int64_t now);
  void finished(const std::shared_ptr<Job>& job);

  // ---- timers: retry mover and reclaim (worker_reclaim.cpp) ----
  void schedule_mover();
  void schedule_reclaim();
  void reclaim(const std::string& stream, const std::string& tenant);
  void reclaimed(const std::string& stream, const std::string& tenant, Entry entry);
  void redeliver(const std::string& stream, Entry entry, long long deliveries);

  // ---- activity counts (worker_pool.cpp) ----
  void schedule_activity_flush();

  // ---- stopping (worker_pool.cpp) ----
  void stop(std::function<void()> stopped);
  void maybe_stopped();
  void shutdown_now();

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  redis::Endpoint endpoint_;
  Handler& handler_;
  WorkerOptions options_;
  Metrics& metrics_;
  Clock& clock_;
  Log& log_;
  boost::asio::steady_timer mover_timer_;
  boost::asio::steady_timer reclaim_timer_;
  boost::asio::steady_timer group_timer_;
  ms group_retry_{5};  // the next XGROUP CREATE retry's delay (doubles to 500 ms)
  boost::asio::steady_timer activity_timer_;
  std::mt19937_64 rng_;
  ActivityCounter activity_;
  // isync_event_age_at_apply_seconds: accept (envelope received_at) to done.
  Histogram& age_at_apply_;

  std::vector<std::string> tenants_;
  std::map<std::string, std::string> stream_tenant_;
  std::string base_;
  std::shared_ptr<redis::Connection> ops_;
  std::vector<Worker> workers_;
  int reclaim_in_flight_ = 0;
  int total_in_flight_ = 0;
  bool started_ = false, running_ = false, stopping_ = false, finished_ = false;
  bool final_flush_ = false, final_flush_done_ = false;  // stop()'s last activity flush
  std::function<void()> stopped_cb_;
};

}  // namespace isync::queue
