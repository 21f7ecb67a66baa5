// [alerts]: the chat webhook and what makes an alert (README "Alerts").
#include <charconv>
#include <cmath>

#include "config/detail/fields.hpp"

namespace isync::config::detail {

namespace {

// "1%", "0.5%", "12.25%": a number with at most two decimals, then "%".
// Returns hundredths of a percent (basis points), or -1.
std::int64_t basis_points(std::string_view text) {
  if (text.size() < 2 || text.size() > 12 || text.back() != '%') return -1;
  text.remove_suffix(1);
  const auto dot = text.find('.');
  const auto whole = text.substr(0, dot);
  const auto frac = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  if (whole.empty() || (dot != std::string_view::npos && (frac.empty() || frac.size() > 2)))
    return -1;
  for (char c : whole)
    if (c < '0' || c > '9') return -1;
  for (char c : frac)
    if (c < '0' || c > '9') return -1;
  std::int64_t w = 0;
  std::from_chars(whole.data(), whole.data() + whole.size(), w);
  std::int64_t f = 0;
  if (!frac.empty()) {
    std::from_chars(frac.data(), frac.data() + frac.size(), f);
    if (frac.size() == 1) f *= 10;
  }
  return w * 100 + f;
}

bool loopback_http(const std::string& url) {
  const std::string rest = url.substr(7);
  return rest.starts_with("127.") || rest.starts_with("localhost:") ||
         rest.starts_with("localhost/") || rest.starts_with("[::1]");
}

}  // namespace

std::string percent_text(double ratio) {
  const auto bp = static_cast<std::int64_t>(std::llround(ratio * 10'000));
  std::string out = std::to_string(bp / 100);
  if (const auto frac = bp % 100; frac != 0) {
    out += frac % 10 == 0 ? "." + std::to_string(frac / 10)
                          : (frac < 10 ? ".0" : ".") + std::to_string(frac);
  }
  return out + "%";
}

std::vector<Field<Config>> alerts_fields() {
  auto duration = [](std::string name, std::chrono::milliseconds AlertsConfig::*m,
                     std::chrono::milliseconds min) {
    return Field<Config>{
        name, true, [m, min](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
          ISYNC_TRY(c.alerts.*m, as_duration(k, r));
          if (c.alerts.*m < min)
            return fail(k + ": must be at least " + duration_text(min) + ", got " + quoted(r.text));
          return {};
        }};
  };
  return {
      {"webhook_url", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx& ctx) -> VoidResult {
         ISYNC_TRY(c.alerts.webhook_url, as_secret(k, r, ctx));
         const std::string& url = c.alerts.webhook_url.reveal();
         // The URL is a secret (a Slack URL carries its token): never quoted.
         if (url.empty()) return {};
         if (url.starts_with("http://")) {
           if (!loopback_http(url))
             return fail(k +
                         ": http:// is accepted only for a loopback host; use https:// (the "
                         "value is a secret and is not shown)");
         } else if (!url.starts_with("https://")) {
           return fail(k + ": expected an https:// URL (the value is a secret and is not shown)");
         }
         return {};
       }},
      {"dead_threshold", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.alerts.dead_threshold, as_int(k, r, 1, 100'000'000));
         return {};
       }},
      {"drift_threshold", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         std::string text;
         ISYNC_TRY(text, as_text(k, r));
         const auto bp = basis_points(text);
         if (bp < 1 || bp > 10'000)
           return fail(k +
                       ": expected a percentage between 0.01% and 100% with at most two "
                       "decimals, e.g. \"1%\" or \"0.5%\", got " +
                       quoted(text));
         c.alerts.drift_threshold = static_cast<double>(bp) / 10'000.0;
         return {};
       }},
      duration("check_interval", &AlertsConfig::check_interval, std::chrono::seconds(1)),
      duration("retry_cap", &AlertsConfig::retry_cap, std::chrono::seconds(1)),
      duration("give_up_after", &AlertsConfig::give_up_after, std::chrono::seconds(1)),
      duration("post_timeout", &AlertsConfig::post_timeout, std::chrono::milliseconds(100)),
  };
}

}  // namespace isync::config::detail
