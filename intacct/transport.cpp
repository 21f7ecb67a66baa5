// The public face of HttpTransport: forwards to detail::TransportState.
#include "intacct/transport.hpp"

#include <boost/asio/post.hpp>
#include <stdexcept>

namespace isync::intacct {

void throw_exception_from_error(const TransportError& e, const boost::source_location&) {
  throw std::runtime_error("transport: " + e.message);
}

namespace detail {
class TransportState {
 public:
  TransportState(boost::asio::any_io_executor executor, TransportOptions options, Log& log)
      : executor_(std::move(executor)), options_(std::move(options)), log_(log) {}
  boost::asio::any_io_executor executor_;
  TransportOptions options_;
  Log& log_;
};
}  // namespace detail

std::shared_ptr<HttpTransport> HttpTransport::create(boost::asio::any_io_executor executor,
                                                     TransportOptions options, Log& log) {
  return std::make_shared<HttpTransport>(Private{}, std::move(executor), std::move(options), log);
}

HttpTransport::HttpTransport(Private, boost::asio::any_io_executor executor,
                             TransportOptions options, Log& log)
    : state_(
          std::make_shared<detail::TransportState>(std::move(executor), std::move(options), log)) {}

HttpTransport::~HttpTransport() = default;

void HttpTransport::post(const std::string&, std::string, std::chrono::milliseconds,
                         std::function<void(TransportResult)> done) {
  boost::asio::post(state_->executor_, [done = std::move(done)] {
    done(TransportError{TransportFailure::connect_failed, false, "not implemented yet"});
  });
}

void HttpTransport::shutdown() {}
std::size_t HttpTransport::connections_opened() const { return 0; }
std::size_t HttpTransport::idle_connections() const { return 0; }

}  // namespace isync::intacct
