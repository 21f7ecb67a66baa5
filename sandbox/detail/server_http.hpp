// What the sandbox's listeners share: the answer a route produces, and the
// small request helpers both the gateway and the control API use.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace isync::sandbox::detail {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;

// A route's answer; the session writes it after `delay`.
struct Answer {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::chrono::milliseconds delay{0};
  std::string allow;  // the Allow header of a 405
  std::string note;   // extra text for the request's log line (never secrets)
};

struct Target {
  std::string_view path;
  std::string_view query;  // without '?'; empty when absent
};
Target split_target(std::string_view target);

// The percent- and '+'-decoded value of the first `name` parameter; nullopt
// when absent. A '%' not followed by two hex digits is kept as written (the
// value's own check then refuses it).
std::optional<std::string> query_param(std::string_view query, std::string_view name);

// {"error":{"code":…,"message":…}} with `status`.
Answer error_answer(unsigned status, std::string_view code, std::string_view message);

}  // namespace isync::sandbox::detail
