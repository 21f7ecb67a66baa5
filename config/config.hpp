// config — the service's settings: one TOML file (PRODUCT.md §7), environment
// overrides, and secret references.
//
// Contract:
//  * `load(path, env)` reads the file (empty path = built-in defaults only),
//    applies `INTACCT_SYNC_<SECTION>_<KEY>` overrides from `env` to every scalar
//    key of the non-array sections, validates every value, resolves every
//    secret reference, and returns a complete Config — or the first error.
//  * Strict: an unknown key, a value of the wrong type, a duration or size that
//    does not parse, an invalid or duplicate tenant id is an Error whose message
//    names the key (e.g. `queue.retry_base`, `tenant[0].token`) and, unless the
//    key is a secret, the value. An override naming a known section but an
//    unknown key (INTACCT_SYNC_QUEUE_WOKERS) is an error too.
//  * Secrets (admin.token, intacct.sender_password, tenant token, read_token,
//    user_password, stripe_secrets, trigger_client_secrets, redis.url,
//    alerts.webhook_url) are references:
//      env:NAME   the environment variable NAME
//      file:PATH  the file's content, one trailing newline stripped
//      enc:B64    AES-256-GCM: base64(12-byte nonce | ciphertext | 16-byte tag)
//                 under the 32-byte key base64-encoded in INTACCT_SYNC_MASTER_KEY
//    or a literal, which is accepted with a warning in Config::warnings. A value
//    given by an environment override is taken as a value, not a literal in a
//    file. A missing variable or file is an error naming the key and the
//    reference — never a secret value.
//  * `Secret` prints as `***`; only `reveal()` gives the value.
//  * Thread rules: a Config is a plain value; load() has no global state.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.hpp"

namespace isync::config {

using Secret = isync::Secret;  // prints as ***; reveal() gives the value

// host:port, or [v6]:port.
struct Listen {
  std::string host;
  std::uint16_t port = 0;
  std::string text() const;  // as it was given
};

struct ServerConfig {
  // Loopback by default so a bare start exposes nothing; production binds
  // 0.0.0.0 behind the TLS-terminating proxy.
  Listen public_listen{"127.0.0.1", 8080};
  Listen admin_listen{"127.0.0.1", 8081};
  std::size_t body_limit = 1024 * 1024;  // bytes ("1MiB")
  std::size_t header_limit = 16 * 1024;  // bytes ("16KiB")
  std::chrono::milliseconds read_timeout{10'000};
  std::chrono::milliseconds drain_timeout{25'000};
  int max_connections = 10000;
  int threads = 0;                              // 0 = hardware concurrency
  std::chrono::milliseconds retry_after{1000};  // Retry-After on 503
  bool noop_route = false;                      // POST /v1/noop/{tenant}/events (benchmarks)
  std::vector<std::string> trusted_proxies;     // CIDRs whose X-Forwarded-For is believed
};

struct RedisConfig {
  Secret url{"redis://127.0.0.1:6379/0"};                // a password may be inside
  std::string display_url = "redis://127.0.0.1:6379/0";  // password replaced by ***
  std::chrono::milliseconds command_timeout{5000};
  // While Redis is unreachable, every connection tries again this often
  // (fixed: a doubling delay kept the service down for seconds after Redis
  // was back). A refused handshake (LOADING) waits the same.
  std::chrono::milliseconds reconnect_interval{100};
};

struct QueueConfig {
  // Concurrent consumers in this process; 0 = a listener-only process (the
  // workers run in other processes sharing the same Redis).
  int workers = 4;
  std::chrono::milliseconds visibility_timeout{60'000};
  std::chrono::milliseconds retry_base{2000};
  std::chrono::milliseconds retry_cap{3'600'000};
  std::chrono::milliseconds give_up_after{24LL * 3'600'000};
  std::chrono::milliseconds dedup_window{72LL * 3'600'000};
  std::chrono::milliseconds dead_letter_retention{30LL * 86'400'000};
  std::chrono::milliseconds done_retention{7LL * 86'400'000};
  int max_deliveries = 20;
};

struct MirrorConfig {
  // Snapshot events applied to the mirror in one script call, at most
  // (count); 1 = one script per event.
  int apply_batch = 64;
  // How long one such call may run before it leaves its remaining events
  // for the next (looked at every 4 events).
  std::chrono::milliseconds apply_call_budget{1};
  int audit_max_entries = 100;
  std::chrono::milliseconds audit_max_age{90LL * 86'400'000};
  std::chrono::milliseconds tombstone_retention{30LL * 86'400'000};
};

struct IntacctConfig {
  // The gateway a new session starts at; each session then uses the endpoint
  // getAPISession returned. http:// is accepted only for a loopback host (the
  // sandbox); anything else must be https:// with a verified certificate.
  std::string endpoint = "https://api.intacct.com/ia/xml/xmlgw.phtml";
  std::string sender_id;  // required as soon as a tenant has Intacct credentials
  Secret sender_password;
  std::chrono::milliseconds connect_timeout{10'000};  // TCP connect + TLS handshake
  std::chrono::milliseconds call_timeout{60'000};     // one gateway request, write to last byte
  std::string ca_file;                                // PEM bundle; empty = the system's store
  // Longest wait for one of the tenant's concurrency slots before the event is
  // retried later (so a throttled tenant does not hold the workers).
  std::chrono::milliseconds slot_wait{2'000};
  // While a tenant's circuit is open (credentials rejected), one login is
  // tried this often across all processes.
  std::chrono::milliseconds circuit_probe_interval{30LL * 60'000};
  // Thin events due together are read in one `read` call: the first waits at
  // most this long for others of the same tenant and object (≤ 100 keys).
  std::chrono::milliseconds read_batch_window{10};
  // A record read from Intacct within the second of its WHENMODIFIED is read
  // again this long after that second ended (a second change in the same
  // second has the same WHENMODIFIED, so its smart event looks like a
  // redelivery). Also covers clock skew between this host and Intacct.
  std::chrono::milliseconds settle_margin{2000};
  // true: a thin event is read only once its WHENMODIFIED second has settled
  // (latency ≈ 1–3 s; every record read once, in large batches). false: read
  // at once (milliseconds) and read again after the second settles.
  bool read_after_settle = true;
  // Platform Trigger tokens: exp + leeway < now or iat - leeway > now is 401
  // signature_expired ("60s"; whole seconds, 0s..1h).
  std::chrono::seconds trigger_leeway{60};
};

// Payments taken by a processor (Stripe) and posted into Intacct as ARPYMT.
struct PaymentsConfig {
  // Stripe-Signature t= may differ from now by this much either way ("300s";
  // whole seconds, 1s..1h); beyond it the webhook is 401 signature_expired.
  std::chrono::seconds signature_tolerance{300};
  // Object member names replaced by "[redacted]", at any depth, in the raw
  // payload kept with a Stripe event (not overridable from the environment).
  std::vector<std::string> redact{"billing_details", "payment_method_details", "receipt_email"};
  // A payment's lease while it is posted to Intacct, renewed by a heartbeat
  // every lease/3 (at least 3s).
  std::chrono::milliseconds lease{90'000};
  // After an ambiguous write (the outcome unknown): the wait between
  // read-backs (at least 100ms) ...
  std::chrono::milliseconds readback_interval{15'000};
  // ... and how long to only read back before sending again (at least
  // readback_interval).
  std::chrono::milliseconds readback_wait{120'000};
};

// The daily reconciliation (PRODUCT.md §4); per-tenant timing
// (reconcile_at, initial_window, concurrency) is in [[tenant]].
struct ReconcileConfig {
  // A run's lock in Redis expires this long after its last renewal (renewed
  // every third of it): how soon a crashed runner's tenant can run again.
  // At least 3s.
  std::chrono::milliseconds lock_ttl{60'000};
  // Transient Intacct failures of a run: first delay and cap of the backoff
  // (cap ≥ base), and attempts per call (1..100).
  std::chrono::milliseconds retry_base{2'000};
  std::chrono::milliseconds retry_cap{60'000};
  int max_attempts = 8;
  // Reports kept per tenant (1..1000).
  int keep_runs = 30;
};

struct AdminConfig {
  Secret token;  // empty = admin API disabled (every admin request is 401)
  // Bulk replays and discards (on-call jobs): events per second per tenant,
  // shared by every process (1..100000).
  int replay_rate = 20;
  // The console's login session: how long its cookie lasts (whole seconds,
  // 1m..7d), and whether the cookie is marked Secure (set it when the admin
  // listener is reached over TLS, e.g. behind a TLS-terminating proxy).
  std::chrono::seconds console_session_ttl{8 * 3600};
  bool console_secure_cookie = false;
};

// Alerts posted to a chat webhook (README "Alerts"). Off unless webhook_url
// is set.
struct AlertsConfig {
  // Where alerts are posted (Slack-compatible JSON). A secret: a Slack URL
  // carries its token. https://, or http:// to a loopback host only.
  // Empty = no alerts.
  Secret webhook_url;
  // A tenant's dead letters at or over this many: one alert, and one more
  // when they fall back under it (1..100000000).
  std::int64_t dead_threshold = 100;
  // A reconcile run whose drift (missing + stale + gone records) is more than
  // this share of the records it listed alerts. Written as a percentage with
  // at most two decimals, "1%" (0.01%..100%); kept as a ratio (0.01).
  double drift_threshold = 0.01;
  // Every serve process looks at Redis this often (≥ 1s).
  std::chrono::milliseconds check_interval{15'000};
  // A post that fails is retried after 1s, doubling up to retry_cap, and
  // given up once give_up_after has passed since the alert was raised.
  std::chrono::milliseconds retry_cap{300'000};
  std::chrono::milliseconds give_up_after{3'600'000};
  // One post: connect + TLS + write + the reply.
  std::chrono::milliseconds post_timeout{10'000};
  bool enabled() const { return !webhook_url.empty(); }
};

struct LogConfig {
  // [log] level, INTACCT_SYNC_LOG_LEVEL, or a command's --log-level (which
  // wins): see parse_log_level.
  Level level = Level::info;
};

struct TenantConfig {
  std::string id;
  Secret token;                          // required: authenticates the tenant's smart events
  Secret read_token;                     // optional: mirror reads of this tenant only
  std::vector<std::string> allow_cidrs;  // empty = any source
  // Intacct: the tenant's web-services user. All three of company_id,
  // user_id and user_password, or none (no Intacct access: thin events park).
  std::string company_id;
  std::string user_id;
  Secret user_password;
  std::string entity_id;
  std::string timezone = "UTC";
  std::vector<Secret> stripe_secrets;
  // Intacct Platform Triggers: the OAuth client secrets that sign their
  // tokens (any may sign: rotation; empty = the triggers route is 401), and
  // the OAuth client id the triggers use ("" = not checked).
  std::vector<Secret> trigger_client_secrets;
  std::string trigger_client_id;
  // Intacct ARPYMT methods: Printed Check | Cash | EFT | Credit Card |
  // Online Charge Card | Online ACH Debit. ACH payments use ach_payment_method.
  std::string payment_method = "Credit Card";
  std::string ach_payment_method = "EFT";
  // Where payments are deposited, at most one of: a bank account (Intacct
  // FINANCIALENTITY), an undeposited-funds GL account, or a payment batch
  // (PRBATCH). A tenant with stripe_secrets and Intacct credentials needs one.
  std::string bank_account;
  std::string undeposited_account;
  std::string payment_batch;
  std::string match_customers_by = "id";  // id | name
  std::string overpayment = "reject";     // reject | advance
  std::string reconcile_at = "02:30";     // HH:MM, tenant time
  std::string initial_window = "6 months";
  int concurrency = 2;
  std::int64_t monthly_call_budget = 100000;
  // True when company_id, user_id and user_password are all set.
  bool has_intacct() const;
};

struct Config {
  ServerConfig server;
  RedisConfig redis;
  QueueConfig queue;
  MirrorConfig mirror;
  IntacctConfig intacct;
  PaymentsConfig payments;
  ReconcileConfig reconcile;
  AdminConfig admin;
  AlertsConfig alerts;
  LogConfig log;
  std::vector<TenantConfig> tenants;
  // Accepted but worth telling the operator (e.g. a literal secret). Never
  // contains a secret value.
  std::vector<std::string> warnings;

  const TenantConfig* tenant(std::string_view id) const;
};

// Error code of every load failure.
inline constexpr std::string_view kErrorCode = "config";

Result<Config> load(const std::string& path, const std::map<std::string, std::string>& env);
// As load(), from TOML text; `source` names it in parse errors.
Result<Config> load_text(std::string_view toml, std::string_view source,
                         const std::map<std::string, std::string>& env);

// The process environment as a map (for load()).
std::map<std::string, std::string> process_environment();

// The effective configuration as TOML, secrets shown as "***".
std::string render(const Config& config);

// "500ms", "10s", "5m", "1h", "30d": a whole number and a unit, nothing else.
Result<std::chrono::milliseconds> parse_duration(std::string_view text);
// "512B", "16KiB", "1MiB", "1GiB".
Result<std::size_t> parse_size(std::string_view text);
// "host:port" or "[v6]:port"; port 0 is allowed (the OS picks one).
Result<Listen> parse_listen(std::string_view text);

// A log level as [log] level, INTACCT_SYNC_LOG_LEVEL and --log-level spell
// it: trace | debug | info | warning | error ("warn" is taken for warning).
// Nothing is logged below debug, so trace shows what debug shows. Anything
// else is nullopt.
std::optional<Level> parse_log_level(std::string_view text);
// The levels parse_log_level accepts, for messages: "trace, debug, info, warning, error".
inline constexpr std::string_view kLogLevels = "trace, debug, info, warning, error";
// The canonical spelling of a level ("warning", not "warn").
std::string_view log_level_name(Level level);

// enc: helper. Encrypts `plaintext` under the base64 master key and returns
// "enc:…" ready for the config file.
Result<std::string> encrypt_secret(std::string_view plaintext, std::string_view master_key_b64);
// A fresh random master key, base64 (for INTACCT_SYNC_MASTER_KEY).
std::string generate_master_key();

}  // namespace isync::config
