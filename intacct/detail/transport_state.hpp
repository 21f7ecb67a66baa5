// Internals of intacct/transport: one kept-alive connection, and the state
// shared by the transport and its calls (TLS context, idle pool, registry of
// calls in flight for shutdown).
//
// Ownership: HttpTransport and every Call hold the TransportState; the pool
// holds idle Connections; a Connection holds nothing back (no cycle). The
// sweep timer's handler holds only a weak reference.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/core.hpp"
#include "intacct/transport.hpp"

namespace isync::intacct::detail {

using SteadyClock = std::chrono::steady_clock;

// One TCP (or TLS) connection to one scheme://host:port. Touched only on
// `strand`, or by the pool while no operation is pending on it.
struct Connection {
  explicit Connection(boost::asio::any_io_executor s) : strand(std::move(s)) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  boost::beast::tcp_stream& tcp() { return tls ? boost::beast::get_lowest_layer(*tls) : *plain; }
  // Without blocking: has the peer closed, reset, or sent unasked bytes
  // (a TLS alert, stray data) since the last reply? Any of these make the
  // connection unfit for the next request.
  bool peer_gone();
  // Closes the socket (no TLS close_notify: the server drops idle
  // connections without one too, and waiting for its answer would need a
  // deadline of its own). Call on `strand`.
  void close();

  boost::asio::any_io_executor strand;
  std::unique_ptr<boost::beast::tcp_stream> plain;                          // http://
  std::unique_ptr<boost::beast::ssl_stream<boost::beast::tcp_stream>> tls;  // https://
  boost::beast::flat_buffer buffer;  // kept across replies; must be empty between them
  std::string pool_key;
  SteadyClock::time_point idle_since;
};

class TransportState : public std::enable_shared_from_this<TransportState> {
 public:
  TransportState(boost::asio::any_io_executor executor, TransportOptions options, Log& log);
  ~TransportState();
  TransportState(const TransportState&) = delete;
  TransportState& operator=(const TransportState&) = delete;

  const TransportOptions& options() const { return options_; }
  Log& log() { return log_; }
  const boost::asio::any_io_executor& executor() const { return executor_; }
  boost::asio::ssl::context& tls_context() { return tls_; }
  // Non-empty when the trust store could not be loaded: every https call
  // then fails with this message.
  const std::string& tls_setup_error() const { return tls_setup_error_; }

  // Registers a call in flight; `abort` must be safe to call from any
  // thread. Returns 0 (not registered) after shutdown.
  std::uint64_t register_call(std::function<void()> abort);
  void unregister_call(std::uint64_t id);

  // The most recently pooled live connection for `key`, or null. Expired and
  // dead ones met on the way are closed.
  std::shared_ptr<Connection> take_idle(const std::string& key);
  // Pools a connection that just finished a keep-alive exchange (or closes
  // it when the pool is full or shut down).
  void give_back(std::shared_ptr<Connection> connection);
  // Closes a connection on its own strand.
  static void retire(std::shared_ptr<Connection> connection);

  void count_opened() { opened_.fetch_add(1, std::memory_order_relaxed); }
  std::size_t opened() const { return opened_.load(std::memory_order_relaxed); }
  std::size_t idle() const;
  bool is_shut_down() const;

  void shutdown();

 private:
  void arm_sweep(SteadyClock::time_point at);  // on sweep_strand_
  void sweep();                                // on sweep_strand_

  boost::asio::any_io_executor executor_;
  const TransportOptions options_;
  Log& log_;
  boost::asio::ssl::context tls_;
  std::string tls_setup_error_;
  std::atomic<std::size_t> opened_{0};

  boost::asio::any_io_executor sweep_strand_;
  boost::asio::steady_timer sweep_timer_;            // on sweep_strand_
  std::optional<SteadyClock::time_point> sweep_at_;  // guarded by mu_

  mutable std::mutex mu_;
  bool shut_down_ = false;
  std::uint64_t next_call_id_ = 1;
  std::map<std::uint64_t, std::function<void()>> calls_;
  std::map<std::string, std::vector<std::shared_ptr<Connection>>> idle_;  // oldest first
  std::size_t idle_count_ = 0;
};

}  // namespace isync::intacct::detail
