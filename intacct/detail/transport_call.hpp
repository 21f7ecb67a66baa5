// Internals of intacct/transport: one POST, from connection to reply.
//
// A Call runs on one strand for its whole life: the strand of the pooled
// connection it reuses, or a new one. A retry after a stale connection
// builds the fresh connection on that same strand, so abort() always knows
// where to go. Every handler holds the Call (shared_from_this) and checks
// its error_code first; `done` is posted to the transport's executor once.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "intacct/detail/transport_state.hpp"
#include "intacct/detail/transport_url.hpp"

namespace isync::intacct::detail {

class Call : public std::enable_shared_from_this<Call> {
 public:
  using Done = std::function<void(TransportResult)>;

  Call(std::shared_ptr<TransportState> state, TransportUrl url, std::string body,
       std::chrono::milliseconds timeout, Done done, boost::asio::any_io_executor strand);
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  // REQUIRES: `strand` is `pooled->strand` when `pooled` (a reused
  // connection) is given; otherwise a new connection is opened on `strand`.
  // Never completes inline.
  void start(std::shared_ptr<Connection> pooled);
  // From any thread: fails the call as soon as its strand runs this.
  void abort();

 private:
  void begin(std::shared_ptr<Connection> pooled);
  void on_abort();
  void open_fresh();
  void drop_connection();
  template <class F>
  void with_stream(F&& f);
  void on_resolve(boost::system::error_code ec, boost::asio::ip::tcp::resolver::results_type r);
  void on_connect(boost::system::error_code ec);
  void on_handshake(boost::system::error_code ec);
  void do_write();
  void on_write(boost::system::error_code ec);
  void on_read(boost::system::error_code ec);

  void fail(TransportFailure failure, std::string message);
  void finish(TransportResult result);

  std::shared_ptr<TransportState> state_;
  TransportUrl url_;
  std::chrono::milliseconds timeout_;
  Done done_;
  boost::asio::any_io_executor strand_;
  std::uint64_t id_ = 0;  // registration with the state, for shutdown

  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer resolve_timer_;  // connect_timeout during the resolve
  SteadyClock::time_point connect_deadline_;
  SteadyClock::time_point exchange_deadline_;
  SteadyClock::time_point started_;

  boost::beast::http::request<boost::beast::http::string_body> request_;
  std::optional<boost::beast::http::response_parser<boost::beast::http::string_body>> parser_;
  std::shared_ptr<Connection> connection_;
  bool reused_ = false;    // connection_ came from the pool
  bool retried_ = false;   // already moved once to a fresh connection
  bool sent_ = false;      // the whole request was written
  bool aborted_ = false;   // shutdown() reached this call
  bool finished_ = false;  // done_ has been scheduled
};

}  // namespace isync::intacct::detail
