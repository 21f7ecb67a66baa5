// Loading: TOML -> raw values per key -> environment overrides -> typed,
// validated Config. One table of fields per section drives parsing,
// overrides and the unknown-key check, so the three cannot disagree.
#include "config/config.hpp"

#include <toml++/toml.h>

#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <charconv>
#include <fstream>
#include <functional>
#include <sstream>

#include "config/detail/secret.hpp"

extern char** environ;

namespace isync::config {

namespace {

using VoidResult = boost::system::result<void, Error>;

Error fail(std::string message) { return make_error(std::string(kErrorCode), std::move(message)); }

// Error is constructible from a string too, so a string result needs the tag.
Result<std::string> ok_text(std::string s) {
  return Result<std::string>(boost::system::in_place_value, std::move(s));
}

// One value as found in the file or the environment, before typing.
struct Raw {
  enum class Kind { string, integer, boolean, other, array, env };
  Kind kind = Kind::other;
  std::string text;                // string/integer/boolean/env forms
  std::vector<std::string> items;  // array of strings
};

struct Ctx {
  const std::map<std::string, std::string>& env;
  std::vector<std::string>& warnings;
};

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

// ---- typed readers -------------------------------------------------------------

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

// ---- field tables ----------------------------------------------------------------

template <class T>
struct Field {
  std::string name;
  bool scalar = true;  // arrays cannot be overridden from the environment
  std::function<VoidResult(T&, const Raw&, const std::string& key, Ctx&)> apply;
};

#define ISYNC_TRY(lhs, expr)    \
  do {                          \
    auto r_ = (expr);           \
    if (!r_) return r_.error(); \
    lhs = std::move(*r_);       \
  } while (0)

template <class T, class M>
Field<T> int_field(std::string name, M member, std::int64_t min, std::int64_t max) {
  return {name, true,
          [member, min, max](T& t, const Raw& raw, const std::string& key, Ctx&) -> VoidResult {
            auto v = as_int(key, raw, min, max);
            if (!v) return v.error();
            using Member = std::remove_reference_t<decltype(t.*member)>;
            t.*member = static_cast<Member>(*v);
            return {};
          }};
}

template <class T>
Field<T> text_field(std::string name, std::string T::*member) {
  return {name, true, [member](T& t, const Raw& raw, const std::string& key, Ctx&) -> VoidResult {
            ISYNC_TRY(t.*member, as_text(key, raw));
            return {};
          }};
}

template <class T>
Field<T> secret_field(std::string name, Secret T::*member) {
  return {name, true,
          [member](T& t, const Raw& raw, const std::string& key, Ctx& ctx) -> VoidResult {
            ISYNC_TRY(t.*member, as_secret(key, raw, ctx));
            return {};
          }};
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

std::vector<Field<Config>> server_fields() {
  return {
      {"public_listen", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.server.public_listen, as_listen(k, r));
         return {};
       }},
      {"admin_listen", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.server.admin_listen, as_listen(k, r));
         return {};
       }},
      {"body_limit", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.server.body_limit, as_size(k, r));
         return {};
       }},
      {"header_limit", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.server.header_limit, as_size(k, r));
         return {};
       }},
      {"read_timeout", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.server.read_timeout, as_duration(k, r));
         return {};
       }},
      {"drain_timeout", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.server.drain_timeout, as_duration(k, r));
         return {};
       }},
      {"retry_after", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.server.retry_after, as_duration(k, r));
         return {};
       }},
      {"max_connections", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.server.max_connections, as_int32(k, r, 1, 1'000'000));
         return {};
       }},
      {"threads", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.server.threads, as_int32(k, r, 0, 1024));
         return {};
       }},
      {"noop_route", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.server.noop_route, as_bool(k, r));
         return {};
       }},
      {"trusted_proxies", false,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.server.trusted_proxies, as_cidrs(k, r));
         return {};
       }},
  };
}

std::vector<Field<Config>> redis_fields() {
  return {
      {"url", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx& ctx) -> VoidResult {
         // A URL without a password is not a secret: no literal warning then.
         std::vector<std::string> scratch;
         Ctx local{ctx.env, scratch};
         ISYNC_TRY(c.redis.url, as_secret(k, r, local));
         const auto& url = c.redis.url.reveal();
         if (!url.starts_with("redis://"))
           return fail(k + ": expected redis://[[user]:password@]host[:port][/db]");
         c.redis.display_url = redact_url(url);
         if (c.redis.display_url != url) {
           for (auto& w : scratch) ctx.warnings.push_back(std::move(w));
         }
         return {};
       }},
      {"command_timeout", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.redis.command_timeout, as_duration(k, r));
         return {};
       }},
      {"reconnect_interval", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.redis.reconnect_interval, as_duration(k, r));
         return {};
       }},
  };
}

std::vector<Field<Config>> queue_fields() {
  auto dur = [](std::string name, std::chrono::milliseconds QueueConfig::*m) {
    return Field<Config>{name, true,
                         [m](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
                           ISYNC_TRY(c.queue.*m, as_duration(k, r));
                           return {};
                         }};
  };
  auto num = [](std::string name, int QueueConfig::*m, int min, int max) {
    return Field<Config>{
        name, true,
        [m, min, max](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
          auto v = as_int(k, r, min, max);
          if (!v) return v.error();
          c.queue.*m = static_cast<int>(*v);
          return {};
        }};
  };
  return {
      num("workers", &QueueConfig::workers, 0, 1024),
      dur("visibility_timeout", &QueueConfig::visibility_timeout),
      dur("retry_base", &QueueConfig::retry_base),
      dur("retry_cap", &QueueConfig::retry_cap),
      dur("give_up_after", &QueueConfig::give_up_after),
      dur("dedup_window", &QueueConfig::dedup_window),
      dur("dead_letter_retention", &QueueConfig::dead_letter_retention),
      dur("done_retention", &QueueConfig::done_retention),
      num("max_deliveries", &QueueConfig::max_deliveries, 1, 1000),
  };
}

std::vector<Field<Config>> mirror_fields() {
  return {
      {"audit_max_entries", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.mirror.audit_max_entries, as_int32(k, r, 1, 1'000'000));
         return {};
       }},
      {"audit_max_age", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.mirror.audit_max_age, as_duration(k, r));
         return {};
       }},
      {"tombstone_retention", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.mirror.tombstone_retention, as_duration(k, r));
         return {};
       }},
  };
}

std::vector<Field<Config>> intacct_fields() {
  auto dur = [](std::string name, std::chrono::milliseconds IntacctConfig::*m) {
    return Field<Config>{name, true,
                         [m](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
                           ISYNC_TRY(c.intacct.*m, as_duration(k, r));
                           return {};
                         }};
  };
  return {
      {"endpoint", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.intacct.endpoint, as_text(k, r));
         const std::string& url = c.intacct.endpoint;
         if (url.starts_with("http://")) {
           // Plain HTTP would send the passwords in clear: only the local sandbox.
           const std::string rest = url.substr(7);
           if (!(rest.starts_with("127.") || rest.starts_with("localhost:") ||
                 rest.starts_with("localhost/") || rest.starts_with("[::1]")))
             return fail(k +
                         ": http:// is accepted only for a loopback host (the sandbox); use "
                         "https:// for " +
                         quoted(url));
         } else if (!url.starts_with("https://")) {
           return fail(k + ": expected an https:// URL, got " + quoted(url));
         }
         return {};
       }},
      {"sender_id", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.intacct.sender_id, as_text(k, r));
         return {};
       }},
      {"sender_password", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx& ctx) -> VoidResult {
         ISYNC_TRY(c.intacct.sender_password, as_secret(k, r, ctx));
         return {};
       }},
      dur("connect_timeout", &IntacctConfig::connect_timeout),
      dur("call_timeout", &IntacctConfig::call_timeout),
      {"ca_file", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.intacct.ca_file, as_text(k, r));
         return {};
       }},
      dur("slot_wait", &IntacctConfig::slot_wait),
      dur("circuit_probe_interval", &IntacctConfig::circuit_probe_interval),
      dur("read_batch_window", &IntacctConfig::read_batch_window),
      dur("settle_margin", &IntacctConfig::settle_margin),
      {"read_after_settle", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.intacct.read_after_settle, as_bool(k, r));
         return {};
       }},
  };
}

std::string duration_text(std::chrono::milliseconds d);  // below, with rendering

std::vector<Field<Config>> payments_fields() {
  auto at_least = [](std::string name, std::chrono::milliseconds PaymentsConfig::*m,
                     std::chrono::milliseconds min) {
    return Field<Config>{
        name, true, [m, min](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
          ISYNC_TRY(c.payments.*m, as_duration(k, r));
          if (c.payments.*m < min)
            return fail(k + ": must be at least " + duration_text(min) + ", got " + quoted(r.text));
          return {};
        }};
  };
  return {
      {"signature_tolerance", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         std::chrono::milliseconds d{};
         ISYNC_TRY(d, as_duration(k, r));
         if (d.count() % 1000 != 0)
           return fail(k + ": must be whole seconds, got " + quoted(r.text));
         if (d < std::chrono::seconds(1) || d > std::chrono::hours(1))
           return fail(k + ": must be between 1s and 1h, got " + quoted(r.text));
         c.payments.signature_tolerance = std::chrono::duration_cast<std::chrono::seconds>(d);
         return {};
       }},
      {"redact", false,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         if (r.kind != Raw::Kind::array) return fail(k + ": expected an array of member names");
         for (const auto& item : r.items) {
           if (item.empty()) return fail(k + ": a member name must not be empty");
         }
         c.payments.redact = r.items;
         return {};
       }},
      at_least("lease", &PaymentsConfig::lease, std::chrono::seconds(3)),
      at_least("readback_interval", &PaymentsConfig::readback_interval,
               std::chrono::milliseconds(100)),
      {"readback_wait", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.payments.readback_wait, as_duration(k, r));
         return {};
       }},
  };
}

std::vector<Field<Config>> admin_fields() {
  return {
      {"token", true, [](Config& c, const Raw& r, const std::string& k, Ctx& ctx) -> VoidResult {
         ISYNC_TRY(c.admin.token, as_secret(k, r, ctx));
         return {};
       }}};
}

std::vector<Field<Config>> log_fields() {
  return {{"level", true, [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
             auto v = as_choice(k, r, {"debug", "info", "warn", "error"});
             if (!v) return v.error();
             c.log.level = *v == "debug"  ? Level::debug
                           : *v == "info" ? Level::info
                           : *v == "warn" ? Level::warn
                                          : Level::error;
             return {};
           }}};
}

std::vector<Field<TenantConfig>> tenant_fields() {
  using T = TenantConfig;
  auto text = [](std::string name, std::string T::*m) { return text_field<T>(std::move(name), m); };
  auto secret = [](std::string name, Secret T::*m) { return secret_field<T>(std::move(name), m); };
  auto payment_method = [](std::string name, std::string T::*m) {
    return Field<T>{name, true, [m](T& t, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
                      // Intacct's ARPYMT payment methods.
                      ISYNC_TRY(t.*m, as_choice(k, r,
                                                {"Printed Check", "Cash", "EFT", "Credit Card",
                                                 "Online Charge Card", "Online ACH Debit"}));
                      return {};
                    }};
  };
  return {
      text("id", &T::id),
      secret("token", &T::token),
      secret("read_token", &T::read_token),
      {"allow_cidrs", false,
       [](T& t, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(t.allow_cidrs, as_cidrs(k, r));
         return {};
       }},
      text("company_id", &T::company_id),
      text("user_id", &T::user_id),
      secret("user_password", &T::user_password),
      text("entity_id", &T::entity_id),
      {"timezone", true,
       [](T& t, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(t.timezone, as_text(k, r));
         if (t.timezone.empty()) return fail(k + ": must not be empty (e.g. \"UTC\")");
         if (!valid_timezone(t.timezone)) {
           return fail(k + ": unknown time zone '" + t.timezone +
                       "' (a name of the tz database, e.g. \"America/New_York\")");
         }
         return {};
       }},
      {"stripe_secrets", false,
       [](T& t, const Raw& r, const std::string& k, Ctx& ctx) -> VoidResult {
         if (r.kind != Raw::Kind::array)
           return fail(k + ": expected an array of secret references");
         t.stripe_secrets.clear();
         for (std::size_t i = 0; i < r.items.size(); ++i) {
           Raw item{Raw::Kind::string, r.items[i], {}};
           const std::string item_key = k + "[" + std::to_string(i) + "]";
           auto s = as_secret(item_key, item, ctx);
           if (!s) return s.error();
           // An empty signing key would let anyone sign.
           if (s->empty())
             return fail(item_key + ": the secret is empty (a Stripe webhook signing secret)");
           t.stripe_secrets.push_back(std::move(*s));
         }
         return {};
       }},
      payment_method("payment_method", &T::payment_method),
      payment_method("ach_payment_method", &T::ach_payment_method),
      text("bank_account", &T::bank_account),
      text("undeposited_account", &T::undeposited_account),
      text("payment_batch", &T::payment_batch),
      {"match_customers_by", true,
       [](T& t, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(t.match_customers_by, as_choice(k, r, {"id", "name"}));
         return {};
       }},
      {"overpayment", true,
       [](T& t, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(t.overpayment, as_choice(k, r, {"reject", "advance"}));
         return {};
       }},
      {"reconcile_at", true,
       [](T& t, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(t.reconcile_at, as_text(k, r));
         if (!valid_clock_time(t.reconcile_at))
           return fail(k + ": expected HH:MM (24-hour), got " + quoted(t.reconcile_at));
         return {};
       }},
      {"initial_window", true,
       [](T& t, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(t.initial_window, as_text(k, r));
         if (!valid_window(t.initial_window))
           return fail(k + ": expected \"<n> days\" or \"<n> months\", got " +
                       quoted(t.initial_window));
         return {};
       }},
      int_field<T>("concurrency", &T::concurrency, 1, 100),
      int_field<T>("monthly_call_budget", &T::monthly_call_budget, 0, 1'000'000'000'000),
  };
}

struct SectionSpec {
  std::string name;
  std::vector<Field<Config>> fields;
};

const std::vector<SectionSpec>& sections() {
  static const std::vector<SectionSpec> kSections = {
      {"server", server_fields()}, {"redis", redis_fields()},     {"queue", queue_fields()},
      {"mirror", mirror_fields()}, {"intacct", intacct_fields()}, {"payments", payments_fields()},
      {"admin", admin_fields()},   {"log", log_fields()},
  };
  return kSections;
}

std::string upper(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

std::string lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

constexpr std::string_view kEnvPrefix = "INTACCT_SYNC_";

// ---- TOML -> Raw -------------------------------------------------------------------

Result<Raw> to_raw(const std::string& key, const toml::node& node) {
  Raw raw;
  if (auto s = node.as_string()) {
    raw.kind = Raw::Kind::string;
    raw.text = s->get();
  } else if (auto i = node.as_integer()) {
    raw.kind = Raw::Kind::integer;
    raw.text = std::to_string(i->get());
  } else if (auto b = node.as_boolean()) {
    raw.kind = Raw::Kind::boolean;
    raw.text = b->get() ? "true" : "false";
  } else if (auto a = node.as_array()) {
    raw.kind = Raw::Kind::array;
    for (const auto& item : *a) {
      auto str = item.as_string();
      if (!str) return fail(key + ": every item must be a string");
      raw.items.push_back(str->get());
    }
  } else if (node.is_table()) {
    return fail(key + ": unknown key (not a setting; check the spelling)");
  } else {
    raw.kind = Raw::Kind::other;
  }
  return raw;
}

template <class T>
VoidResult apply_table(T& target, const toml::table* table, const std::vector<Field<T>>& fields,
                       const std::string& prefix, std::map<std::string, Raw> overrides, Ctx& ctx) {
  std::map<std::string, Raw> raws = std::move(overrides);
  if (table) {
    for (const auto& [k, node] : *table) {
      std::string name(k.str());
      std::string key = prefix + "." + name;
      bool known = false;
      for (const auto& f : fields) known = known || f.name == name;
      if (!known) return fail(key + ": unknown key (not a setting; check the spelling)");
      if (raws.count(name)) continue;  // the environment wins
      auto raw = to_raw(key, node);
      if (!raw) return raw.error();
      raws.emplace(name, std::move(*raw));
    }
  }
  for (const auto& f : fields) {
    auto it = raws.find(f.name);
    if (it == raws.end()) continue;
    auto r = f.apply(target, it->second, prefix + "." + f.name, ctx);
    if (!r) return r.error();
  }
  return {};
}

VoidResult check_env_names(const std::map<std::string, std::string>& env) {
  for (const auto& [name, value] : env) {
    if (!name.starts_with(kEnvPrefix)) continue;
    auto rest = name.substr(kEnvPrefix.size());
    auto us = rest.find('_');
    if (us == std::string::npos) continue;
    auto section = lower(rest.substr(0, us));
    auto key = lower(rest.substr(us + 1));
    for (const auto& s : sections()) {
      if (s.name != section) continue;
      bool known = false;
      for (const auto& f : s.fields) known = known || (f.scalar && f.name == key);
      if (!known) {
        return fail(name + ": no setting " + section + "." + key +
                    " can be overridden (check the spelling)");
      }
    }
  }
  return {};
}

Result<Config> build(const toml::table& root, const std::map<std::string, std::string>& env) {
  Config config;
  Ctx ctx{env, config.warnings};
  for (const auto& [k, node] : root) {
    std::string name(k.str());
    bool known = name == "tenant";
    for (const auto& s : sections()) known = known || s.name == name;
    if (!known) return fail(name + ": unknown key (not a setting; check the spelling)");
    if (name == "tenant") {
      if (!node.is_array_of_tables()) return fail("tenant: use [[tenant]] tables");
    } else if (!node.is_table()) {
      return fail(name + ": expected a [" + name + "] table");
    }
  }
  if (auto r = check_env_names(env); !r) return r.error();

  for (const auto& s : sections()) {
    std::map<std::string, Raw> overrides;
    for (const auto& f : s.fields) {
      if (!f.scalar) continue;
      auto it = env.find(std::string(kEnvPrefix) + upper(s.name) + "_" + upper(f.name));
      if (it != env.end()) overrides.emplace(f.name, Raw{Raw::Kind::env, it->second, {}});
    }
    auto r =
        apply_table(config, root[s.name].as_table(), s.fields, s.name, std::move(overrides), ctx);
    if (!r) return r.error();
  }

  if (config.queue.retry_cap < config.queue.retry_base)
    return fail("queue.retry_cap: must not be less than queue.retry_base");
  if (config.payments.readback_wait < config.payments.readback_interval)
    return fail("payments.readback_wait: must not be less than payments.readback_interval");

  if (const auto* tenants = root["tenant"].as_array()) {
    static const auto kTenantFields = tenant_fields();
    for (std::size_t i = 0; i < tenants->size(); ++i) {
      const std::string prefix = "tenant[" + std::to_string(i) + "]";
      TenantConfig t;
      auto r = apply_table(t, (*tenants)[i].as_table(), kTenantFields, prefix, {}, ctx);
      if (!r) return r.error();
      if (t.id.empty()) return fail(prefix + ".id: required");
      if (!valid_tenant_id(t.id)) {
        return fail(prefix + ".id: invalid tenant id " + quoted(t.id) +
                    ": use 1-64 characters of a-z, 0-9, _ and -");
      }
      if (config.tenant(t.id)) return fail(prefix + ".id: duplicate tenant id " + quoted(t.id));
      if (t.token.empty()) return fail(prefix + ".token: required (the tenant's webhook token)");
      const bool any_intacct =
          !t.company_id.empty() || !t.user_id.empty() || !t.user_password.empty();
      if (any_intacct && !t.has_intacct()) {
        const char* missing = t.company_id.empty() ? "company_id"
                              : t.user_id.empty()  ? "user_id"
                                                   : "user_password";
        return fail(prefix + "." + missing +
                    ": required with the other Intacct credentials (company_id, user_id, "
                    "user_password: all three, or none for a tenant without Intacct access)");
      }
      if (t.has_intacct() && config.intacct.sender_id.empty())
        return fail("intacct.sender_id: required, since tenant " + quoted(t.id) +
                    " has Intacct credentials");
      const int deposits = static_cast<int>(!t.bank_account.empty()) +
                           static_cast<int>(!t.undeposited_account.empty()) +
                           static_cast<int>(!t.payment_batch.empty());
      if (deposits > 1)
        return fail(prefix +
                    ": set at most one of bank_account, undeposited_account and payment_batch "
                    "(where the tenant's payments are deposited)");
      if (deposits == 0 && !t.stripe_secrets.empty() && t.has_intacct())
        return fail(prefix + ": tenant " + quoted(t.id) +
                    " posts Stripe payments to Intacct and needs one of bank_account, "
                    "undeposited_account or payment_batch (where they are deposited)");
      config.tenants.push_back(std::move(t));
    }
  }
  return config;
}

// ---- rendering --------------------------------------------------------------------

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

std::string toml_string(std::string_view s) {
  std::string out;
  append_json_string(out, s);  // JSON escapes are valid TOML basic-string escapes
  return out;
}

std::string secret_text(const Secret& s) { return s.empty() ? "\"\"" : "\"***\""; }

std::string string_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + toml_string(items[i]);
  return out + "]";
}

const char* level_text(Level l) {
  switch (l) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warn:
      return "warn";
    case Level::error:
      return "error";
  }
  return "info";
}

}  // namespace

bool TenantConfig::has_intacct() const {
  return !company_id.empty() && !user_id.empty() && !user_password.empty();
}

const TenantConfig* Config::tenant(std::string_view id) const {
  for (const auto& t : tenants) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

Result<Config> load_text(std::string_view toml_text, std::string_view source,
                         const std::map<std::string, std::string>& env) {
  try {
    auto root = toml::parse(toml_text, source);
    return build(root, env);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return fail(std::string(source) + ":" + std::to_string(where.line) + ":" +
                std::to_string(where.column) + ": " + std::string(e.description()));
  }
}

Result<Config> load(const std::string& path, const std::map<std::string, std::string>& env) {
  if (path.empty()) return load_text("", "(defaults)", env);
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail("cannot read the config file \"" + path + "\"");
  std::ostringstream text;
  text << in.rdbuf();
  return load_text(text.str(), path, env);
}

std::map<std::string, std::string> process_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

std::string render(const Config& c) {
  std::ostringstream o;
  o << "[server]\n"
    << "public_listen = " << toml_string(c.server.public_listen.text()) << "\n"
    << "admin_listen = " << toml_string(c.server.admin_listen.text()) << "\n"
    << "body_limit = \"" << size_text(c.server.body_limit) << "\"\n"
    << "header_limit = \"" << size_text(c.server.header_limit) << "\"\n"
    << "read_timeout = \"" << duration_text(c.server.read_timeout) << "\"\n"
    << "drain_timeout = \"" << duration_text(c.server.drain_timeout) << "\"\n"
    << "max_connections = " << c.server.max_connections << "\n"
    << "threads = " << c.server.threads << "\n"
    << "retry_after = \"" << duration_text(c.server.retry_after) << "\"\n"
    << "noop_route = " << (c.server.noop_route ? "true" : "false") << "\n"
    << "trusted_proxies = " << string_list(c.server.trusted_proxies) << "\n\n"
    << "[redis]\n"
    << "url = " << toml_string(c.redis.display_url) << "\n"
    << "command_timeout = \"" << duration_text(c.redis.command_timeout) << "\"\n"
    << "reconnect_interval = \"" << duration_text(c.redis.reconnect_interval) << "\"\n\n"
    << "[queue]\n"
    << "workers = " << c.queue.workers << "\n"
    << "visibility_timeout = \"" << duration_text(c.queue.visibility_timeout) << "\"\n"
    << "retry_base = \"" << duration_text(c.queue.retry_base) << "\"\n"
    << "retry_cap = \"" << duration_text(c.queue.retry_cap) << "\"\n"
    << "give_up_after = \"" << duration_text(c.queue.give_up_after) << "\"\n"
    << "dedup_window = \"" << duration_text(c.queue.dedup_window) << "\"\n"
    << "dead_letter_retention = \"" << duration_text(c.queue.dead_letter_retention) << "\"\n"
    << "done_retention = \"" << duration_text(c.queue.done_retention) << "\"\n"
    << "max_deliveries = " << c.queue.max_deliveries << "\n\n"
    << "[mirror]\n"
    << "audit_max_entries = " << c.mirror.audit_max_entries << "\n"
    << "audit_max_age = \"" << duration_text(c.mirror.audit_max_age) << "\"\n"
    << "tombstone_retention = \"" << duration_text(c.mirror.tombstone_retention) << "\"\n\n"
    << "[intacct]\n"
    << "endpoint = " << toml_string(c.intacct.endpoint) << "\n"
    << "sender_id = " << toml_string(c.intacct.sender_id) << "\n"
    << "sender_password = " << secret_text(c.intacct.sender_password) << "\n"
    << "connect_timeout = \"" << duration_text(c.intacct.connect_timeout) << "\"\n"
    << "call_timeout = \"" << duration_text(c.intacct.call_timeout) << "\"\n"
    << "ca_file = " << toml_string(c.intacct.ca_file) << "\n"
    << "slot_wait = \"" << duration_text(c.intacct.slot_wait) << "\"\n"
    << "circuit_probe_interval = \"" << duration_text(c.intacct.circuit_probe_interval) << "\"\n"
    << "read_batch_window = \"" << duration_text(c.intacct.read_batch_window) << "\"\n"
    << "settle_margin = \"" << duration_text(c.intacct.settle_margin) << "\"\n"
    << "read_after_settle = " << (c.intacct.read_after_settle ? "true" : "false") << "\n\n"
    << "[payments]\n"
    << "signature_tolerance = \""
    << duration_text(
           std::chrono::duration_cast<std::chrono::milliseconds>(c.payments.signature_tolerance))
    << "\"\n"
    << "redact = " << string_list(c.payments.redact) << "\n"
    << "lease = \"" << duration_text(c.payments.lease) << "\"\n"
    << "readback_interval = \"" << duration_text(c.payments.readback_interval) << "\"\n"
    << "readback_wait = \"" << duration_text(c.payments.readback_wait) << "\"\n\n"
    << "[admin]\n"
    << "token = " << secret_text(c.admin.token) << "\n\n"
    << "[log]\n"
    << "level = \"" << level_text(c.log.level) << "\"\n";
  for (const auto& t : c.tenants) {
    std::vector<std::string> stripe(t.stripe_secrets.size(), "***");
    o << "\n[[tenant]]\n"
      << "id = " << toml_string(t.id) << "\n"
      << "token = " << secret_text(t.token) << "\n"
      << "read_token = " << secret_text(t.read_token) << "\n"
      << "allow_cidrs = " << string_list(t.allow_cidrs) << "\n"
      << "company_id = " << toml_string(t.company_id) << "\n"
      << "user_id = " << toml_string(t.user_id) << "\n"
      << "user_password = " << secret_text(t.user_password) << "\n"
      << "entity_id = " << toml_string(t.entity_id) << "\n"
      << "timezone = " << toml_string(t.timezone) << "\n"
      << "stripe_secrets = " << string_list(stripe) << "\n"
      << "payment_method = " << toml_string(t.payment_method) << "\n"
      << "ach_payment_method = " << toml_string(t.ach_payment_method) << "\n"
      << "bank_account = " << toml_string(t.bank_account) << "\n"
      << "undeposited_account = " << toml_string(t.undeposited_account) << "\n"
      << "payment_batch = " << toml_string(t.payment_batch) << "\n"
      << "match_customers_by = " << toml_string(t.match_customers_by) << "\n"
      << "overpayment = " << toml_string(t.overpayment) << "\n"
      << "reconcile_at = " << toml_string(t.reconcile_at) << "\n"
      << "initial_window = " << toml_string(t.initial_window) << "\n"
      << "concurrency = " << t.concurrency << "\n"
      << "monthly_call_budget = " << t.monthly_call_budget << "\n";
  }
  return o.str();
}

}  // namespace isync::config
