#include "bench/common/http_client.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>

#include "core/json.hpp"

namespace isync::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::ip::tcp;

Response HttpClient::request(http::verb method, const std::string& target, const std::string& body,
                             const std::string& content_type, const std::string& bearer) {
  // A reused connection the server closed while idle fails at once: one
  // more try on a fresh connection.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = stream_.has_value();
    auto r = once(method, target, body, content_type, bearer);
    if (r.status != 0 || !reused) return r;
  }
  return {};
}

Response HttpClient::once(http::verb method, const std::string& target, const std::string& body,
                          const std::string& content_type, const std::string& bearer) {
  boost::system::error_code ec;
  if (!stream_) {
    stream_.emplace(ioc_);
    stream_->socket().connect({asio::ip::make_address("127.0.0.1"), port_}, ec);
    if (ec) {
      stream_.reset();
      return {};
    }
    stream_->socket().set_option(tcp::no_delay(true));
  }
  http::request<http::string_body> req(method, target, 11);
  req.set(http::field::host, "127.0.0.1");
  if (!content_type.empty()) req.set(http::field::content_type, content_type);
  if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
  req.body() = body;
  req.prepare_payload();
  req.keep_alive(true);
  http::response<http::string_body> res;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  bool ok = false;
  stream_->expires_after(timeout_);
  http::async_write(*stream_, req, [&](boost::system::error_code wec, std::size_t) {
    if (wec) return;
    http::async_read(*stream_, buffer_, parser,
                     [&](boost::system::error_code rec, std::size_t) { ok = !rec; });
  });
  ioc_.restart();
  ioc_.run();
  if (!ok) {
    stream_.reset();
    buffer_.clear();
    return {};
  }
  res = parser.release();
  if (!res.keep_alive()) {
    stream_.reset();
    buffer_.clear();
  }
  return {static_cast<int>(res.result_int()), std::move(res.body())};
}

rapidjson::Document parse_json(const std::string& text) {
  auto d = isync::json::parse(text, isync::json::kTrusted);
  return d ? std::move(*d) : rapidjson::Document();
}

std::string json_string(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject() || !obj.HasMember(name) || !obj[name].IsString()) return {};
  return {obj[name].GetString(), obj[name].GetStringLength()};
}

std::int64_t member_int(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject() || !obj.HasMember(name) || !obj[name].IsInt64()) return 0;
  return obj[name].GetInt64();
}

}  // namespace isync::bench
