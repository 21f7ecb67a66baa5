#include "queue/detail/scripts.hpp"

#include "queue/event_index.hpp"
#include "queue/queue.hpp"

namespace isync::queue {

void ack_inputs(const Delivery& d, std::vector<std::string>& keys, std::vector<std::string>& args,
                std::chrono::seconds done_retention) {
  keys.push_back(d.stream);
  keys.push_back(key(d.tenant, "ev:" + d.envelope.event_id));
  args.emplace_back(kGroup);
  args.push_back(d.entry_id);
  args.push_back(std::to_string(done_retention.count()));
}

void keep_pending(redis::Connection& conn, const Delivery& d, std::function<void(bool)> done) {
  // Idle time 0 = claim whatever its idle time; JUSTID leaves the delivery
  // count alone, so keeping an entry alive never makes it look like poison.
  conn.command({"XCLAIM", d.stream, std::string(kGroup), d.consumer, "0", d.entry_id, "JUSTID"},
               [done = std::move(done)](boost::system::error_code ec, redis::Reply r) {
                 done(!ec && r.type == redis::Reply::Type::array && !r.elements.empty());
               });
}

namespace detail {

const redis::Script& accept_script() {
  // A failed XADD (e.g. OOM after the SET) removes the dedup key again, so a
  // rejected accept leaves nothing behind.
  static const redis::Script script(R"lua(
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  local ok, err = pcall(redis.call, 'XADD', KEYS[2], '*', 'e', ARGV[3], 'a', '0', 'f', '0')
  if not ok then
    redis.call('DEL', KEYS[1])
    return redis.error_reply(err.err or tostring(err))
  end
  return {ARGV[1], 0}
end
return {redis.call('GET', KEYS[1]), 1}
)lua");
  return script;
}

const redis::Script& accept_any_script() {
  static const redis::Script script(R"lua(
for i = 2, #KEYS do
  local found = redis.call('GET', KEYS[i])
  if found then
    for j = 2, i - 1 do
      pcall(redis.call, 'SET', KEYS[j], found, 'NX', 'EX', ARGV[2])
    end
    return {found, 1}
  end
end
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[1], 'EX', ARGV[2]) end
local ok, err = pcall(redis.call, 'XADD', KEYS[1], '*', 'e', ARGV[3], 'a', '0', 'f', '0')
if not ok then
  for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
  return redis.error_reply(err.err or tostring(err))
end
return {ARGV[1], 0}
)lua");
  return script;
}

const redis::Script& move_script() {
  static const redis::Script script(std::string(kEventIndexLua) + R"lua(
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('XDEL', KEYS[1], ARGV[2])
local attempts = redis.call('HGET', KEYS[2], 'attempts')
if not attempts or attempts == '' then attempts = '[]' end
if ARGV[5] ~= '' then
  if attempts == '[]' then
    attempts = '[' .. ARGV[5] .. ']'
  else
    attempts = string.sub(attempts, 1, -2) .. ',' .. ARGV[5] .. ']'
  end
  redis.call('HSET', KEYS[2], 'code', ARGV[12], 'errorno', ARGV[13])
end
redis.call('HSET', KEYS[2], 'event_id', ARGV[11], 'envelope', ARGV[4], 'state', ARGV[3],
           'attempts', attempts, 'attempt', ARGV[6], 'first_failure', ARGV[7],
           'reason', ARGV[9], 'updated_at', ARGV[10])
redis.call('PERSIST', KEYS[2])
redis.call('ZADD', KEYS[3], ARGV[8], ARGV[11])
isync_evindex(KEYS[2])
return 1
)lua");
  return script;
}

const redis::Script& release_script() {
  static const redis::Script script(std::string(kEventIndexLua) + R"lua(
local now = ARGV[4]
if not now or now == '' then
  local t = redis.call('TIME')
  now = tostring(t[1] * 1000 + math.floor(t[2] / 1000))
end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  local doc = ARGV[2] .. id
  local f = redis.call('HMGET', doc, 'envelope', 'attempt', 'first_failure')
  if f[1] then
    redis.call('XADD', KEYS[2], '*', 'e', f[1], 'a', f[2] or '0', 'f', f[3] or '0')
    redis.call('HSET', doc, 'state', 'pending', 'updated_at', now)
    isync_evindex(doc)
  end
  redis.call('ZREM', KEYS[1], id)
end
return #ids
)lua");
  return script;
}

}  // namespace detail
}  // namespace isync::queue
