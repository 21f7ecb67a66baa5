// Shared by the ingest tests: a blocking HTTP/1.1 client over a raw socket,
// so a test can send exactly the bytes it means (malformed, chunked, split).
#pragma once

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cctype>
#include <cstdint>
#include <map>
#include <string>

namespace isync::testing {

struct Reply {
  unsigned status = 0;  // 0: no reply could be read
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string head;                            // status line and headers as sent
};

inline void set_receive_timeout(boost::asio::ip::tcp::socket& s, int seconds) {
  timeval tv{};
  tv.tv_sec = seconds;
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

// A blocking socket to 127.0.0.1:port whose reads give up after 15 s.
inline boost::asio::ip::tcp::socket connect_loopback(std::uint16_t port) {
  static boost::asio::io_context client_ctx;  // blocking client sockets only
  boost::asio::ip::tcp::socket s(client_ctx);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  set_receive_timeout(s, 15);
  return s;
}

inline Reply read_reply(boost::asio::ip::tcp::socket& s) {
  namespace http = boost::beast::http;
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(16 * 1024 * 1024);
  boost::beast::error_code ec;
  http::read(s, buffer, parser, ec);
  Reply r;
  if (ec) return r;
  auto& res = parser.get();
  r.status = res.result_int();
  r.body = res.body();
  r.head = std::to_string(r.status) + " " + std::string(res.reason()) + "\r\n";
  for (const auto& f : res) {
    r.head += std::string(f.name_string()) + ": " + std::string(f.value()) + "\r\n";
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = std::string(f.value());
  }
  return r;
}

// Sends `bytes` on a new connection and reads one reply.
inline Reply exchange(std::uint16_t port, const std::string& bytes) {
  auto s = connect_loopback(port);
  boost::asio::write(s, boost::asio::buffer(bytes));
  return read_reply(s);
}

}  // namespace isync::testing
