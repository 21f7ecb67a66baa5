#include <charconv>
#include <string>

#include "redis/redis.hpp"

namespace isync::redis {

namespace {

Error bad(std::string what) {
  return make_error("invalid_config", "redis url: " + what +
                                          " (expected redis://[[user]:password@]host[:port][/db])");
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = hex_value(in[i + 1]);
    int lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

template <class T>
bool parse_number(std::string_view s, T& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

}  // namespace

Result<Endpoint> parse_url(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme) return bad("must start with redis://");
  std::string_view rest = url.substr(kScheme.size());
  Endpoint ep;

  std::string_view path;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    std::string_view user = userinfo;
    std::string_view password;
    if (auto colon = userinfo.find(':'); colon != std::string_view::npos) {
      user = userinfo.substr(0, colon);
      password = userinfo.substr(colon + 1);
    } else {
      // redis://secret@host is the common short form: a lone value is the password.
      password = userinfo;
      user = {};
    }
    if (!percent_decode(user, ep.user)) return bad("bad percent-encoding in the user");
    if (!percent_decode(password, ep.password)) return bad("bad percent-encoding in the password");
  }

  std::string_view host = rest;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return bad("unclosed [ in the host");
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("unexpected text after the host");
      port = after.substr(1);
      if (port.empty()) return bad("empty port");
    }
  } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (port.empty()) return bad("empty port");
  }
  if (host.empty()) return bad("missing host");
  ep.host = std::string(host);
  if (!port.empty()) {
    unsigned value = 0;
    if (!parse_number(port, value) || value == 0 || value > 65535) {
      return bad("port '" + std::string(port) + "' is not in 1-65535");
    }
    ep.port = static_cast<std::uint16_t>(value);
  }
  if (!path.empty()) {
    int db = 0;
    if (!parse_number(path, db) || db < 0) {
      return bad("database '" + std::string(path) + "' is not a non-negative integer");
    }
    ep.db = db;
  }
  return ep;
}

}  // namespace isync::redis
