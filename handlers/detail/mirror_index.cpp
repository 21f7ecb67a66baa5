#include "handlers/detail/mirror_index.hpp"

namespace isync::handlers::detail {

const char* const kIndexLua = R"lua(
local function isync_index(rec_key)
  local obj, no = rec_key:match(':rec:([^:]+):([^:]+)$')
  if not obj then return end
  local base = rec_key:sub(1, #rec_key - #obj - #no - 5)
  local idx, idxv = base .. 'idx:' .. obj, base .. 'idxv:' .. obj
  local r = redis.call('HMGET', rec_key, 'v', 'del', 'draft', 'f')
  if not r[1] or r[2] == '1' or r[3] == '1' or not tonumber(no) then
    redis.call('ZREM', idx, no)
    redis.call('HDEL', idxv, no)
    return
  end
  local val = r[1]
  if obj == 'ARINVOICE' then
    local due = ''
    local ok, f = pcall(cjson.decode, r[4] or '{}')
    if ok and type(f) == 'table' and type(f.TOTALDUE) == 'string' then due = f.TOTALDUE end
    val = val .. ':' .. due
  end
  redis.call('ZADD', idx, tonumber(no), no)
  redis.call('HSET', idxv, no, val)
end
)lua";

const char* const kFenceLua = R"lua(
local function isync_fenced(lock_key, token)
  if token == nil or token == '' then return false end
  return redis.call('GET', lock_key) ~= token
end
)lua";

}  // namespace isync::handlers::detail
