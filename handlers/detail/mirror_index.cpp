#include "handlers/detail/mirror_index.hpp"

#include <string>

namespace isync::handlers::detail {

const char* const kIndexLua = R"lua(
-- The index keys of a record key's prefix ("<base>rec:<OBJECT>"), made once
-- per prefix and call: a pattern over every record key cost more.
local isync_index_keys = {}
-- rec_no: the record's RECORDNO when the caller has it (the part after the
-- key's last ':'), else it is read from the key.
local function isync_index(rec_key, written, rec_no)
  local no = rec_no
  if no == nil then
    no = rec_key:match(':rec:[^:]+:([^:]+)$')
    if not no then return end
  elseif no == '' or string.find(no, ':', 1, true) then
    return
  end
  local prefix = string.sub(rec_key, 1, #rec_key - #no - 1)
  local ks = isync_index_keys[prefix]
  if ks == nil then
    local base, obj = prefix:match('^(.*:)rec:([^:]+)$')
    ks = base and {base .. 'idx:' .. obj, base .. 'idxv:' .. obj, obj} or false
    isync_index_keys[prefix] = ks
  end
  if not ks then return end
  local idx, idxv, obj = ks[1], ks[2], ks[3]
  -- written: {v, TOTALDUE} of a live record the caller has just written in
  -- full (what a read back would find); nil: read the record.
  local r = written and {written[1], '0', '0'} or
      redis.call('HMGET', rec_key, 'v', 'del', 'draft', 'f')
  local score = tonumber(no)
  if not r[1] or r[2] == '1' or r[3] == '1' or not score then
    redis.call('ZREM', idx, no)
    redis.call('HDEL', idxv, no)
    return
  end
  local val = r[1]
  if obj == 'ARINVOICE' then
    local due = ''
    if written then
      if type(written[2]) == 'string' then due = written[2] end
    else
      local ok, f = pcall(cjson.decode, r[4] or '{}')
      if ok and type(f) == 'table' and type(f.TOTALDUE) == 'string' then due = f.TOTALDUE end
    end
    val = val .. ':' .. due
  end
  redis.call('ZADD', idx, score, no)
  redis.call('HSET', idxv, no, val)
end
)lua";

const char* const kFenceLua = R"lua(
local function isync_fenced(lock_key, token)
  if token == nil or token == '' then return false end
  return redis.call('GET', lock_key) ~= token
end
)lua";

const redis::Script& index_page_script() {
  static const redis::Script script(std::string(kIndexLua) + R"lua(
local idx, idxv, prefix = KEYS[1], KEYS[2], ARGV[1]
local lo, hi, limit = '(' .. ARGV[2], ARGV[3], tonumber(ARGV[4])
local out, n = {}, 0
while n < limit do
  local batch = redis.call('ZRANGEBYSCORE', idx, lo, hi, 'WITHSCORES', 'LIMIT', 0, limit - n)
  if #batch == 0 then break end
  for i = 1, #batch, 2 do
    local no = batch[i]
    local rec = prefix .. no
    local r = redis.call('HMGET', rec, 'v', 'del', 'draft')
    if not r[1] or r[2] == '1' or r[3] == '1' then
      redis.call('ZREM', idx, no)
      redis.call('HDEL', idxv, no)
    else
      local val = redis.call('HGET', idxv, no)
      if not val then
        isync_index(rec)
        val = redis.call('HGET', idxv, no)
      end
      if val then
        out[#out + 1] = no
        out[#out + 1] = val
        n = n + 1
      end
    end
  end
  lo = '(' .. batch[#batch]
end
return out
)lua");
  return script;
}

const redis::Script& backfill_script() {
  static const redis::Script script(std::string(kIndexLua) + R"lua(
local state = KEYS[1]
for i = 2, #KEYS do isync_index(KEYS[i]) end
local cur = redis.call('HMGET', state, 'cursor', 'scanned', 'ready')
if cur[3] == '1' then return {1, tonumber(cur[2]) or 0} end
if (cur[1] or '0') ~= ARGV[1] then return {0, tonumber(cur[2]) or 0} end
local scanned = redis.call('HINCRBY', state, 'scanned', #KEYS - 1)
redis.call('HSET', state, 'cursor', ARGV[2])
if ARGV[2] == '0' then
  redis.call('HSET', state, 'ready', '1')
  return {1, scanned}
end
return {0, scanned}
)lua");
  return script;
}

}  // namespace isync::handlers::detail
