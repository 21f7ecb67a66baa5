// The on-call engine's Lua (detail/lua.hpp): one function that acts on one
// event, pasted into the scripts that act by ids, set a payment's snapshot
// and step a job, so that every path follows the same state table.
#include "oncall/detail/lua.hpp"

#include <string>

#include "handlers/detail/payment_lua.hpp"
#include "queue/event_index.hpp"

namespace isync::oncall::detail {
namespace {

// isync_act(pfx, id, action, now, actor, reason, settled_by_hand, lease,
// owner) → {code, state}. `now` is decimal ms text.
const char* const kActLua = R"lua(
local isync_unsettled = {unsent = true, posting = true, unknown = true, reversing = true,
                         reverse_unknown = true}
local function isync_payment(doc)
  local env = redis.call('HGET', doc, 'envelope')
  if not env then return nil end
  local ok, e = pcall(cjson.decode, env)
  if ok and type(e) == 'table' and e.source == 'stripe' and type(e.key) == 'string' and
      e.key ~= '' then
    return e.key
  end
  return nil
end
local function isync_append(doc, rec)
  local attempts = redis.call('HGET', doc, 'attempts')
  if not attempts or attempts == '' or attempts == '[]' then
    attempts = '[' .. rec .. ']'
  else
    attempts = string.sub(attempts, 1, -2) .. ',' .. rec .. ']'
  end
  redis.call('HSET', doc, 'attempts', attempts)
end
local function isync_record(kind, now, actor, reason, extra)
  return '{"kind":' .. cjson.encode(kind) .. ',"at":' .. now .. ',"actor":' ..
      cjson.encode(actor) .. ',"reason":' .. cjson.encode(reason) .. (extra or '') .. '}'
end
local function isync_unqueue(pfx, id)
  redis.call('ZREM', pfx .. 'dead', id)
  redis.call('ZREM', pfx .. 'retry', id)
  redis.call('ZREM', pfx .. 'parked', id)
end
local function isync_act(pfx, id, action, now, actor, reason, sbh, lease, owner)
  local doc = pfx .. 'ev:' .. id
  local state = redis.call('HGET', doc, 'state')
  if not state then return {'not_found', ''} end
  local payment = isync_payment(doc)
  local pay = nil
  if payment then pay = pfx .. 'pay:' .. payment end
  if action == 'replay' then
    if state == 'pending' then return {'already_pending', state} end
    if state ~= 'dead' and state ~= 'parked' and state ~= 'retrying' and state ~= 'discarded' then
      return {'invalid_state', state}
    end
    if pay and redis.call('HGET', pay, 'state') == 'abandoned' then
      return {'payment_abandoned', state}
    end
    local env = redis.call('HGET', doc, 'envelope')
    redis.call('XADD', pfx .. 'events', '*', 'e', env, 'a', '0', 'f', '0')
    isync_unqueue(pfx, id)
    isync_append(doc, isync_record('replayed', now, actor, reason))
    redis.call('HSET', doc, 'state', 'pending', 'attempt', '0', 'first_failure', '0',
               'updated_at', now)
  else
    if state ~= 'dead' and state ~= 'parked' and state ~= 'retrying' then
      return {'invalid_state', state}
    end
    if pay then
      local ps = redis.call('HGET', pay, 'state')
      if ps and isync_unsettled[ps] then
        if sbh ~= '1' then return {'payment_unsettled', state} end
        local t = isync_take({pay, pfx .. 'pay-lock:-'}, {owner, now, lease, id, 'post', '0'})
        if t[1] ~= 'ok' then return {'payment_in_progress', state} end
        redis.call('HSET', pay, 'state', 'abandoned', 'abandoned_at', now, 'abandoned_by', actor,
                   'abandoned_event', id)
        redis.call('ZREM', pfx .. 'payments:unsettled', payment)
        local lock = redis.call('HGET', pay, 'lock')
        if lock and redis.call('GET', lock) == payment then redis.call('DEL', lock) end
        redis.call('HDEL', pay, 'owner', 'until')
      end
    end
    isync_unqueue(pfx, id)
    isync_append(doc, isync_record('discarded', now, actor, reason))
    redis.call('HSET', doc, 'state', 'discarded', 'updated_at', now)
  end
  isync_evindex(doc)
  return {'', state}
end
)lua";

std::string with_act(const char* body) {
  return std::string(queue::kEventIndexLua) + handlers::detail::take_lua_function() + kActLua +
         body;
}

const char* const kAct = R"lua(
local pfx = ARGV[1]
local out = {}
for i = 9, #ARGV do
  out[#out + 1] = isync_act(pfx, ARGV[i], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7],
                            ARGV[8])
end
return out
)lua";

const char* const kSet = R"lua(
local pfx, id, now, actor, reason = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local doc = KEYS[1]
local f = redis.call('HMGET', doc, 'state', 'envelope')
if not f[1] then return {'not_found', ''} end
if f[1] ~= 'dead' then return {'invalid_state', f[1]} end
if f[2] ~= ARGV[6] then return {'changed', f[1]} end
local payment = isync_payment(doc)
if payment then
  local pay = pfx .. 'pay:' .. payment
  if redis.call('EXISTS', pay) == 1 then
    local p = redis.call('HMGET', pay, 'state', 'sends', 'failed_event')
    local state, sends = p[1] or '', tonumber(p[2] or '0') or 0
    local ok = sends == 0 and (state == '' or (state == 'failed' and p[3] == id))
    if not ok then return {'payment_may_be_posted', f[1]} end
  end
end
redis.call('HSET', doc, 'envelope', ARGV[7])
isync_append(doc, isync_record('set', now, actor, reason,
                               ',"fields":' .. ARGV[8] .. ',"was":' .. ARGV[9]))
return isync_act(pfx, id, 'replay', now, actor, reason, '0', '0', '')
)lua";

const char* const kCreateJob = R"lua(
local pfx, id, now = ARGV[1], ARGV[2], ARGV[3]
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PERSIST', pfx .. 'job:' .. id .. ':ids')
local created = tonumber(redis.call('HGET', KEYS[1], 'created_at'))
redis.call('ZADD', pfx .. 'jobs', created, id)
if redis.call('HGET', KEYS[1], 'state') == 'running' then
  redis.call('ZADD', pfx .. 'jobs:running', created, id)
end
return 1
)lua";

const char* const kStep = R"lua(
local pfx, jobid, now = ARGV[1], ARGV[2], ARGV[8]
local job = KEYS[1]
local running = pfx .. 'jobs:running'
local h = redis.call('HMGET', job, 'state', 'position', 'matched', 'action', 'actor', 'reason',
                     'settled_by_hand', 'skipped')
if not h[1] then
  redis.call('ZREM', running, jobid)
  return {'gone', 0}
end
if h[1] ~= 'running' then
  redis.call('ZREM', running, jobid)
  return {'finished', 0}
end
local pos, matched = tonumber(h[2]) or 0, tonumber(h[3]) or 0
local n = math.min(tonumber(ARGV[5]), matched - pos)
if n > 0 then
  local rate, burst = tonumber(ARGV[3]), tonumber(ARGV[4])
  local bucket = pfx .. 'oncall:bucket'
  local t = redis.call('TIME')
  local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local b = redis.call('HMGET', bucket, 'tokens', 'ts')
  local tokens = burst
  if b[1] and b[2] then
    tokens = math.min(burst, (tonumber(b[1]) or 0) +
                             math.max(0, ms - (tonumber(b[2]) or ms)) * rate / 1000)
  end
  local take = math.min(n, math.floor(tokens))
  if take < 1 then take = 0 end
  redis.call('HSET', bucket, 'tokens', tostring(tokens - take), 'ts', tostring(ms))
  redis.call('PEXPIRE', bucket, 3600000)
  if take == 0 then return {'wait', 0} end
  n = take
  local ids = redis.call('LRANGE', pfx .. 'job:' .. jobid .. ':ids', pos, pos + n - 1)
  local acted, skipped = 0, 0
  local kept = math.min(tonumber(h[8]) or 0, 100)
  local add = {}
  for _, id in ipairs(ids) do
    local r = isync_act(pfx, id, h[4], now, h[5] or '', h[6] or '', h[7] or '0', ARGV[6],
                        ARGV[7])
    if r[1] == '' then
      acted = acted + 1
    else
      skipped = skipped + 1
      if kept + #add < 100 then
        add[#add + 1] = '{"id":' .. cjson.encode(id) .. ',"state":' .. cjson.encode(r[2]) ..
            ',"code":' .. cjson.encode(r[1]) .. '}'
      end
    end
  end
  if #add > 0 then
    local samples = redis.call('HGET', job, 'skipped_samples')
    if not samples or samples == '' or samples == '[]' then
      samples = '[' .. table.concat(add, ',') .. ']'
    else
      samples = string.sub(samples, 1, -2) .. ',' .. table.concat(add, ',') .. ']'
    end
    redis.call('HSET', job, 'skipped_samples', samples)
  end
  redis.call('HINCRBY', job, 'position', n)
  redis.call('HINCRBY', job, 'processed', n)
  redis.call('HINCRBY', job, 'acted', acted)
  redis.call('HINCRBY', job, 'skipped', skipped)
  pos = pos + n
else
  n = 0
end
redis.call('HSET', job, 'updated_at', now)
if pos >= matched then
  redis.call('HSET', job, 'state', 'done', 'finished_at', now)
  redis.call('ZREM', running, jobid)
  return {'done', n}
end
return {'stepped', n}
)lua";

const char* const kCancel = R"lua(
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return -1 end
if state ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finished_at', ARGV[3], 'updated_at', ARGV[3])
redis.call('ZREM', ARGV[1] .. 'jobs:running', ARGV[2])
return 1
)lua";

const char* const kExpireJobs = R"lua(
local pfx, cutoff = ARGV[1], tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff, 'LIMIT', 0, tonumber(ARGV[3]))
local n = 0
for _, id in ipairs(ids) do
  local job = pfx .. 'job:' .. id
  local h = redis.call('HMGET', job, 'state', 'finished_at')
  if not h[1] or (h[1] ~= 'running' and (tonumber(h[2] or '0') or 0) <= cutoff) then
    redis.call('DEL', job, job .. ':ids')
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', pfx .. 'jobs:running', id)
    n = n + 1
  end
end
return n
)lua";

}  // namespace

const redis::Script& act_script() {
  static const redis::Script script(with_act(kAct));
  return script;
}
const redis::Script& set_script() {
  static const redis::Script script(with_act(kSet));
  return script;
}
const redis::Script& create_job_script() {
  static const redis::Script script(kCreateJob);
  return script;
}
const redis::Script& step_script() {
  static const redis::Script script(with_act(kStep));
  return script;
}
const redis::Script& cancel_script() {
  static const redis::Script script(kCancel);
  return script;
}
const redis::Script& expire_jobs_script() {
  static const redis::Script script(kExpireJobs);
  return script;
}

}  // namespace isync::oncall::detail
