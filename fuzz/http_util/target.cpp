// Fuzz target: the HTTP front's small parsers (ingest/detail/http_util.hpp and
// the route tables of ingest/detail/router.hpp).
//
// An input is up to six lines:
//   request target \n parameter name \n Authorization value \n
//   CIDR list (comma-separated) \n X-Forwarded-For \n peer address
// Missing lines are empty. Invariants beyond "no crash":
//  * split_target: path [+ '?' + query] gives the target back; the path has no '?';
//  * a matched route's template, filled with the matched segments, is the path;
//  * query_param: a percent-encoded name=value decodes to the value; a bare
//    name is present with an empty value;
//  * bearer_token: a blank-trimmed piece of the header; "Bearer <token>" gives
//    the token back;
//  * a parsed CIDR contains its own address; "bad CIDR" errors are short;
//  * client_address: the peer when it is not a trusted proxy, else the peer
//    or one of the X-Forwarded-For hops.
#include <boost/asio/ip/address.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/check.hpp"
#include "ingest/detail/http_util.hpp"
#include "ingest/detail/router.hpp"

namespace {

using namespace isync::ingest::detail;
namespace asio = boost::asio;
namespace http = boost::beast::http;

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<asio::ip::address> address(std::string_view text) {
  boost::system::error_code ec;
  auto a = asio::ip::make_address(std::string(trim_blanks(text)), ec);
  if (ec) return std::nullopt;
  return normalise(a);
}

// The route template with each {name} replaced by the matched segment, in
// one pass (a segment may itself hold "{tenant}" and the like).
std::string fill(std::string_view route, const RouteMatch& m) {
  std::string out;
  while (!route.empty()) {
    auto open = route.find('{');
    auto close = route.find('}', open);
    if (open == std::string_view::npos || close == std::string_view::npos) break;
    out += route.substr(0, open);
    auto name = route.substr(open + 1, close - open - 1);
    // {id} and {name} are not captured (the handler reads them from the
    // path): kept for fits() to match.
    out += name == "tenant"       ? m.tenant
           : name == "collection" ? m.collection
           : name == "run_id"     ? m.run_id
           : name == "recordno"   ? m.recordno
                                  : "{" + std::string(name) + "}";
    route.remove_prefix(close + 1);
  }
  out += route;
  return out;
}

// Whether `path` is what the route template says: captured parts as
// captured, {id} any one non-empty segment, {name} the non-empty rest.
bool fits(const RouteMatch& m, std::string_view path) {
  const std::string want = fill(m.route, m);
  std::string_view w(want), p(path);
  while (true) {
    const auto wseg = w.substr(0, w.find('/'));
    const auto pseg = p.substr(0, p.find('/'));
    if (wseg == "{name}") return !p.empty();
    if (wseg == "{id}" ? pseg.empty() : wseg != pseg) return false;
    const bool wend = wseg.size() == w.size(), pend = pseg.size() == p.size();
    if (wend || pend) return wend && pend;
    w.remove_prefix(wseg.size() + 1);
    p.remove_prefix(pseg.size() + 1);
  }
}

void check_route(const RouteMatch& m, std::string_view path) {
  if (m.id == RouteId::none) return;
  if (m.id == RouteId::console_page) {
    // The console's page answers with and without the trailing slash.
    FUZZ_CHECK(path == "/console" || path == "/console/", std::string(path));
  } else {
    FUZZ_CHECK(fits(m, path), std::string(path));
  }
  FUZZ_CHECK(m.method_allowed || !m.allow.empty(), std::string(path));
}

void check_target(std::string_view target, std::string_view name, std::string_view value) {
  auto t = split_target(target);
  FUZZ_CHECK(t.path.find('?') == std::string_view::npos, std::string(target));
  std::string back(t.path);
  if (target.size() > t.path.size()) back += "?" + std::string(t.query);
  FUZZ_CHECK(back == target, std::string(target));

  for (auto method : {http::verb::get, http::verb::post}) {
    check_route(match_public(method, t.path, true), t.path);
    check_route(match_admin(method, t.path), t.path);
  }

  (void)query_param(t.query, name);
  const std::string encoded = isync::fuzz::percent_encode(name);
  auto got = query_param(encoded + "=" + isync::fuzz::percent_encode(value), name);
  FUZZ_CHECK(got && *got == value, std::string(value));
  if (!name.empty()) {
    auto bare = query_param("&" + encoded + "&", name);
    FUZZ_CHECK(bare && bare->empty(), std::string(name));
  }
}

void check_bearer(std::string_view authorization) {
  auto token = bearer_token(authorization);
  if (token.empty()) return;
  FUZZ_CHECK(token.data() >= authorization.data() &&
                 token.data() + token.size() <= authorization.data() + authorization.size(),
             "token is not part of the header");
  FUZZ_CHECK(trim_blanks(token) == token, std::string(token));
  FUZZ_CHECK(bearer_token("Bearer " + std::string(token)) == token, std::string(token));
}

std::vector<Cidr> check_cidrs(std::string_view list) {
  std::vector<Cidr> nets;
  for (auto text : isync::fuzz::split(list, ',', 64)) {
    auto net = Cidr::parse(text);
    if (!net) {
      FUZZ_CHECK(net.error().code == "invalid_config" && net.error().message.size() <= 160,
                 net.error().message);
      continue;
    }
    auto own = address(text.substr(0, text.find('/')));
    FUZZ_CHECK(own.has_value(), std::string(text));
    FUZZ_CHECK(net->contains(*own), std::string(text));
    nets.push_back(*net);
  }
  return nets;
}

void check_client(const std::vector<Cidr>& trusted, std::string_view forwarded_for,
                  std::string_view peer_text) {
  auto parsed = address(peer_text);
  const asio::ip::address peer = parsed ? *parsed : asio::ip::make_address("10.0.0.1");
  auto client = client_address(peer, forwarded_for, trusted);
  if (!any_contains(trusted, peer)) {
    FUZZ_CHECK(client && *client == normalise(peer), std::string(peer_text));
    return;
  }
  if (!client || *client == normalise(peer)) return;
  bool from_hop = false;
  for (auto hop : isync::fuzz::split(forwarded_for, ',', forwarded_for.size() + 1)) {
    auto a = address(hop);
    from_hop = from_hop || (a && *a == *client);
  }
  FUZZ_CHECK(from_hop, client->to_string());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto lines = isync::fuzz::split(isync::fuzz::as_text(data, size), '\n', 6);
  lines.resize(6);
  check_target(lines[0], lines[1], lines[2]);
  check_bearer(lines[2]);
  auto trusted = check_cidrs(lines[3]);
  check_client(trusted, lines[4], lines[5]);
  return 0;
}
