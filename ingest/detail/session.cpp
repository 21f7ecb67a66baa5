#include "ingest/detail/session.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "ingest/detail/text.hpp"

namespace isync::ingest::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;

namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// Paths quoted in 404 messages are cut: they come from the client.
std::string shown_path(std::string_view path) { return shorten(path, 128); }

}  // namespace

Session::Session(asio::ip::tcp::socket socket, std::shared_ptr<ServerState> state,
                 ListenerKind listener)
    : stream_(std::move(socket)), state_(std::move(state)), listener_(listener) {
  beast::error_code ec;
  auto ep = stream_.socket().remote_endpoint(ec);
  if (!ec) peer_ = normalise(ep.address());
}

Session::~Session() {
  state_->remove_session(this);
  state_->release();
}

void Session::start() {
  state_->add_session(this, weak_from_this());
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read_header(); });
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
  beast::error_code ec;
  stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  stream_.close();
}

void Session::do_read_header() {
  if (closed_) return;
  if (state_->draining()) return close();
  busy_ = false;
  close_after_ = false;
  retry_after_.clear();
  allow_.clear();
  cache_control_ = "no-store";
  headers_.clear();
  route_ = RouteMatch{};
  stripe_signature_.reset();
  trigger_.reset();
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(state_->options().header_limit));
  // No body limit while reading the header: Beast would otherwise fail the
  // header read on a large Content-Length, answering 413 before 404/401.
  parser_->body_limit(boost::none);
  stream_.expires_after(state_->options().read_timeout);
  http::async_read_header(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read_header(ec); });
}

void Session::on_read_header(beast::error_code ec) {
  if (ec) {
    // End of stream, a timeout (slowloris), a close by drain: nothing to answer.
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || closed_ || buffer_.size() == 0) {
      return close();
    }
    started_ = std::chrono::steady_clock::now();
    busy_ = true;
    close_after_ = true;
    if (ec == http::error::header_limit) {
      return respond_error(431, "header_too_large",
                           "the request header is larger than " +
                               std::to_string(state_->options().header_limit) + " bytes");
    }
    return respond_error(400, "malformed_request", "the request is not valid HTTP/1.1");
  }
  started_ = std::chrono::steady_clock::now();
  busy_ = true;
  route_request();
}

void Session::route_request() {
  const auto& req = parser_->get();
  auto target = split_target(req.target());
  bool has_body = !parser_->is_done();
  // A body we do not read would be taken for the next request: close instead.
  close_after_ = has_body;
  const Options& opts = state_->options();
  route_ = listener_ == ListenerKind::public_listener
               ? match_public(req.method(), target.path, opts.noop_route)
               : match_admin(req.method(), target.path);
  if (route_.id == RouteId::none) {
    return respond_error(404, "not_found", "no route for " + shown_path(target.path));
  }
  if (route_.id == RouteId::console_page || route_.id == RouteId::console_asset ||
      route_.id == RouteId::console_login || route_.id == RouteId::console_session ||
      route_.id == RouteId::console_logout) {
    add_console_headers();
  }
  if (!route_.method_allowed) {
    allow_ = std::string(route_.allow);
    return respond_error(405, "method_not_allowed",
                         "method " + std::string(req.method_string().substr(0, 16)) +
                             " is not allowed here; use " + allow_);
  }
  switch (route_.id) {
    case RouteId::healthz:
      return respond(200, R"({"status":"ok"})");
    case RouteId::readyz: {
      if (state_->draining()) {
        retry_after_ = std::to_string(opts.retry_after.count());
        return respond(503, R"({"status":"unavailable","reason":"draining"})");
      }
      state_->probe_writable([self = shared_from_this()](bool ok, std::string why) {
        asio::post(self->stream_.get_executor(), [self, ok, why = std::move(why)] {
          if (ok) return self->respond(200, R"({"status":"ok"})");
          self->retry_after_ = std::to_string(self->state_->options().retry_after.count());
          std::string body = R"({"status":"unavailable","reason":)";
          append_json_string(body, why);
          body += '}';
          self->respond(503, std::move(body));
        });
      });
      return;
    }
    case RouteId::events:
    case RouteId::noop:
      return route_webhook();
    case RouteId::stripe:
      return route_stripe();
    case RouteId::triggers:
      return route_triggers();
    case RouteId::metrics:
    case RouteId::status:
    case RouteId::mirror_record:
    case RouteId::mirror_find:
    case RouteId::reconcile_start:
    case RouteId::reconcile_runs:
    case RouteId::reconcile_run:
    case RouteId::events_api:
      return route_admin();
    case RouteId::console_page:
    case RouteId::console_asset:
    case RouteId::console_login:
    case RouteId::console_session:
    case RouteId::console_logout:
      return route_console();
    case RouteId::none:
      break;
  }
  respond_error(404, "not_found", "no route for " + shown_path(target.path));
}

void Session::do_read_body() {
  const auto& req = parser_->get();
  parser_->body_limit(body_limit());
  close_after_ = false;
  auto read = [self = shared_from_this()] {
    if (self->parse_buffered_body()) return;
    self->stream_.expires_after(self->state_->options().read_timeout);
    http::async_read(self->stream_, self->buffer_, *self->parser_,
                     [self](beast::error_code ec, std::size_t) { self->on_read_body(ec); });
  };
  if (iequals(req[http::field::expect], "100-continue")) {
    stream_.expires_after(state_->options().write_timeout);
    asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                      [self = shared_from_this(), read](beast::error_code ec, std::size_t) {
                        if (ec) return self->close();
                        read();
                      });
    return;
  }
  read();
}

bool Session::parse_buffered_body() {
  // What http::async_read would do first, without its completion's trip
  // through the strand: feed the parser what is already buffered.
  while (true) {
    if (parser_->is_done()) {
      on_read_body({});
      return true;
    }
    if (buffer_.size() == 0) return false;
    beast::error_code ec;
    auto used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == http::error::need_more) return false;
    if (ec) {
      on_read_body(ec);
      return true;
    }
    if (used == 0) return false;
  }
}

void Session::on_read_body(beast::error_code ec) {
  if (ec) {
    close_after_ = true;
    if (ec == http::error::body_limit && route_.id == RouteId::triggers) {
      return refuse_trigger(413, "payload_too_large", "payload_too_large",
                            "the body is larger than " + std::to_string(body_limit()) + " bytes");
    }
    if (ec == http::error::body_limit) {
      return respond_error(413, "payload_too_large",
                           "the body is larger than " + std::to_string(body_limit()) + " bytes");
    }
    if (ec == beast::error::timeout || ec == asio::error::operation_aborted || closed_ ||
        ec == http::error::end_of_stream || ec == http::error::partial_message) {
      return close();
    }
    return respond_error(400, "malformed_body", "the request body framing is not valid HTTP/1.1");
  }
  if (route_.id == RouteId::stripe) return handle_stripe_body();
  if (route_.id == RouteId::triggers) return handle_trigger_body();
  if (route_.id == RouteId::reconcile_start) return handle_reconcile_start();
  if (route_.id == RouteId::events_api) return handle_events_api();
  if (route_.id == RouteId::console_login) return handle_console_login();
  handle_events_body();
}

void Session::respond_error(unsigned status, std::string_view code, std::string_view message) {
  respond(status, error_body(code, message));
}

void Session::respond(unsigned status, std::string body, std::string_view content_type) {
  if (closed_) return;
  const auto& req = parser_->get();
  keep_alive_ = !close_after_ && !state_->draining() && req.keep_alive();
  const unsigned version = req.version() == 10 ? 10 : 11;
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  if (metrics_.requests == nullptr || status != metrics_status_ || route_.route != metrics_route_) {
    metrics_ = state_->request_metrics(listener_, route_.route, status);
    metrics_status_ = status;
    metrics_route_ = route_.route;
  }
  metrics_.requests->inc();
  metrics_.seconds->observe(seconds);
  stream_.expires_after(state_->options().write_timeout);
  if (headers_.empty() && status >= 200 && status <= 999 && status != 204 && status != 304) {
    // The bytes Beast's serializer would write for the answer built below,
    // written by hand: the serializer cost more than the rest of a
    // webhook's answer.
    head_ = response_head(version, status, content_type, cache_control_, allow_, retry_after_,
                          keep_alive_, body.size());
    body_ = std::move(body);
    std::array<asio::const_buffer, 2> bufs{asio::buffer(head_), asio::buffer(body_)};
    asio::async_write(
        stream_, bufs,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
    return;
  }
  res_ = {};
  res_.result(status);
  res_.version(version);
  res_.set(http::field::content_type, content_type);
  res_.set(http::field::cache_control, cache_control_);
  for (const auto& [name, value] : headers_) res_.set(name, value);
  if (!allow_.empty()) res_.set(http::field::allow, allow_);
  if (!retry_after_.empty()) res_.set(http::field::retry_after, retry_after_);
  res_.body() = std::move(body);
  res_.keep_alive(keep_alive_);
  res_.prepare_payload();
  http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
    self->on_write(ec);
  });
}

void Session::on_write(beast::error_code ec) {
  busy_ = false;
  if (ec) return close();
  if (!keep_alive_) return linger_close();
  do_read_header();
}

void Session::linger_close() {
  if (closed_) return;
  // Half-close, then read and drop what the client still sends (an unread
  // body) for a short while: closing with unread bytes makes the kernel send
  // a reset, which can destroy our answer before the client has read it.
  beast::error_code ec;
  stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  if (ec) return close();
  lingered_ = 0;
  stream_.expires_after(
      std::min<std::chrono::milliseconds>(state_->options().read_timeout, std::chrono::seconds(2)));
  do_discard();
}

void Session::do_discard() {
  stream_.async_read_some(asio::buffer(discard_),
                          [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                            self->lingered_ += n;
                            if (ec || self->closed_ || self->lingered_ > kMaxLinger) {
                              return self->close();
                            }
                            self->do_discard();
                          });
}

}  // namespace isync::ingest::detail
