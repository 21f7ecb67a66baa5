#include "intacct/detail/client_scripts.hpp"

namespace isync::intacct::detail {

std::string client_key(std::string_view tenant, std::string_view suffix) {
  std::string k = "isync:{";
  k += tenant;
  k += "}:intacct:";
  k += suffix;
  return k;
}

// A circuit opened for other credentials is closed here (the configuration
// changed). The probe lock is set with the probe interval when the circuit
// opens, so the first caller after the interval wins it and logs in. Expired
// slots (a crashed process) are dropped before counting. A background call
// (ARGV[8] = '1') counts against a limit one lower, so the last slot stays
// free for live calls; at concurrency 1 it may take the only one. Counting and
// taking happen in this one script, so no other call slips in between.
const redis::Script& begin_script() {
  static const redis::Script script(R"lua(
local now = tonumber(ARGV[1])
local mode = 'ok'
local c = redis.call('HMGET', KEYS[2], 'fingerprint', 'reason')
if c[1] then
  if c[1] ~= ARGV[5] then
    redis.call('DEL', KEYS[2], KEYS[3])
    mode = 'closed'
  elseif redis.call('SET', KEYS[3], ARGV[7], 'NX', 'PX', ARGV[6]) then
    mode = 'probe'
  else
    return {'open', c[2] or ''}
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
local limit = tonumber(ARGV[2])
if ARGV[8] == '1' and limit > 1 then limit = limit - 1 end
if n >= limit then
  if mode == 'probe' then redis.call('DEL', KEYS[3]) end
  return {'busy', tostring(n)}
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local s = redis.call('HMGET', KEYS[4], 'id', 'endpoint', 'expires_ms', 'fp')
return {mode, tostring(n + 1), s[1] or '', s[2] or '', s[3] or '', s[4] or ''}
)lua");
  return script;
}

// A session is usable when it was made with the configured credentials and
// has more than the margin left. `stale_id` is one just rejected by Intacct.
const redis::Script& session_script() {
  static const redis::Script script(R"lua(
if ARGV[7] ~= '1' and redis.call('HGET', KEYS[3], 'fingerprint') == ARGV[3] then
  return {'open'}
end
local s = redis.call('HMGET', KEYS[1], 'id', 'endpoint', 'expires_ms', 'fp')
if ARGV[7] ~= '1' and s[1] and s[1] ~= ARGV[6] and s[4] == ARGV[3] and
   tonumber(s[3] or '0') - tonumber(ARGV[2]) > tonumber(ARGV[1]) then
  return {'session', s[1], s[2] or '', s[3]}
end
if redis.call('SET', KEYS[2], ARGV[4], 'NX', 'PX', ARGV[5]) then
  return {'lock'}
end
return {'wait'}
)lua");
  return script;
}

const redis::Script& store_session_script() {
  static const redis::Script script(R"lua(
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'endpoint', ARGV[2], 'expires_ms', ARGV[3],
           'fp', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
if redis.call('GET', KEYS[2]) == ARGV[5] then
  redis.call('DEL', KEYS[2])
end
if ARGV[7] == '1' then
  local closed = redis.call('DEL', KEYS[3])
  redis.call('DEL', KEYS[4])
  return closed
end
return 0
)lua");
  return script;
}

const redis::Script& touch_session_script() {
  static const redis::Script script(R"lua(
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'expires_ms', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
)lua");
  return script;
}

const redis::Script& drop_session_script() {
  static const redis::Script script(R"lua(
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
)lua");
  return script;
}

const redis::Script& unlock_script() {
  static const redis::Script script(R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
)lua");
  return script;
}

// The stored session is dropped: it was made with the rejected credentials.
// The probe lock is (re)set so the next probe comes one interval from now.
const redis::Script& open_circuit_script() {
  static const redis::Script script(R"lua(
local was = redis.call('HGET', KEYS[1], 'fingerprint')
if was == ARGV[1] then
  redis.call('HSET', KEYS[1], 'reason', ARGV[3])
else
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'opened_ms', ARGV[2], 'reason', ARGV[3], 'fingerprint', ARGV[1])
end
redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[4])
redis.call('DEL', KEYS[3])
if was == ARGV[1] then return 0 end
return 1
)lua");
  return script;
}

// Markers make each alert fire once per month across all processes; crossing
// both thresholds in one step fires only the limit alert.
const redis::Script& budget_script() {
  static const redis::Script script(R"lua(
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
local level = 0
if total >= tonumber(ARGV[4]) then
  if redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[2]) then level = 2 end
  redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2])
elseif total >= tonumber(ARGV[3]) then
  if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then level = 1 end
end
return {total, level}
)lua");
  return script;
}

}  // namespace isync::intacct::detail
