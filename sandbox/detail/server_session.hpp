// One HTTP/1.1 connection to a sandbox listener: read a request (header and
// body limits, read deadline), ask the hub for the answer, wait the answer's
// delay on a timer, write (write deadline), repeat while keep-alive holds.
// Everything runs on the connection's own strand; one read or one write is in
// flight at a time.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <memory>
#include <optional>

#include "sandbox/detail/server_hub.hpp"

namespace isync::sandbox::detail {

class Session : public std::enable_shared_from_this<Session> {
 public:
  // REQUIRES: `socket` runs on a strand of its own.
  Session(boost::asio::ip::tcp::socket socket, std::shared_ptr<Hub> hub, ListenerKind kind);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start();
  // Stopping: an idle connection closes now, a busy one after its answer.
  void drain();
  // Drain deadline passed.
  void force_close();

 private:
  void do_read();
  void on_read(boost::beast::error_code ec);
  void respond(Answer answer);
  void do_write();
  void on_write(boost::beast::error_code ec);
  void close();

  boost::beast::tcp_stream stream_;
  std::shared_ptr<Hub> hub_;
  ListenerKind kind_;
  boost::asio::steady_timer delay_timer_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  boost::beast::http::response<boost::beast::http::string_body> response_;
  std::chrono::steady_clock::time_point started_;
  std::string log_method_, log_path_, log_note_;
  bool busy_ = false;         // a request is being answered
  bool close_after_ = false;  // no keep-alive after this answer
  bool closed_ = false;
};

}  // namespace isync::sandbox::detail
