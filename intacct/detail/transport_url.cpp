#include "intacct/detail/transport_url.hpp"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cctype>
#include <charconv>

namespace isync::intacct::detail {

namespace {

constexpr std::size_t kMaxUrlBytes = 8 * 1024;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Letters, digits, '-', '.', '_' — a DNS name or an IPv4 literal.
bool valid_reg_name(std::string_view host) {
  return !host.empty() && host.size() <= 253 && std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
  });
}

// The URL itself is not quoted: its user info or query may hold a secret.
Error bad_url(std::string_view why) {
  return make_error("invalid_url", "invalid URL: " + std::string(why));
}

}  // namespace

Result<TransportUrl> parse_transport_url(std::string_view url) {
  if (url.size() > kMaxUrlBytes) return bad_url("longer than 8 KiB");
  for (char c : url) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return bad_url("contains a space or control character");
  }
  TransportUrl out;
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return bad_url("no scheme (want https://)");
  auto scheme = url.substr(0, scheme_end);
  if (iequals(scheme, "https")) {
    out.tls = true;
  } else if (!iequals(scheme, "http")) {
    return bad_url("scheme is not http or https");
  }
  auto rest = url.substr(scheme_end + 3);
  auto path_start = rest.find_first_of("/?#");
  auto authority = rest.substr(0, path_start);
  auto target = path_start == std::string_view::npos ? std::string_view{} : rest.substr(path_start);
  if (target.find('#') != std::string_view::npos) return bad_url("has a fragment");
  if (authority.find('@') != std::string_view::npos) {
    return bad_url("has user info (credentials go in the XML, never the URL)");
  }

  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return bad_url("unclosed '[' in the host");
    out.host = std::string(authority.substr(1, close - 1));
    boost::system::error_code ec;
    auto addr = boost::asio::ip::make_address_v6(out.host, ec);
    if (ec) return bad_url("host in brackets is not an IPv6 address");
    (void)addr;
    out.ip_literal = true;
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad_url("unexpected text after ']'");
      port_text = after.substr(1);
      if (port_text.empty()) return bad_url("empty port");
    }
  } else {
    auto colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return bad_url("empty port");
    }
    if (!valid_reg_name(out.host)) return bad_url("missing or invalid host");
    boost::system::error_code ec;
    boost::asio::ip::make_address_v4(out.host, ec);
    out.ip_literal = !ec;
  }

  out.port = out.tls ? 443 : 80;
  if (!port_text.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      return bad_url("port is not a number in 1-65535");
    }
    out.port = static_cast<std::uint16_t>(value);
  }

  out.target = target.empty() ? "/" : std::string(target);
  if (out.target.front() == '?') out.target.insert(out.target.begin(), '/');
  auto bracketed = out.host.find(':') != std::string::npos ? "[" + out.host + "]" : out.host;
  bool default_port = out.port == (out.tls ? 443 : 80);
  out.host_header = default_port ? bracketed : bracketed + ":" + std::to_string(out.port);
  out.where = bracketed + ":" + std::to_string(out.port);
  for (auto& c : out.where) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  out.pool_key = std::string(out.tls ? "https://" : "http://") + out.where;
  return out;
}

bool is_loopback_host(std::string_view host) {
  if (iequals(host, "localhost")) return true;
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(std::string(host), ec);
  return !ec && addr.is_loopback();
}

}  // namespace isync::intacct::detail
