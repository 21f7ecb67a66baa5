// Shared by the benchmarks: a small synchronous HTTP/1.1 client for the
// driver threads (the service's public and admin ports, the sandbox's control
// API) and the JSON reads of its answers. Not for io threads: each request
// runs its own io_context to the end, bounded by the client's timeout.
#pragma once

#include <rapidjson/document.h>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace isync::bench {

struct Response {
  int status = 0;  // 0: no answer (connect, write or read failed, or timed out)
  std::string body;
};

// One keep-alive connection to 127.0.0.1:port; one request at a time, each
// with a deadline (`timeout`) over write and read; answers of up to 64 MiB.
class HttpClient {
 public:
  explicit HttpClient(std::uint16_t port, std::chrono::seconds timeout = std::chrono::seconds(30))
      : port_(port), timeout_(timeout) {}

  Response request(boost::beast::http::verb method, const std::string& target,
                   const std::string& body = {}, const std::string& content_type = {},
                   const std::string& bearer = {});

 private:
  Response once(boost::beast::http::verb method, const std::string& target, const std::string& body,
                const std::string& content_type, const std::string& bearer);

  std::uint16_t port_;
  std::chrono::seconds timeout_;
  boost::asio::io_context ioc_;
  std::optional<boost::beast::tcp_stream> stream_;
  boost::beast::flat_buffer buffer_;
};

// A null document when the text does not parse (trusted input: the bench's
// own processes).
rapidjson::Document parse_json(const std::string& text);

// The string member `name` of `obj`; "" when absent or not a string.
std::string json_string(const rapidjson::Value& obj, const char* name);

// The integer member `name` of `obj`; 0 when absent or not an int64.
std::int64_t member_int(const rapidjson::Value& obj, const char* name);

}  // namespace isync::bench
