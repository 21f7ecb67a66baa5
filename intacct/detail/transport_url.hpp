// Internals of intacct/transport: the URL of a POST, split and checked.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/core.hpp"

namespace isync::intacct::detail {

struct TransportUrl {
  bool tls = false;
  std::string host;         // without brackets: "127.0.0.1", "::1", "api.example.com"
  std::uint16_t port = 0;   // the scheme's default when the URL has none
  std::string target;       // path and query, at least "/"
  std::string host_header;  // the Host header: host[:port], IPv6 in brackets
  std::string pool_key;     // scheme://host:port — one keep-alive pool each
  std::string where;        // host:port for messages (never the path: it may carry a query)
  bool ip_literal = false;  // no SNI for an IP address (RFC 6066 §3)
};

// Accepts `http[s]://host[:port][/path[?query]]`, scheme case-insensitive,
// IPv6 literals in brackets. No user-info, no fragment, no whitespace or
// control characters, at most 8 KiB. Errors say which part is wrong.
Result<TransportUrl> parse_transport_url(std::string_view url);

// "localhost" (any case), 127.0.0.0/8 or ::1.
bool is_loopback_host(std::string_view host);

}  // namespace isync::intacct::detail
