// The field table of every [section]: names, types and the checks of single
// values. Checks across values are in build() (config.cpp); [[tenant]]'s
// table is in tenant_fields.cpp.
#include "config/detail/fields.hpp"

namespace isync::config::detail {

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
      {"apply_batch", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.mirror.apply_batch, as_int32(k, r, 1, 256));
         return {};
       }},
      {"apply_call_budget", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.mirror.apply_call_budget, as_duration(k, r));
         if (c.mirror.apply_call_budget < std::chrono::milliseconds(1) ||
             c.mirror.apply_call_budget > std::chrono::seconds(10))
           return fail(k + ": must be from 1ms to 10s, got " + quoted(r.text));
         return {};
       }},
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
      {"trigger_leeway", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         // Not as_duration, which refuses 0: "0s" is a valid leeway.
         std::string text;
         ISYNC_TRY(text, as_text(k, r));
         auto parsed = parse_duration(text);
         if (!parsed) return fail(k + ": " + parsed.error().message);
         const std::chrono::milliseconds d = *parsed;
         if (d.count() < 0 || d.count() % 1000 != 0)
           return fail(k + ": must be whole seconds, got " + quoted(r.text));
         if (d > std::chrono::hours(1))
           return fail(k + ": must be between 0s and 1h, got " + quoted(r.text));
         c.intacct.trigger_leeway = std::chrono::duration_cast<std::chrono::seconds>(d);
         return {};
       }},
  };
}

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

std::vector<Field<Config>> reconcile_fields() {
  auto duration = [](std::string name, std::chrono::milliseconds ReconcileConfig::*m,
                     std::chrono::milliseconds min) {
    return Field<Config>{
        name, true, [m, min](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
          ISYNC_TRY(c.reconcile.*m, as_duration(k, r));
          if (c.reconcile.*m < min)
            return fail(k + ": must be at least " + duration_text(min) + ", got " + quoted(r.text));
          return {};
        }};
  };
  return {
      duration("lock_ttl", &ReconcileConfig::lock_ttl, std::chrono::seconds(3)),
      duration("retry_base", &ReconcileConfig::retry_base, std::chrono::milliseconds(1)),
      duration("retry_cap", &ReconcileConfig::retry_cap, std::chrono::milliseconds(1)),
      {"max_attempts", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.reconcile.max_attempts, as_int32(k, r, 1, 100));
         return {};
       }},
      {"keep_runs", true,
       [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
         ISYNC_TRY(c.reconcile.keep_runs, as_int32(k, r, 1, 1000));
         return {};
       }},
  };
}

std::vector<Field<Config>> admin_fields() {
  return {{"token", true,
           [](Config& c, const Raw& r, const std::string& k, Ctx& ctx) -> VoidResult {
             ISYNC_TRY(c.admin.token, as_secret(k, r, ctx));
             return {};
           }},
          {"replay_rate", true,
           [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
             ISYNC_TRY(c.admin.replay_rate, as_int32(k, r, 1, 100000));
             return {};
           }},
          {"console_session_ttl", true,
           [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
             std::chrono::milliseconds d{};
             ISYNC_TRY(d, as_duration(k, r));
             if (d.count() % 1000 != 0)
               return fail(k + ": must be whole seconds, got " + quoted(r.text));
             if (d < std::chrono::minutes(1) || d > std::chrono::hours(7 * 24))
               return fail(k + ": must be between 1m and 7d, got " + quoted(r.text));
             c.admin.console_session_ttl = std::chrono::duration_cast<std::chrono::seconds>(d);
             return {};
           }},
          {"console_secure_cookie", true,
           [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
             ISYNC_TRY(c.admin.console_secure_cookie, as_bool(k, r));
             return {};
           }}};
}

std::vector<Field<Config>> log_fields() {
  return {{"level", true, [](Config& c, const Raw& r, const std::string& k, Ctx&) -> VoidResult {
             auto v = as_text(k, r);
             if (!v) return v.error();
             auto level = parse_log_level(*v);
             if (!level) {
               return fail(k + ": expected one of " + std::string(kLogLevels) + ", got " +
                           quoted(*v));
             }
             c.log.level = *level;
             return {};
           }}};
}

const std::vector<SectionSpec>& sections() {
  // One section a line, in rendering order.
  // clang-format off
  static const std::vector<SectionSpec> kSections = {
      {"server", server_fields()},
      {"redis", redis_fields()},
      {"queue", queue_fields()},
      {"mirror", mirror_fields()},
      {"intacct", intacct_fields()},
      {"payments", payments_fields()},
      {"reconcile", reconcile_fields()},
      {"admin", admin_fields()},
      {"alerts", alerts_fields()},
      {"log", log_fields()},
  };
  // clang-format on
  return kSections;
}

}  // namespace isync::config::detail
