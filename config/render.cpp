// The effective configuration as TOML, secrets as "***".
#include <sstream>

#include "config/detail/fields.hpp"

namespace isync::config {

using detail::duration_text;
using detail::size_text;

namespace {

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

}  // namespace

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
    << "apply_batch = " << c.mirror.apply_batch << "\n"
    << "apply_call_budget = \"" << duration_text(c.mirror.apply_call_budget) << "\"\n"
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
    << "read_after_settle = " << (c.intacct.read_after_settle ? "true" : "false") << "\n"
    << "trigger_leeway = \""
    << (c.intacct.trigger_leeway.count() == 0
            ? std::string("0s")
            : duration_text(
                  std::chrono::duration_cast<std::chrono::milliseconds>(c.intacct.trigger_leeway)))
    << "\"\n\n"
    << "[payments]\n"
    << "signature_tolerance = \""
    << duration_text(
           std::chrono::duration_cast<std::chrono::milliseconds>(c.payments.signature_tolerance))
    << "\"\n"
    << "redact = " << string_list(c.payments.redact) << "\n"
    << "lease = \"" << duration_text(c.payments.lease) << "\"\n"
    << "readback_interval = \"" << duration_text(c.payments.readback_interval) << "\"\n"
    << "readback_wait = \"" << duration_text(c.payments.readback_wait) << "\"\n\n"
    << "[reconcile]\n"
    << "lock_ttl = \"" << duration_text(c.reconcile.lock_ttl) << "\"\n"
    << "retry_base = \"" << duration_text(c.reconcile.retry_base) << "\"\n"
    << "retry_cap = \"" << duration_text(c.reconcile.retry_cap) << "\"\n"
    << "max_attempts = " << c.reconcile.max_attempts << "\n"
    << "keep_runs = " << c.reconcile.keep_runs << "\n\n"
    << "[admin]\n"
    << "token = " << secret_text(c.admin.token) << "\n"
    << "replay_rate = " << c.admin.replay_rate << "\n"
    << "console_session_ttl = \"" << duration_text(c.admin.console_session_ttl) << "\"\n"
    << "console_secure_cookie = " << (c.admin.console_secure_cookie ? "true" : "false") << "\n\n"
    << "[alerts]\n"
    << "webhook_url = " << secret_text(c.alerts.webhook_url) << "\n"
    << "dead_threshold = " << c.alerts.dead_threshold << "\n"
    << "drift_threshold = \"" << detail::percent_text(c.alerts.drift_threshold) << "\"\n"
    << "check_interval = \"" << duration_text(c.alerts.check_interval) << "\"\n"
    << "retry_cap = \"" << duration_text(c.alerts.retry_cap) << "\"\n"
    << "give_up_after = \"" << duration_text(c.alerts.give_up_after) << "\"\n"
    << "post_timeout = \"" << duration_text(c.alerts.post_timeout) << "\"\n\n"
    << "[log]\n"
    << "level = \"" << log_level_name(c.log.level) << "\"\n";
  for (const auto& t : c.tenants) {
    std::vector<std::string> stripe(t.stripe_secrets.size(), "***");
    std::vector<std::string> trigger(t.trigger_client_secrets.size(), "***");
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
      << "trigger_client_secrets = " << string_list(trigger) << "\n"
      << "trigger_client_id = " << toml_string(t.trigger_client_id) << "\n"
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
