// The field table of [[tenant]]: names, types and the checks of single values.
// Checks across values are in build() (config.cpp).
#include "config/detail/fields.hpp"

namespace isync::config::detail {

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
      {"trigger_client_secrets", false,
       [](T& t, const Raw& r, const std::string& k, Ctx& ctx) -> VoidResult {
         if (r.kind != Raw::Kind::array)
           return fail(k + ": expected an array of secret references");
         t.trigger_client_secrets.clear();
         for (std::size_t i = 0; i < r.items.size(); ++i) {
           Raw item{Raw::Kind::string, r.items[i], {}};
           const std::string item_key = k + "[" + std::to_string(i) + "]";
           auto s = as_secret(item_key, item, ctx);
           if (!s) return s.error();
           // An empty signing key would let anyone sign.
           if (s->empty()) return fail(item_key + ": the secret is empty (an OAuth client secret)");
           t.trigger_client_secrets.push_back(std::move(*s));
         }
         return {};
       }},
      text("trigger_client_id", &T::trigger_client_id),
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

}  // namespace isync::config::detail
