// State shared by the listeners and sessions of one Server. Sessions hold it
// by shared_ptr, so it outlives every connection and every Redis callback.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ingest/detail/auth_throttle.hpp"
#include "ingest/detail/http_util.hpp"
#include "ingest/ingest.hpp"

namespace isync::ingest::detail {

class Session;

enum class ListenerKind { public_listener, admin_listener };
std::string_view listener_name(ListenerKind kind);

struct TenantAuth {
  std::string token;       // secret
  std::string read_token;  // secret
  std::vector<Cidr> allow;
  std::vector<std::string> stripe_secrets;   // secret
  std::vector<std::string> trigger_secrets;  // secret
  std::string trigger_client_id;
  std::string company_id;
};

class ServerState : public std::enable_shared_from_this<ServerState> {
 public:
  ServerState(boost::asio::any_io_executor ex, Options options,
              std::vector<std::shared_ptr<queue::Producer>> producers,
              std::shared_ptr<handlers::MirrorReader> mirror, Metrics& metrics, Clock& clock,
              Log& log);

  // Parses tenants' CIDRs and the trusted proxies; an error names the entry.
  Result<void> prepare();

  const Options& options() const { return options_; }
  // The console's session key: Options::console_key, or derived from the
  // admin token when that is empty; "" when the admin API is closed.
  const std::string& console_key() const { return console_key_; }
  const TenantAuth* tenant(const std::string& id) const;
  const std::vector<Cidr>& trusted_proxies() const { return trusted_; }
  queue::Producer& producer();  // round-robin
  // Ready = every producer's connection is up and Redis accepts a write on
  // it: any request may be given any producer, so one that cannot write
  // would answer some webhooks 503. `why` is the first failure's reason.
  void probe_writable(std::function<void(bool ok, std::string why)> done);
  handlers::MirrorReader* mirror() const { return mirror_.get(); }
  Metrics& metrics() { return metrics_; }
  Clock& clock() { return clock_; }
  Log& log() { return log_; }
  AuthThrottle& admin_throttle() { return admin_throttle_; }
  boost::asio::any_io_executor executor() const { return ex_; }

  bool draining() const { return draining_.load(); }
  // Connection admission across both listeners; false = over max_connections.
  bool admit();
  void release();

  void add_session(Session* s, std::weak_ptr<Session> w);
  void remove_session(Session* s);
  // Starts draining; `drained` runs once on the executor.
  void drain(std::function<void()> drained);

  // The handles of isync_http_requests_total{listener,route,status} and
  // isync_http_request_seconds{listener,route}: looked up in the registry
  // (a lock, the label set built), so a session keeps the last ones it used.
  struct RequestMetrics {
    Counter* requests = nullptr;
    Histogram* seconds = nullptr;
  };
  RequestMetrics request_metrics(ListenerKind listener, std::string_view route, unsigned status);

 private:
  void finish_drain(bool timed_out);

  boost::asio::any_io_executor ex_;
  Options options_;
  std::string console_key_;  // secret
  std::unordered_map<std::string, TenantAuth> tenants_;
  std::vector<Cidr> trusted_;
  std::vector<std::shared_ptr<queue::Producer>> producers_;
  std::atomic<std::size_t> next_producer_{0};
  std::shared_ptr<handlers::MirrorReader> mirror_;
  Metrics& metrics_;
  Clock& clock_;
  Log& log_;

  AuthThrottle admin_throttle_;

  std::atomic<bool> draining_{false};
  std::atomic<std::size_t> connections_{0};

  // Guards the session registry and the drain callback.
  std::mutex mu_;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;
  std::function<void()> drained_;
  bool drain_done_ = false;
  boost::asio::strand<boost::asio::any_io_executor> strand_;  // owns drain_timer_
  boost::asio::steady_timer drain_timer_;
};

}  // namespace isync::ingest::detail
