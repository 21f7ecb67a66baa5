// One HTTP/1.1 connection to a sandbox listener (see
// detail/server_session.hpp): read with header and body limits and a
// deadline, answer through the hub, wait an injected delay on a timer, write,
// log one line per request. The hub is in server_hub.cpp.
#include "sandbox/detail/server_session.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace isync::sandbox::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::ip::tcp;

Session::Session(tcp::socket socket, std::shared_ptr<Hub> hub, ListenerKind kind)
    : stream_(std::move(socket)),
      hub_(std::move(hub)),
      kind_(kind),
      delay_timer_(stream_.get_executor()) {}

Session::~Session() { hub_->remove_session(this); }

void Session::start() {
  hub_->add_session(this, weak_from_this());
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
}

void Session::drain() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    if (!self->busy_) self->close();
  });
}

void Session::force_close() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] { self->close(); });
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  delay_timer_.cancel();
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
}

void Session::do_read() {
  busy_ = false;
  if (closed_) return;
  if (hub_->stopping()) return close();
  const auto& o = hub_->options();
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(o.header_limit));
  parser_->body_limit(kind_ == ListenerKind::gateway ? o.gateway_body_limit : o.control_body_limit);
  stream_.expires_after(o.read_timeout);
  http::async_read(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
}

void Session::on_read(beast::error_code ec) {
  started_ = std::chrono::steady_clock::now();
  if (ec) {
    // End of stream, an idle or stalled client, a close by stop(): no answer.
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || closed_ || !parser_->got_some()) {
      return close();
    }
    busy_ = true;
    close_after_ = true;
    log_method_ = "-";
    log_path_ = "-";
    auto limit = kind_ == ListenerKind::gateway ? hub_->options().gateway_body_limit
                                                : hub_->options().control_body_limit;
    if (ec == http::error::body_limit) {
      return respond(error_answer(413, "payload_too_large",
                                  "the body is larger than " + std::to_string(limit) + " bytes"));
    }
    if (ec == http::error::header_limit) {
      return respond(error_answer(431, "header_too_large",
                                  "the request header is larger than " +
                                      std::to_string(hub_->options().header_limit) + " bytes"));
    }
    return respond(error_answer(400, "malformed_request", "the request is not valid HTTP/1.1"));
  }
  busy_ = true;
  const auto& req = parser_->get();
  close_after_ = !req.keep_alive();
  log_method_ = std::string(req.method_string().substr(0, 16));
  log_path_ = shorten(split_target(req.target()).path, 128);
  respond(hub_->handle(kind_, req));
}

void Session::respond(Answer answer) {
  if (hub_->stopping()) close_after_ = true;
  response_ = {};
  response_.version(11);
  response_.result(answer.status);
  response_.set(http::field::server, "intacct-sandbox");
  if (!answer.body.empty() || answer.status != 204) {
    response_.set(http::field::content_type, answer.content_type);
  }
  if (!answer.allow.empty()) response_.set(http::field::allow, answer.allow);
  response_.keep_alive(!close_after_);
  response_.body() = std::move(answer.body);
  response_.prepare_payload();
  log_note_ = std::move(answer.note);
  if (answer.delay.count() <= 0) return do_write();
  // Injected latency: a timer, never a sleep on an io thread.
  delay_timer_.expires_after(answer.delay);
  delay_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->closed_) return self->close();
    self->do_write();
  });
}

void Session::do_write() {
  stream_.expires_after(hub_->options().write_timeout);
  http::async_write(
      stream_, response_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
}

void Session::on_write(beast::error_code ec) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  started_)
                .count();
  LogLine line;
  if (kind_ == ListenerKind::gateway) {
    line.str("functions", log_note_.empty() ? "-" : log_note_);
  } else {
    line.str("method", log_method_).str("path", log_path_);
  }
  line.num("status", response_.result_int()).num("ms", static_cast<std::int64_t>(ms));
  if (ec) line.str("error", ec.message());
  hub_->log().info(kind_ == ListenerKind::gateway ? "gateway request" : "control request", line);
  if (ec || close_after_) return close();
  do_read();
}

}  // namespace isync::sandbox::detail
