#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <fstream>
#include <sstream>

#include "sandbox/detail/control_client.hpp"

namespace isync::sandbox::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::ip::tcp;

namespace {

// A control answer is JSON of at most a page of records; this caps a
// misdirected request's reply.
constexpr std::size_t kCtlBodyLimit = 64 * 1024 * 1024;

// Result<std::string> needs the value spelled out: an Error is also
// constructible from a string.
Result<std::string> ok_text(std::string s) {
  return Result<std::string>(boost::system::in_place_value, std::move(s));
}

}  // namespace

Result<std::pair<std::string, std::uint16_t>> parse_listen(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return make_error("usage", "\"" + text + "\" is not HOST:PORT");
  std::string host = text.substr(0, colon);
  std::string port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535) {
    return make_error("usage", "\"" + text + "\" is not HOST:PORT (PORT 0-65535)");
  }
  return std::make_pair(host, static_cast<std::uint16_t>(std::stoul(port)));
}

Result<CtlResponse> control_request(const std::string& base_url, const std::string& token,
                                    http::verb method, const std::string& target,
                                    const std::string& body, std::chrono::milliseconds timeout) {
  constexpr std::string_view kScheme = "http://";
  if (base_url.rfind(kScheme, 0) != 0) {
    return make_error("usage", "--control " + base_url + " is not http://HOST:PORT");
  }
  std::string authority = base_url.substr(kScheme.size());
  std::string prefix;
  if (auto slash = authority.find('/'); slash != std::string::npos) {
    prefix = authority.substr(slash);
    authority.resize(slash);
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  }
  auto hp = parse_listen(authority);
  if (!hp) return make_error("usage", "--control " + base_url + " is not http://HOST:PORT");

  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::flat_buffer buffer;
  http::request<http::string_body> req{method, prefix + target, 11};
  req.set(http::field::host, authority);
  req.set(http::field::user_agent, "intacct-sandbox-ctl");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  http::response_parser<http::string_body> parser;
  parser.body_limit(kCtlBodyLimit);
  beast::error_code result;
  boost::system::error_code ec;
  tcp::endpoint ep(asio::ip::make_address(hp->first, ec), hp->second);
  if (ec) return make_error("usage", "--control host " + hp->first + " is not an IP address");

  stream.expires_after(timeout);
  stream.async_connect(ep, [&](beast::error_code cec) {
    if (cec) {
      result = cec;
      return;
    }
    http::async_write(stream, req, [&](beast::error_code wec, std::size_t) {
      if (wec) {
        result = wec;
        return;
      }
      http::async_read(stream, buffer, parser,
                       [&](beast::error_code rec, std::size_t) { result = rec; });
    });
  });
  ioc.run();
  if (result) {
    return make_error("unreachable",
                      "control API at " + base_url + " did not answer: " + result.message());
  }
  return CtlResponse{parser.get().result_int(), parser.get().body()};
}

std::string error_message(const std::string& body) {
  auto m = body.find("\"message\":\"");
  if (m == std::string::npos) return body;
  std::string out;
  for (std::size_t i = m + 11; i < body.size() && body[i] != '"'; ++i) {
    if (body[i] == '\\' && i + 1 < body.size()) ++i;
    out += body[i];
  }
  return out;
}

Result<Pairs> split_pairs(const std::vector<std::string>& words) {
  Pairs out;
  for (const auto& w : words) {
    auto eq = w.find('=');
    if (eq == std::string::npos || eq == 0) {
      return make_error("usage", "\"" + w + "\" is not NAME=VALUE");
    }
    out.emplace_back(w.substr(0, eq), w.substr(eq + 1));
  }
  return out;
}

std::string fields_json(const Pairs& pairs, bool silent) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("fields");
  w.StartObject();
  for (const auto& [k, v] : pairs) {
    w.Key(k.c_str(), static_cast<rapidjson::SizeType>(k.size()));
    w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
  }
  w.EndObject();
  if (silent) {
    w.Key("silent");
    w.Bool(true);
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

Result<std::string> faults_json(const Pairs& pairs) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  for (const auto& [k, v] : pairs) {
    w.Key(k.c_str(), static_cast<rapidjson::SizeType>(k.size()));
    if (k == "deny_read_objects") {
      w.StartArray();
      std::size_t start = 0;
      while (start < v.size()) {
        auto end = v.find(',', start);
        if (end == std::string::npos) end = v.size();
        if (end > start) w.String(v.data() + start, static_cast<rapidjson::SizeType>(end - start));
        start = end + 1;
      }
      w.EndArray();
    } else if (v == "true" || v == "false") {
      w.Bool(v == "true");
    } else if (!v.empty() && v.size() <= 12 &&
               v.find_first_not_of("0123456789") == std::string::npos) {
      w.Int64(std::stoll(v));
    } else if (const auto dot = v.find('.');
               v.size() >= 2 && v.size() <= 12 && dot != std::string::npos &&
               v.find('.', dot + 1) == std::string::npos &&
               v.find_first_not_of("0123456789.") == std::string::npos) {
      // A ratio such as 0.05 or .5 (the server checks its range).
      w.Double(std::stod(v));
    } else {
      return make_error("usage",
                        "fault " + k + "=" + v + ": the value must be a number or true/false");
    }
  }
  w.EndObject();
  return ok_text(std::string(buf.GetString(), buf.GetSize()));
}

Result<std::string> settings_json(const Pairs& pairs) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  for (const auto& [k, v] : pairs) {
    w.Key(k.c_str(), static_cast<rapidjson::SizeType>(k.size()));
    if (k == "write_clock_offset_s") {
      const auto digits = v.substr(!v.empty() && v[0] == '-' ? 1 : 0);
      if (digits.empty() || digits.size() > 12 ||
          digits.find_first_not_of("0123456789") != std::string::npos) {
        return make_error("usage", "setting " + k + "=" + v + ": the value must be an integer");
      }
      w.Int64(std::stoll(v));
      continue;
    }
    if (v != "true" && v != "false") {
      return make_error("usage", "setting " + k + "=" + v + ": the value must be true or false");
    }
    w.Bool(v == "true");
  }
  w.EndObject();
  return ok_text(std::string(buf.GetString(), buf.GetSize()));
}

Result<std::string> read_value_file(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) return make_error("config", "cannot read " + what + " file " + path);
  std::stringstream s;
  s << in.rdbuf();
  auto text = s.str();
  auto b = text.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return make_error("config", what + " file " + path + " is empty");
  auto e = text.find_last_not_of(" \t\r\n");
  return ok_text(text.substr(b, e - b + 1));
}

}  // namespace isync::sandbox::detail
