// The Lua of the event index (event_index.hpp): one function every script that
// changes an event's state calls after writing the document.
#include "queue/event_index.hpp"

namespace isync::queue {

const char* const kEventIndexLua = R"lua(
local function isync_evunindex(doc)
  local pfx = string.match(doc, '^(isync:{[^}]*}:)ev:')
  local ix = redis.call('HGET', doc, 'ix')
  if not pfx or not ix or ix == '' then return end
  local id = string.sub(doc, #pfx + 4)
  for s in string.gmatch(ix, '[^\n]+') do redis.call('ZREM', pfx .. 'evx:' .. s, id) end
  redis.call('HDEL', doc, 'ix')
end
local function isync_evindex(doc)
  local pfx = string.match(doc, '^(isync:{[^}]*}:)ev:')
  if not pfx then return end
  local id = string.sub(doc, #pfx + 4)
  local f = redis.call('HMGET', doc, 'state', 'updated_at', 'object', 'key', 'code', 'errorno')
  local object, rkey = f[3], f[4]
  if not object then
    object, rkey = '', ''
    local env = redis.call('HGET', doc, 'envelope')
    if env then
      local ok, e = pcall(cjson.decode, env)
      if ok and type(e) == 'table' then
        if type(e.object) == 'string' then object = e.object end
        if type(e.key) == 'string' then rkey = e.key end
      end
    end
    redis.call('HSET', doc, 'object', object, 'key', rkey)
  end
  rkey = rkey or ''
  isync_evunindex(doc)
  local keys = {'all'}
  if f[1] and f[1] ~= '' then keys[#keys + 1] = 's:' .. f[1] end
  if object ~= '' then
    keys[#keys + 1] = 'o:' .. object
    if rkey ~= '' then keys[#keys + 1] = 'k:' .. object .. ':' .. rkey end
  end
  local code, errorno = f[5] or '', f[6] or ''
  if code ~= '' then keys[#keys + 1] = 'e:' .. code end
  if errorno ~= '' and errorno ~= code then keys[#keys + 1] = 'e:' .. errorno end
  local score = tonumber(f[2] or '0') or 0
  for _, s in ipairs(keys) do
    redis.call('ZADD', pfx .. 'evx:' .. s, score, id)
    redis.call('SADD', pfx .. 'evx:keys', s)
  end
  redis.call('HSET', doc, 'ix', table.concat(keys, '\n'))
end
)lua";

}  // namespace isync::queue
