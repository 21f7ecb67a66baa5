// Loading: TOML -> raw values per key -> environment overrides -> typed,
// validated Config. One table of fields per section (sections.cpp) drives
// parsing, overrides and the unknown-key check, so the three cannot disagree.
#include "config/config.hpp"

#include <toml++/toml.h>

#include <fstream>
#include <sstream>

#include "config/detail/fields.hpp"

extern char** environ;

namespace isync::config {

namespace {

using namespace detail;

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
  if (config.reconcile.retry_cap < config.reconcile.retry_base)
    return fail("reconcile.retry_cap: must not be less than reconcile.retry_base");
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

}  // namespace isync::config
