#include "intacct/detail/transport_call.hpp"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace isync::intacct::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;

namespace {

// Header bytes allowed in a reply: generous for a gateway's few headers, and
// never more than the whole reply cap.
constexpr std::uint32_t kMaxHeaderBytes = 64 * 1024;

std::int64_t ms_since(SteadyClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - t).count();
}

}  // namespace

Call::Call(std::shared_ptr<TransportState> state, TransportUrl url, std::string body,
           std::chrono::milliseconds timeout, Done done, asio::any_io_executor strand)
    : state_(std::move(state)),
      url_(std::move(url)),
      timeout_(timeout.count() > 0 ? timeout : state_->options().request_timeout),
      done_(std::move(done)),
      strand_(std::move(strand)),
      resolver_(strand_),
      resolve_timer_(strand_),
      started_(SteadyClock::now()) {
  request_.method(http::verb::post);
  request_.target(url_.target);
  request_.version(11);
  request_.set(http::field::host, url_.host_header);
  request_.set(http::field::user_agent, state_->options().user_agent);
  request_.set(http::field::content_type, state_->options().content_type);
  // No Accept-Encoding: gateway bodies are small, and an identity reply
  // spares a decompressor (with its own size caps) on this path.
  request_.set(http::field::accept, state_->options().content_type);
  request_.keep_alive(true);
  request_.body() = std::move(body);
  request_.prepare_payload();
}

void Call::start(std::shared_ptr<Connection> pooled) {
  std::weak_ptr<Call> weak = weak_from_this();
  id_ = state_->register_call([weak] {
    if (auto self = weak.lock()) self->abort();
  });
  asio::post(strand_, [self = shared_from_this(), pooled = std::move(pooled)]() mutable {
    self->begin(std::move(pooled));
  });
}

void Call::begin(std::shared_ptr<Connection> pooled) {
  if (id_ == 0 || aborted_) {
    if (pooled) TransportState::retire(std::move(pooled));
    fail(TransportFailure::connect_failed,
         "the transport is shut down; " + url_.where + " not called");
    return;
  }
  if (pooled) {
    connection_ = std::move(pooled);
    reused_ = true;
    do_write();
  } else {
    open_fresh();
  }
}

void Call::abort() {
  asio::dispatch(strand_, [self = shared_from_this()] { self->on_abort(); });
}

void Call::on_abort() {
  if (finished_) return;
  aborted_ = true;
  // The pending operation completes with operation_aborted and reports.
  resolver_.cancel();
  resolve_timer_.cancel();
  if (connection_) connection_->close();
}

template <class F>
void Call::with_stream(F&& f) {
  if (connection_->tls) {
    f(*connection_->tls);
  } else {
    f(*connection_->plain);
  }
}

void Call::open_fresh() {
  if (url_.tls && !state_->tls_setup_error().empty()) {
    fail(TransportFailure::connect_failed,
         state_->tls_setup_error() + " (calling " + url_.where + ")");
    return;
  }
  connection_ = std::make_shared<Connection>(strand_);
  connection_->pool_key = url_.pool_key;
  reused_ = false;
  if (url_.tls) {
    connection_->tls =
        std::make_unique<beast::ssl_stream<beast::tcp_stream>>(strand_, state_->tls_context());
    SSL* ssl = connection_->tls->native_handle();
    // SNI carries names only (RFC 6066 §3); the certificate must match the
    // host we dialled, as a name or as an IP address.
    bool ok = url_.ip_literal
                  ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url_.host.c_str()) == 1
                  : SSL_set_tlsext_host_name(ssl, url_.host.c_str()) == 1 &&
                        SSL_set1_host(ssl, url_.host.c_str()) == 1;
    if (!ok) {
      fail(TransportFailure::connect_failed, "cannot set up TLS for " + url_.where);
      return;
    }
  } else {
    connection_->plain = std::make_unique<beast::tcp_stream>(strand_);
  }
  connect_deadline_ = SteadyClock::now() + state_->options().connect_timeout;
  resolve_timer_.expires_at(connect_deadline_);
  resolve_timer_.async_wait([self = shared_from_this()](error_code ec) {
    if (!ec) self->resolver_.cancel();
  });
  auto flags = url_.ip_literal ? tcp::resolver::numeric_host | tcp::resolver::numeric_service
                               : tcp::resolver::numeric_service;
  resolver_.async_resolve(
      url_.host, std::to_string(url_.port), flags,
      [self = shared_from_this()](error_code ec, tcp::resolver::results_type r) {
        self->on_resolve(ec, std::move(r));
      });
}

void Call::on_resolve(error_code ec, tcp::resolver::results_type results) {
  resolve_timer_.cancel();
  if (aborted_)
    return fail(TransportFailure::connect_failed, "shut down while resolving " + url_.where);
  if (ec == asio::error::operation_aborted) {
    return fail(TransportFailure::timeout, "resolving " + url_.where + " timed out");
  }
  if (ec)
    return fail(TransportFailure::connect_failed,
                "cannot resolve " + url_.where + ": " + ec.message());
  connection_->tcp().expires_at(connect_deadline_);
  connection_->tcp().async_connect(
      results,
      [self = shared_from_this()](error_code e, const tcp::endpoint&) { self->on_connect(e); });
}

void Call::on_connect(error_code ec) {
  if (aborted_)
    return fail(TransportFailure::connect_failed, "shut down while connecting to " + url_.where);
  if (ec == beast::error::timeout) {
    return fail(TransportFailure::timeout, "connecting to " + url_.where + " timed out");
  }
  if (ec)
    return fail(TransportFailure::connect_failed,
                "cannot connect to " + url_.where + ": " + ec.message());
  state_->count_opened();
  error_code ignored;
  // Requests are one small write each; do not let Nagle hold the tail back.
  connection_->tcp().socket().set_option(tcp::no_delay(true), ignored);
  if (!connection_->tls) return do_write();
  connection_->tcp().expires_at(connect_deadline_);
  connection_->tls->async_handshake(
      asio::ssl::stream_base::client,
      [self = shared_from_this()](error_code e) { self->on_handshake(e); });
}

void Call::on_handshake(error_code ec) {
  if (aborted_)
    return fail(TransportFailure::connect_failed,
                "shut down during the TLS handshake with " + url_.where);
  if (ec == beast::error::timeout) {
    return fail(TransportFailure::timeout, "TLS handshake with " + url_.where + " timed out");
  }
  if (ec) {
    auto verify = SSL_get_verify_result(connection_->tls->native_handle());
    if (verify != X509_V_OK) {
      return fail(TransportFailure::connect_failed,
                  "TLS handshake with " + url_.where +
                      " failed: certificate verification failed (" +
                      X509_verify_cert_error_string(verify) + ")");
    }
    return fail(TransportFailure::connect_failed,
                "TLS handshake with " + url_.where + " failed: " + ec.message());
  }
  do_write();
}

void Call::do_write() {
  if (exchange_deadline_ == SteadyClock::time_point{})
    exchange_deadline_ = SteadyClock::now() + timeout_;
  parser_.emplace();
  auto max = state_->options().max_reply_bytes;
  parser_->body_limit(max);
  parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(max, kMaxHeaderBytes)));
  connection_->tcp().expires_at(exchange_deadline_);
  with_stream([&](auto& stream) {
    http::async_write(stream, request_, [self = shared_from_this()](error_code ec, std::size_t) {
      self->on_write(ec);
    });
  });
}

void Call::on_write(error_code ec) {
  if (aborted_)
    return fail(TransportFailure::connect_failed, "shut down while writing to " + url_.where);
  if (ec == beast::error::timeout) {
    return fail(TransportFailure::timeout, "writing to " + url_.where + " timed out");
  }
  if (ec) {
    if (reused_ && !retried_) {
      // The server closed this idle connection before we wrote: it never saw
      // the request, so one fresh connection may carry it.
      retried_ = true;
      state_->log().write(Level::debug,
                          state_->options().log_name + " stale connection, reconnecting",
                          LogLine{}.str("where", url_.where).str("error", ec.message()));
      drop_connection();
      return open_fresh();
    }
    return fail(TransportFailure::reset, "writing to " + url_.where + " failed: " + ec.message());
  }
  sent_ = true;
  connection_->tcp().expires_at(exchange_deadline_);
  with_stream([&](auto& stream) {
    http::async_read(stream, connection_->buffer, *parser_,
                     [self = shared_from_this()](error_code e, std::size_t) { self->on_read(e); });
  });
}

void Call::on_read(error_code ec) {
  if (aborted_) return fail(TransportFailure::reset, "shut down while waiting for " + url_.where);
  if (ec == beast::error::timeout) {
    return fail(TransportFailure::timeout, "no complete reply from " + url_.where + " in time");
  }
  if (ec == http::error::body_limit || ec == http::error::header_limit ||
      ec == http::error::buffer_overflow) {
    return fail(TransportFailure::reset, "reply from " + url_.where + " is larger than " +
                                             std::to_string(state_->options().max_reply_bytes) +
                                             " bytes (max_reply_bytes)");
  }
  if (ec) {
    return fail(TransportFailure::reset, "connection to " + url_.where +
                                             (reused_ ? " (reused)" : "") +
                                             " closed before a complete reply: " + ec.message());
  }
  auto& response = parser_->get();
  HttpReply reply;
  reply.status = static_cast<int>(response.result_int());
  reply.content_type = std::string(response[http::field::content_type]);
  reply.body = std::move(response.body());
  // Bytes beyond the reply would be read as the next reply: never pool that.
  bool reusable = response.keep_alive() && connection_->buffer.size() == 0;
  parser_.reset();
  if (reusable) {
    state_->give_back(std::move(connection_));
  } else {
    drop_connection();
  }
  state_->log().write(Level::debug, state_->options().log_name,
                      LogLine{}
                          .str("where", url_.where)
                          .num("status", reply.status)
                          .num("ms", ms_since(started_))
                          .num("reused", reused_ ? 1 : 0));
  finish(std::move(reply));
}

void Call::drop_connection() {
  if (!connection_) return;
  connection_->close();
  connection_.reset();
}

void Call::fail(TransportFailure failure, std::string message) {
  drop_connection();
  state_->log().write(
      Level::debug, state_->options().log_name + " failed",
      LogLine{}.str("where", url_.where).str("error", message).num("ms", ms_since(started_)));
  finish(TransportError{failure, sent_, std::move(message)});
}

void Call::finish(TransportResult result) {
  if (finished_) return;
  finished_ = true;
  if (id_ != 0) state_->unregister_call(id_);
  resolve_timer_.cancel();
  asio::post(state_->executor(), [done = std::move(done_), result = std::move(result)]() mutable {
    done(std::move(result));
  });
}

}  // namespace isync::intacct::detail
