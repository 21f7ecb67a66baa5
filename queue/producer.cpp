#include <chrono>

#include "queue/detail/scripts.hpp"
#include "queue/queue.hpp"

namespace isync::queue {

namespace {

// The accept scripts' ARGV: built by moves (a braced list would copy the
// envelope once more).
std::vector<std::string> accept_args(const Envelope& env, std::chrono::seconds window) {
  std::vector<std::string> args;
  args.reserve(3);
  args.push_back(env.event_id);
  args.push_back(std::to_string(std::max<std::int64_t>(1, window.count())));
  args.push_back(encode(env));
  return args;
}

using SteadyClock = std::chrono::steady_clock;

// Redis error replies that mean "cannot take writes now"; anything else is
// unexpected but still means the event was not stored.
std::string describe_refusal(const std::string& reply) {
  if (reply.rfind("OOM", 0) == 0) return "Redis is out of memory (maxmemory reached)";
  if (reply.rfind("MISCONF", 0) == 0) return "Redis refuses writes: it cannot persist (MISCONF)";
  if (reply.rfind("READONLY", 0) == 0) return "Redis is a read-only replica";
  if (reply.rfind("LOADING", 0) == 0) return "Redis is loading its data";
  if (reply.rfind("BUSY", 0) == 0) return "Redis is busy running a script";
  return "Redis refused the write: " + reply.substr(0, 200);
}

Error unavailable(std::string why) {
  return make_error("unavailable", why + "; the event was not stored");
}

// A full key already names the tenant's namespace (isync:{tenant}:…); any
// other text is hashed into it.
std::string dedup_key_of(const std::string& tenant, const std::string& dedup_key) {
  std::string_view k = dedup_key;
  bool full = k.size() >= tenant.size() + 9 && k.substr(0, 7) == "isync:{" &&
              k.substr(7, tenant.size()) == tenant && k.substr(7 + tenant.size(), 2) == "}:";
  return full ? dedup_key : key(tenant, "dedup:" + sha256_hex(dedup_key));
}

void on_accept_reply(boost::system::error_code ec, const redis::Reply& r,
                     const std::function<void(Result<AcceptResult>)>& done) {
  if (ec) return done(unavailable("Redis is unreachable (" + ec.message() + ")"));
  if (r.is_error()) return done(unavailable(describe_refusal(r.str)));
  if (r.type != redis::Reply::Type::array || r.elements.size() != 2 ||
      r.elements[0].type != redis::Reply::Type::string ||
      r.elements[1].type != redis::Reply::Type::integer) {
    return done(unavailable("Redis gave an unexpected reply to the accept script"));
  }
  done(AcceptResult{r.elements[0].str, r.elements[1].integer == 1});
}

}  // namespace

Producer::Producer(std::shared_ptr<redis::Connection> conn, Metrics& metrics)
    : conn_(std::move(conn)),
      latency_(metrics.histogram("isync_enqueue_seconds",
                                 "Time from accept() to Redis's reply, in seconds")) {}

void Producer::accept(const Envelope& env, const std::vector<std::string>& dedup_keys,
                      std::chrono::seconds window, std::function<void(Result<AcceptResult>)> done) {
  std::vector<std::string> keys{key(env.tenant, "events")};
  for (const auto& k : dedup_keys) keys.push_back(dedup_key_of(env.tenant, k));
  auto& latency = latency_;
  auto started = SteadyClock::now();
  conn_->eval(
      detail::accept_any_script(), std::move(keys), accept_args(env, window),
      [done = std::move(done), &latency, started](boost::system::error_code ec, redis::Reply r) {
        latency.observe(std::chrono::duration<double>(SteadyClock::now() - started).count());
        on_accept_reply(ec, r, done);
      });
}

void Producer::accept(const Envelope& env, const std::string& dedup_key,
                      std::chrono::seconds window, std::function<void(Result<AcceptResult>)> done) {
  std::string dedup = dedup_key_of(env.tenant, dedup_key);
  auto& latency = latency_;
  auto started = SteadyClock::now();
  std::vector<std::string> keys;
  keys.reserve(2);
  keys.push_back(std::move(dedup));
  keys.push_back(key(env.tenant, "events"));
  conn_->eval(
      detail::accept_script(), std::move(keys), accept_args(env, window),
      [done = std::move(done), &latency, started](boost::system::error_code ec, redis::Reply r) {
        latency.observe(std::chrono::duration<double>(SteadyClock::now() - started).count());
        on_accept_reply(ec, r, done);
      });
}

void Producer::probe_writable(std::function<void(bool ok, std::string why)> done) {
  if (!conn_->connected()) return done(false, "Redis is unreachable");
  conn_->command({"SET", "isync:probe", "1", "PX", "10000"},
                 [done = std::move(done)](boost::system::error_code ec, redis::Reply r) {
                   if (ec) return done(false, "Redis is unreachable (" + ec.message() + ")");
                   if (r.is_error()) return done(false, describe_refusal(r.str));
                   done(true, {});
                 });
}

namespace {

Result<std::string> config_get(redis::SyncConnection& conn, const std::string& name) {
  auto r = conn.command({"CONFIG", "GET", name});
  if (!r) return r.error();
  if (r->is_error()) {
    return make_error("redis_requirements", "cannot read Redis setting '" + name + "': " + r->str +
                                                "; allow CONFIG GET for the service's Redis user");
  }
  if (r->type != redis::Reply::Type::array || r->elements.size() != 2) {
    return make_error("redis_requirements", "Redis did not report the setting '" + name + "'");
  }
  return Result<std::string>(boost::system::in_place_value, r->elements[1].str);
}

}  // namespace

Result<RedisRequirements> check_redis_requirements(redis::SyncConnection& conn) {
  auto aof = config_get(conn, "appendonly");
  if (!aof) return aof.error();
  auto policy = config_get(conn, "maxmemory-policy");
  if (!policy) return policy.error();
  auto fsync = config_get(conn, "appendfsync");
  if (!fsync) return fsync.error();
  std::string problems;
  std::string fixes;
  if (*aof != "yes") {
    problems += "appendonly is '" + *aof + "' (accepted events would not survive a restart)";
    fixes += "appendonly yes\nappendfsync always\n";
  }
  if (*policy != "noeviction") {
    if (!problems.empty()) problems += "; ";
    problems += "maxmemory-policy is '" + *policy + "' (Redis could evict queued events)";
    fixes += "maxmemory-policy noeviction\n";
  }
  if (!problems.empty()) {
    return make_error("redis_requirements", "Redis is not safe for the queue: " + problems +
                                                ". Put these lines in redis.conf and restart "
                                                "Redis:\n" +
                                                fixes);
  }
  return RedisRequirements{*fsync};
}

}  // namespace isync::queue
