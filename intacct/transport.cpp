// HttpTransport: checks the URL and its policy, picks a pooled connection or
// a new strand, and hands the POST to a detail::Call.
#include "intacct/transport.hpp"

#include <boost/asio/post.hpp>
#include <stdexcept>

#include "intacct/detail/transport_call.hpp"
#include "intacct/detail/transport_state.hpp"
#include "intacct/detail/transport_url.hpp"

namespace isync::intacct {

namespace asio = boost::asio;

void throw_exception_from_error(const TransportError& e, const boost::source_location&) {
  throw std::runtime_error("transport: " + e.message);
}

std::ostream& operator<<(std::ostream& os, const HttpReply& reply) {
  return os << "HTTP " << reply.status << " (" << reply.content_type << ", " << reply.body.size()
            << " bytes)";
}

std::ostream& operator<<(std::ostream& os, const TransportError& error) {
  const char* failure = error.failure == TransportFailure::connect_failed ? "connect_failed"
                        : error.failure == TransportFailure::reset        ? "reset"
                                                                          : "timeout";
  return os << failure << (error.sent ? " (sent): " : " (not sent): ") << error.message;
}

std::shared_ptr<HttpTransport> HttpTransport::create(asio::any_io_executor executor,
                                                     TransportOptions options, Log& log) {
  return std::make_shared<HttpTransport>(Private{}, std::move(executor), std::move(options), log);
}

HttpTransport::HttpTransport(Private, asio::any_io_executor executor, TransportOptions options,
                             Log& log)
    : state_(
          std::make_shared<detail::TransportState>(std::move(executor), std::move(options), log)) {}

// Calls in flight hold the state and finish on their own; idle connections
// close when the state goes.
HttpTransport::~HttpTransport() = default;

void HttpTransport::post(const std::string& url, std::string body,
                         std::chrono::milliseconds timeout,
                         std::function<void(TransportResult)> done) {
  auto refuse = [&](std::string message) {
    asio::post(state_->executor(),
               [done = std::move(done), message = std::move(message)]() mutable {
                 done(TransportError{TransportFailure::connect_failed, false, std::move(message)});
               });
  };
  auto parsed = detail::parse_transport_url(url);
  if (!parsed) return refuse(parsed.error().message);
  if (!parsed->tls) {
    // Plain HTTP would put credentials on the wire: only for a local sandbox.
    if (!state_->options().allow_plain_http) {
      return refuse("plain http:// to " + parsed->where +
                    " refused: use https:// (allow_plain_http is off)");
    }
    if (!detail::is_loopback_host(parsed->host)) {
      return refuse("plain http:// to " + parsed->where +
                    " refused: allowed only to a loopback host (127.0.0.1, ::1, localhost)");
    }
  }
  auto pooled = state_->take_idle(parsed->pool_key);
  auto strand = pooled ? pooled->strand : make_strand_executor(state_->executor());
  auto call = std::make_shared<detail::Call>(state_, std::move(*parsed), std::move(body), timeout,
                                             std::move(done), std::move(strand));
  call->start(std::move(pooled));
}

void HttpTransport::shutdown() { state_->shutdown(); }

std::size_t HttpTransport::connections_opened() const { return state_->opened(); }

std::size_t HttpTransport::idle_connections() const { return state_->idle(); }

}  // namespace isync::intacct
