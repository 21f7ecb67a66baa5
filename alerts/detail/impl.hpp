// Internal to alerts/: the Alerter's state, shared by its files — the check
// pass (check.cpp) and the delivery (delivery.cpp). Everything here runs on
// `strand`; Redis and transport callbacks come back to it with on_strand().
#pragma once

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "alerts/alerts.hpp"
#include "intacct/transport.hpp"

namespace isync::alerts {

struct Alerter::Impl : std::enable_shared_from_this<Impl> {
  Impl(boost::asio::any_io_executor ex, std::shared_ptr<redis::Connection> c,
       std::vector<TenantPolicy> t, Options o, Metrics& m, Clock& ck, Log& l);

  boost::asio::any_io_executor strand;
  std::shared_ptr<redis::Connection> conn;
  std::vector<TenantPolicy> tenants;
  Options options;
  Metrics& metrics;
  Clock& clock;
  Log& log;
  std::shared_ptr<intacct::HttpTransport> transport;
  boost::asio::steady_timer check_timer;
  boost::asio::steady_timer retry_timer;
  bool stopping = false;

  template <class F>
  void on_strand(F f) {
    boost::asio::post(strand, std::move(f));
  }

  // ---- checks (check.cpp) ----
  bool checking = false;
  std::vector<std::function<void()>> after_check;  // check_now callers waiting
  bool check_again = false;                        // a check_now came during a pass
  void schedule_check();
  void begin_check();
  void end_check();
  void run_checks(std::function<void()> done);
  // Each calls `arrive` once; `raise` queues an alert this process won.
  void check_digest(const std::string& tenant, std::int64_t dead_now, std::int64_t now_ms,
                    std::function<void(Alert)> raise, std::function<void()> arrive);
  void check_runs(const std::string& tenant, std::int64_t now_ms, std::function<void(Alert)> raise,
                  std::function<void()> arrive);

  // ---- delivery (delivery.cpp) ----
  struct Item {
    Alert alert;
    std::string body;
    std::chrono::steady_clock::time_point raised;
    int attempt = 0;  // posts made so far
  };
  std::deque<Item> outbox;
  std::atomic<std::size_t> outbox_size{0};  // outbox.size(), for queued() from any thread
  bool posting = false;                     // a post is in flight
  bool waiting = false;                     // the head waits for its retry
  void enqueue(Alert alert);
  void pop();  // the head is done with
  void pump();
  void on_posted(intacct::TransportResult result);
  void count(Kind kind, std::string_view outcome);
  std::map<std::pair<Kind, std::string>, Counter*> counters;
};

}  // namespace isync::alerts
