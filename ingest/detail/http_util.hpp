// Small pure helpers of the HTTP front: request targets, query parameters,
// bearer tokens, CIDR matching, client addresses behind proxies, JSON bodies.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.hpp"

namespace isync::ingest::detail {

struct Target {
  std::string_view path;
  std::string_view query;  // without '?'; empty when absent
};
Target split_target(std::string_view target);

// The decoded value of the first `name` parameter; nullopt when absent or
// badly escaped.
std::optional<std::string> query_param(std::string_view query, std::string_view name);

// The token of `Authorization: Bearer <token>` (scheme case-insensitive);
// empty when the header is absent or another scheme.
std::string_view bearer_token(std::string_view authorization);

// An IPv4 or IPv6 network. A bare address is a /32 or /128.
class Cidr {
 public:
  static Result<Cidr> parse(std::string_view text);
  bool contains(const boost::asio::ip::address& addr) const;

 private:
  boost::asio::ip::address network_;
  unsigned prefix_ = 0;
};

bool any_contains(const std::vector<Cidr>& nets, const boost::asio::ip::address& addr);

// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) as IPv4, others unchanged.
boost::asio::ip::address normalise(const boost::asio::ip::address& addr);

// The client of a request: the peer, or, when the peer is a trusted proxy,
// the right-most X-Forwarded-For address that is not a trusted proxy.
// nullopt when X-Forwarded-For is needed but does not parse.
std::optional<boost::asio::ip::address> client_address(const boost::asio::ip::address& peer,
                                                       std::string_view forwarded_for,
                                                       const std::vector<Cidr>& trusted);

// The status line and header of an answer, as Beast's serializer writes a
// response built thus: version 10 or 11, result(status), then set in this
// order Content-Type, Cache-Control, Allow and Retry-After (each only when
// not empty), keep_alive(keep_alive), prepare_payload() for a body of
// body_size bytes. REQUIRES: 200 <= status <= 999, not 204 or 304 (no body
// allowed there); values without surrounding blanks.
std::string response_head(unsigned version, unsigned status, std::string_view content_type,
                          std::string_view cache_control, std::string_view allow,
                          std::string_view retry_after, bool keep_alive, std::size_t body_size);

// {"error":{"code":…,"message":…}}
std::string error_body(std::string_view code, std::string_view message);

}  // namespace isync::ingest::detail
