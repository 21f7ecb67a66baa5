// Strict parsing of the config's durations, sizes, listen addresses and log levels.
#include <charconv>
#include <limits>

#include "config/config.hpp"

namespace isync::config {

namespace {

struct NumberAndUnit {
  std::uint64_t number = 0;
  std::string_view unit;
};

// A whole decimal number immediately followed by a unit; no sign, no space,
// no fraction. Returns false on anything else, including overflow.
bool split_number_unit(std::string_view text, NumberAndUnit& out) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits == text.size()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + digits, out.number);
  if (ec != std::errc{} || ptr != text.data() + digits) return false;
  out.unit = text.substr(digits);
  return true;
}

}  // namespace

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  auto bad = [&] {
    return make_error(std::string(kErrorCode),
                      "invalid duration \"" + std::string(text) +
                          "\": expected a whole number and a unit (ms, s, m, h, d), e.g. \"10s\"");
  };
  NumberAndUnit nu;
  if (!split_number_unit(text, nu)) return bad();
  std::uint64_t scale = 0;
  if (nu.unit == "ms") {
    scale = 1;
  } else if (nu.unit == "s") {
    scale = 1000;
  } else if (nu.unit == "m") {
    scale = 60'000;
  } else if (nu.unit == "h") {
    scale = 3'600'000;
  } else if (nu.unit == "d") {
    scale = 86'400'000;
  } else {
    return bad();
  }
  // Keep far from the int64 limit so sums of durations cannot overflow.
  constexpr std::uint64_t kMax = std::numeric_limits<std::int64_t>::max() / 4;
  if (nu.number > kMax / scale) return bad();
  return std::chrono::milliseconds(static_cast<std::int64_t>(nu.number * scale));
}

Result<std::size_t> parse_size(std::string_view text) {
  auto bad = [&] {
    return make_error(
        std::string(kErrorCode),
        "invalid size \"" + std::string(text) +
            "\": expected a whole number and a unit (B, KiB, MiB, GiB), e.g. \"1MiB\"");
  };
  NumberAndUnit nu;
  if (!split_number_unit(text, nu)) return bad();
  std::uint64_t scale = 0;
  if (nu.unit == "B") {
    scale = 1;
  } else if (nu.unit == "KiB") {
    scale = 1024;
  } else if (nu.unit == "MiB") {
    scale = 1024 * 1024;
  } else if (nu.unit == "GiB") {
    scale = 1024 * 1024 * 1024;
  } else {
    return bad();
  }
  constexpr std::uint64_t kMax = std::uint64_t{1} << 40;  // 1 TiB: no cap is ever larger
  if (nu.number > kMax / scale) return bad();
  return static_cast<std::size_t>(nu.number * scale);
}

Result<Listen> parse_listen(std::string_view text) {
  auto bad = [&] {
    return make_error(std::string(kErrorCode),
                      "invalid listen address \"" + std::string(text) +
                          "\": expected host:port or [v6-address]:port, e.g. \"127.0.0.1:8080\"");
  };
  Listen out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return bad();
    out.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad();
    out.host = std::string(text.substr(0, colon));
    if (out.host.find(':') != std::string::npos) return bad();  // bare v6 needs brackets
    port_text = text.substr(colon + 1);
  }
  if (out.host.empty() || port_text.empty()) return bad();
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || ptr != port_text.data() + port_text.size() || port > 65535) return bad();
  out.port = static_cast<std::uint16_t>(port);
  return out;
}

std::string Listen::text() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

std::optional<Level> parse_log_level(std::string_view text) {
  if (text == "trace" || text == "debug") return Level::debug;
  if (text == "info") return Level::info;
  if (text == "warning" || text == "warn") return Level::warn;
  if (text == "error") return Level::error;
  return std::nullopt;
}

std::string_view log_level_name(Level level) {
  switch (level) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warn:
      return "warning";
    case Level::error:
      return "error";
  }
  return "info";
}

}  // namespace isync::config
