#include "ingest/detail/http_util.hpp"

#include <array>
#include <boost/beast/http/status.hpp>
#include <charconv>

#include "ingest/detail/smart_event.hpp"
#include "ingest/detail/text.hpp"

namespace isync::ingest::detail {

namespace asio = boost::asio;

namespace {

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<asio::ip::address> parse_address(std::string_view text) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(std::string(trim_blanks(text)), ec);
  if (ec) return std::nullopt;
  return normalise(addr);
}

}  // namespace

Target split_target(std::string_view target) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = pair.find('=');
    auto key = form_unescape(pair.substr(0, eq));
    if (!key || *key != name) continue;
    if (eq == std::string_view::npos) return std::string{};
    return form_unescape(pair.substr(eq + 1));
  }
  return std::nullopt;
}

std::string_view bearer_token(std::string_view authorization) {
  authorization = trim_blanks(authorization);
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() <= kScheme.size() ||
      !iequals(authorization.substr(0, kScheme.size()), kScheme) ||
      (authorization[kScheme.size()] != ' ' && authorization[kScheme.size()] != '\t')) {
    return {};
  }
  return trim_blanks(authorization.substr(kScheme.size()));
}

Result<Cidr> Cidr::parse(std::string_view text) {
  auto slash = text.find('/');
  auto addr = parse_address(text.substr(0, slash));
  auto bad = [&] {
    // Appended rather than "\"" + std::string(...): GCC 12 at -O3 reports a
    // false -Wrestrict on the operator+ form.
    std::string message = "\"";
    message.append(text.substr(0, 64));
    message += "\" is not a CIDR such as 10.0.0.0/8 or fd00::/8";
    return make_error("invalid_config", message);
  };
  if (!addr) return bad();
  Cidr c;
  c.network_ = *addr;
  unsigned max = addr->is_v4() ? 32u : 128u;
  c.prefix_ = max;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), c.prefix_);
    if (ec != std::errc{} || end != digits.data() + digits.size() || digits.empty() ||
        c.prefix_ > max) {
      return bad();
    }
  }
  return c;
}

bool Cidr::contains(const asio::ip::address& raw) const {
  auto addr = normalise(raw);
  if (addr.is_v4() != network_.is_v4()) return false;
  auto compare = [this](const auto& a, const auto& b) {
    unsigned bits = prefix_;
    for (std::size_t i = 0; i < a.size() && bits > 0; ++i) {
      unsigned take = bits >= 8 ? 8u : bits;
      auto mask = static_cast<unsigned char>(0xffu << (8 - take));
      if ((a[i] & mask) != (b[i] & mask)) return false;
      bits -= take;
    }
    return true;
  };
  if (addr.is_v4()) return compare(addr.to_v4().to_bytes(), network_.to_v4().to_bytes());
  return compare(addr.to_v6().to_bytes(), network_.to_v6().to_bytes());
}

bool any_contains(const std::vector<Cidr>& nets, const asio::ip::address& addr) {
  for (const auto& n : nets) {
    if (n.contains(addr)) return true;
  }
  return false;
}

asio::ip::address normalise(const asio::ip::address& addr) {
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
  }
  return addr;
}

std::optional<asio::ip::address> client_address(const asio::ip::address& peer,
                                                std::string_view forwarded_for,
                                                const std::vector<Cidr>& trusted) {
  auto client = normalise(peer);
  if (!any_contains(trusted, client)) return client;
  // Walk right to left: each hop was appended by the proxy in front of it, so
  // only addresses added by trusted proxies can be believed.
  while (!trim_blanks(forwarded_for).empty()) {
    auto comma = forwarded_for.rfind(',');
    std::string_view hop =
        comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1);
    forwarded_for =
        comma == std::string_view::npos ? std::string_view{} : forwarded_for.substr(0, comma);
    auto addr = parse_address(hop);
    if (!addr) return std::nullopt;
    client = *addr;
    if (!any_contains(trusted, client)) return client;
  }
  return client;
}

std::string error_body(std::string_view code, std::string_view message) {
  std::string out = "{\"error\":{\"code\":";
  append_json_string(out, code);
  out += ",\"message\":";
  append_json_string(out, message);
  out += "}}";
  return out;
}

std::string response_head(unsigned version, unsigned status, std::string_view content_type,
                          std::string_view cache_control, std::string_view allow,
                          std::string_view retry_after, bool keep_alive, std::size_t body_size) {
  std::string head;
  head.reserve(160 + content_type.size() + cache_control.size() + allow.size() +
               retry_after.size());
  head += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  head += std::to_string(status);
  head += ' ';
  auto reason =
      boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  head.append(reason.data(), reason.size());
  head += "\r\nContent-Type: ";
  head += content_type;
  head += "\r\nCache-Control: ";
  head += cache_control;
  if (!allow.empty()) {
    head += "\r\nAllow: ";
    head += allow;
  }
  if (!retry_after.empty()) {
    head += "\r\nRetry-After: ";
    head += retry_after;
  }
  // What keep_alive() leaves: HTTP/1.1 says close, HTTP/1.0 says keep-alive.
  if (version == 11 && !keep_alive) head += "\r\nConnection: close";
  if (version == 10 && keep_alive) head += "\r\nConnection: keep-alive";
  head += "\r\nContent-Length: ";
  head += std::to_string(body_size);
  head += "\r\n\r\n";
  return head;
}

}  // namespace isync::ingest::detail
