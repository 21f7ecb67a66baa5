// The claim scripts: each alert is decided by one atomic step in Redis, so
// the processes that observed the same thing agree on which one sends it.
#include "alerts/detail/claims.hpp"

#include "queue/queue.hpp"

namespace isync::alerts::detail {

namespace {

// KEYS[1] hash {state, at}; ARGV: state, observed_ms, initial state.
const redis::Script& crossing_script() {
  static const redis::Script s(R"lua(
local cur = redis.call('HGET', KEYS[1], 'state')
local at = tonumber(redis.call('HGET', KEYS[1], 'at') or '0') or 0
local obs = tonumber(ARGV[2]) or 0
if obs < at then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'at', ARGV[2])
if not cur then
  if ARGV[1] == ARGV[3] then return 0 end
  return 1
end
if cur == ARGV[1] then return 0 end
return 1
)lua");
  return s;
}

// KEYS[1] level; ARGV: level, ttl seconds.
const redis::Script& level_script() {
  static const redis::Script s(R"lua(
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local level = tonumber(ARGV[1])
if level <= cur then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
)lua");
  return s;
}

// KEYS[1] cursor; ARGV: now_ms.
const redis::Script& cursor_script() {
  static const redis::Script s(R"lua(
local c = redis.call('GET', KEYS[1])
if not c then
  redis.call('SET', KEYS[1], ARGV[1])
  c = ARGV[1]
end
return c
)lua");
  return s;
}

// KEYS[1] cursor, KEYS[2] window; ARGV: from, to, window_ms.
const redis::Script& digest_script() {
  static const redis::Script s(R"lua(
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
return 1
)lua");
  return s;
}

Error unavailable(const boost::system::error_code& ec, const redis::Reply& reply) {
  return make_error("unavailable", "Redis: " + (ec ? ec.message() : reply.str));
}

redis::Handler as_bool(std::function<void(Result<bool>)> done) {
  return [done = std::move(done)](boost::system::error_code ec, redis::Reply reply) {
    if (ec || reply.is_error()) return done(unavailable(ec, reply));
    if (reply.type == redis::Reply::Type::integer) return done(reply.integer == 1);
    // SET NX answers OK or nil.
    done(reply.type == redis::Reply::Type::status);
  };
}

}  // namespace

std::string alerts_key(std::string_view tenant, std::string_view suffix) {
  return queue::key(tenant, "alerts:" + std::string(suffix));
}

void claim_crossing(redis::Connection& conn, const std::string& key, const std::string& state,
                    std::int64_t observed_ms, const std::string& initial,
                    std::function<void(Result<bool>)> done) {
  conn.eval(crossing_script(), {key}, {state, std::to_string(observed_ms), initial},
            as_bool(std::move(done)));
}

void claim_level(redis::Connection& conn, const std::string& key, int level, std::int64_t ttl_s,
                 std::function<void(Result<bool>)> done) {
  conn.eval(level_script(), {key}, {std::to_string(level), std::to_string(ttl_s)},
            as_bool(std::move(done)));
}

void digest_cursor(redis::Connection& conn, const std::string& tenant, std::int64_t now_ms,
                   std::function<void(Result<std::int64_t>)> done) {
  conn.eval(cursor_script(), {alerts_key(tenant, "dead:cursor")}, {std::to_string(now_ms)},
            [done = std::move(done)](boost::system::error_code ec, redis::Reply reply) {
              if (ec || reply.is_error()) return done(unavailable(ec, reply));
              try {
                done(static_cast<std::int64_t>(std::stoll(reply.str)));
              } catch (const std::exception&) {
                done(make_error("unavailable", "Redis: the digest cursor is not a number"));
              }
            });
}

void claim_digest(redis::Connection& conn, const std::string& tenant, std::int64_t from,
                  std::int64_t to, std::int64_t window_ms, std::function<void(Result<bool>)> done) {
  conn.eval(digest_script(), {alerts_key(tenant, "dead:cursor"), alerts_key(tenant, "dead:window")},
            {std::to_string(from), std::to_string(to), std::to_string(window_ms)},
            as_bool(std::move(done)));
}

void digest_window_open(redis::Connection& conn, const std::string& tenant,
                        std::function<void(Result<bool>)> done) {
  conn.command({"EXISTS", alerts_key(tenant, "dead:window")}, as_bool(std::move(done)));
}

void claim_run(redis::Connection& conn, const std::string& tenant, const std::string& run_id,
               std::int64_t ttl_ms, std::function<void(Result<bool>)> done) {
  conn.command(
      {"SET", alerts_key(tenant, "reconcile:" + run_id), "1", "NX", "PX", std::to_string(ttl_ms)},
      as_bool(std::move(done)));
}

}  // namespace isync::alerts::detail
