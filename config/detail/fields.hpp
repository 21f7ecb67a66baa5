// Internal to config/: what loading needs across its files. A setting is a
// Field of a section's table (sections.cpp; [[tenant]]'s in tenant_fields.cpp); its value arrives
// as a Raw (from the file or an INTACCT_SYNC_* override) and a typed reader (readers.cpp) turns it
// into the Config member or an Error naming the key.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "config/config.hpp"

namespace isync::config::detail {

using VoidResult = boost::system::result<void, Error>;

inline Error fail(std::string message) {
  return make_error(std::string(kErrorCode), std::move(message));
}

// Error is constructible from a string too, so a string result needs the tag.
inline Result<std::string> ok_text(std::string s) {
  return Result<std::string>(boost::system::in_place_value, std::move(s));
}

inline std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

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

// ---- typed readers (readers.cpp) ---------------------------------------------------

Result<std::string> as_text(const std::string& key, const Raw& raw);
Result<std::int64_t> as_int(const std::string& key, const Raw& raw, std::int64_t min,
                            std::int64_t max);
Result<int> as_int32(const std::string& key, const Raw& raw, int min, int max);
Result<bool> as_bool(const std::string& key, const Raw& raw);
// > 0.
Result<std::chrono::milliseconds> as_duration(const std::string& key, const Raw& raw);
Result<std::size_t> as_size(const std::string& key, const Raw& raw);
Result<Listen> as_listen(const std::string& key, const Raw& raw);
Result<std::string> as_choice(const std::string& key, const Raw& raw,
                              std::initializer_list<std::string_view> choices);
bool valid_cidr(const std::string& text);
Result<std::vector<std::string>> as_cidrs(const std::string& key, const Raw& raw);
Result<Secret> as_secret(const std::string& key, const Raw& raw, Ctx& ctx);
bool valid_clock_time(const std::string& t);  // "HH:MM"
bool valid_window(const std::string& w);      // "<n> days" | "<n> months"

// Replaces the password of a redis:// URL for display.
std::string redact_url(const std::string& url);
// The shortest unit that is exact: "90d", "1h", "500ms"; "1GiB", "16KiB", "7B".
std::string duration_text(std::chrono::milliseconds d);
std::string size_text(std::size_t n);
// A ratio as a percentage with at most two decimals: 0.01 -> "1%", 0.005 -> "0.5%".
std::string percent_text(double ratio);

// ---- field tables (sections.cpp, tenant_fields.cpp) ----------------------------------

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

struct SectionSpec {
  std::string name;
  std::vector<Field<Config>> fields;
};

// Every [section] table, in rendering order.
const std::vector<SectionSpec>& sections();
// [alerts]'s table (alerts_fields.cpp).
std::vector<Field<Config>> alerts_fields();
// [[tenant]]'s table (tenant_fields.cpp).
std::vector<Field<TenantConfig>> tenant_fields();

}  // namespace isync::config::detail
