// Typed readers of raw config values: each names the key in its errors.
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <charconv>

#include "config/detail/fields.hpp"
#include "config/detail/secret.hpp"

namespace isync::config::detail {

Result<std::string> as_text(const std::string& key, const Raw& raw) {
  if (raw.kind != Raw::Kind::string && raw.kind != Raw::Kind::env)
    return fail(key + ": expected a string");
  return ok_text(raw.text);
}

Result<std::int64_t> as_int(const std::string& key, const Raw& raw, std::int64_t min,
                            std::int64_t max) {
  if (raw.kind != Raw::Kind::integer && raw.kind != Raw::Kind::env)
    return fail(key + ": expected a whole number");
  std::int64_t v = 0;
  const auto* end = raw.text.data() + raw.text.size();
  auto [ptr, ec] = std::from_chars(raw.text.data(), end, v);
  if (raw.text.empty() || ec != std::errc{} || ptr != end)
    return fail(key + ": expected a whole number, got " + quoted(raw.text));
  if (v < min || v > max) {
    return fail(key + ": must be between " + std::to_string(min) + " and " + std::to_string(max) +
                ", got " + raw.text);
  }
  return v;
}

Result<int> as_int32(const std::string& key, const Raw& raw, int min, int max) {
  auto v = as_int(key, raw, min, max);
  if (!v) return v.error();
  return static_cast<int>(*v);  // in [min, max], so it fits
}

Result<bool> as_bool(const std::string& key, const Raw& raw) {
  if ((raw.kind == Raw::Kind::boolean || raw.kind == Raw::Kind::env) && raw.text == "true")
    return true;
  if ((raw.kind == Raw::Kind::boolean || raw.kind == Raw::Kind::env) && raw.text == "false")
    return false;
  if (raw.kind == Raw::Kind::env)
    return fail(key + ": expected true or false, got " + quoted(raw.text));
  return fail(key + ": expected true or false");
}

Result<std::chrono::milliseconds> as_duration(const std::string& key, const Raw& raw) {
  auto text = as_text(key, raw);
  if (!text) return text.error();
  auto d = parse_duration(*text);
  if (!d) return fail(key + ": " + d.error().message);
  if (d->count() <= 0) return fail(key + ": must be greater than 0, got " + quoted(*text));
  return *d;
}

Result<std::size_t> as_size(const std::string& key, const Raw& raw) {
  auto text = as_text(key, raw);
  if (!text) return text.error();
  auto s = parse_size(*text);
  if (!s) return fail(key + ": " + s.error().message);
  if (*s == 0) return fail(key + ": must be greater than 0, got " + quoted(*text));
  return *s;
}

Result<Listen> as_listen(const std::string& key, const Raw& raw) {
  auto text = as_text(key, raw);
  if (!text) return text.error();
  auto l = parse_listen(*text);
  if (!l) return fail(key + ": " + l.error().message);
  return *l;
}

Result<std::string> as_choice(const std::string& key, const Raw& raw,
                              std::initializer_list<std::string_view> choices) {
  auto text = as_text(key, raw);
  if (!text) return text.error();
  std::string list;
  for (auto c : choices) {
    if (*text == c) return ok_text(*text);
    list += (list.empty() ? "" : ", ") + std::string(c);
  }
  return fail(key + ": expected one of " + list + ", got " + quoted(*text));
}

bool valid_cidr(const std::string& text) {
  boost::system::error_code ec;
  if (text.find(':') != std::string::npos) {
    (void)boost::asio::ip::make_network_v6(text, ec);
  } else {
    (void)boost::asio::ip::make_network_v4(text, ec);
  }
  return !ec && text.find('/') != std::string::npos;
}

Result<std::vector<std::string>> as_cidrs(const std::string& key, const Raw& raw) {
  if (raw.kind != Raw::Kind::array) return fail(key + ": expected an array of strings");
  for (const auto& item : raw.items) {
    if (!valid_cidr(item)) {
      return fail(key + ": invalid CIDR " + quoted(item) +
                  ", expected e.g. \"10.0.0.0/8\" or \"2001:db8::/32\"");
    }
  }
  return raw.items;
}

Result<Secret> as_secret(const std::string& key, const Raw& raw, Ctx& ctx) {
  if (raw.kind != Raw::Kind::string && raw.kind != Raw::Kind::env)
    return fail(key + ": expected a string (a secret reference: env:NAME, file:PATH or enc:…)");
  return detail::resolve_secret(key, raw.text, raw.kind == Raw::Kind::env, ctx.env, ctx.warnings);
}

bool valid_clock_time(const std::string& t) {
  if (t.size() != 5 || t[2] != ':') return false;
  for (int i : {0, 1, 3, 4}) {
    if (t[static_cast<std::size_t>(i)] < '0' || t[static_cast<std::size_t>(i)] > '9') return false;
  }
  int h = (t[0] - '0') * 10 + (t[1] - '0');
  int m = (t[3] - '0') * 10 + (t[4] - '0');
  return h < 24 && m < 60;
}

bool valid_window(const std::string& w) {
  auto space = w.find(' ');
  if (space == std::string::npos || space == 0) return false;
  for (std::size_t i = 0; i < space; ++i) {
    if (w[i] < '0' || w[i] > '9') return false;
  }
  auto unit = w.substr(space + 1);
  return unit == "day" || unit == "days" || unit == "month" || unit == "months";
}

// Replaces the password of a redis:// URL for display.
std::string redact_url(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  auto at = url.find('@', scheme + 3);
  auto slash = url.find('/', scheme + 3);
  if (at == std::string::npos || (slash != std::string::npos && slash < at)) return url;
  auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at)
    return url.substr(0, scheme + 3) + "***" + url.substr(at);
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

std::string duration_text(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms != 0 && ms % 86'400'000 == 0) return std::to_string(ms / 86'400'000) + "d";
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string size_text(std::size_t n) {
  constexpr std::size_t kKi = 1024;
  if (n != 0 && n % (kKi * kKi * kKi) == 0) return std::to_string(n / (kKi * kKi * kKi)) + "GiB";
  if (n != 0 && n % (kKi * kKi) == 0) return std::to_string(n / (kKi * kKi)) + "MiB";
  if (n != 0 && n % kKi == 0) return std::to_string(n / kKi) + "KiB";
  return std::to_string(n) + "B";
}

}  // namespace isync::config::detail
