// beast-noop: the ceiling of the HTTP path for the ingest benchmark. A
// minimal raw Boost.Beast server: keep-alive, reads each request whole
// (string body, up to 1 MiB) and answers 202 with a small JSON body, no
// routing, no checks, no Redis; as many io threads as intacct-sync's default
// (hardware concurrency) running one io_context.
// Usage: beast-noop --port P [--threads N]; SIGTERM or SIGINT stops it.
#include <CLI/CLI.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

constexpr std::string_view kBody = R"({"event_id":"noop","duplicate":false})";

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket socket) : stream_(std::move(socket)) {}
  void start() { read(); }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(1024 * 1024);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (!ec) self->answer();
                     });
  }

  void answer() {
    const bool keep_alive = parser_->get().keep_alive();
    res_ = {};
    res_.result(http::status::accepted);
    res_.version(11);
    res_.set(http::field::content_type, "application/json");
    res_.body() = kBody;
    res_.keep_alive(keep_alive);
    res_.prepare_payload();
    http::async_write(stream_, res_,
                      [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
                        if (ec) return;
                        if (keep_alive) return self->read();
                        beast::error_code ignored;
                        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                      });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
};

void accept(tcp::acceptor& acceptor, asio::io_context& ioc) {
  acceptor.async_accept(asio::make_strand(ioc), [&](beast::error_code ec, tcp::socket socket) {
    if (!ec) {
      socket.set_option(tcp::no_delay(true));
      std::make_shared<Session>(std::move(socket))->start();
    }
    accept(acceptor, ioc);
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"beast-noop: a minimal Boost.Beast server answering 202 to every request"};
  std::uint16_t port = 0;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cli.add_option("--port", port, "loopback port to listen on")->required();
  cli.add_option("--threads", threads, "io threads (default: hardware concurrency)")
      ->check(CLI::Range(1, 256));
  CLI11_PARSE(cli, argc, argv);

  asio::io_context ioc(threads);
  tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), port});
  accept(acceptor, ioc);
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](beast::error_code, int) { ioc.stop(); });
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  return 0;
}
