// The Lua of the event index (event_index.hpp): one function every script that
// changes an event's state calls after writing the document. kAckLua is
// defined here too: it carries the index's text inside it, joined at compile
// time, so that handlers building their scripts during static initialisation
// never see it half made.
#include <array>
#include <cstddef>

#include "queue/event_index.hpp"
#include "queue/queue.hpp"

namespace isync::queue {

namespace {

constexpr char kIndexText[] = R"lua(
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
  if not pfx or redis.call('EXISTS', doc) == 0 then return end
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
  -- A part with a line break would corrupt ix (one key per line): such a
  -- value is left out of the index (the document still holds it).
  local function ok(s) return s ~= '' and not string.find(s, '\n', 1, true) end
  local keys = {'all'}
  if f[1] and ok(f[1]) then keys[#keys + 1] = 's:' .. f[1] end
  if ok(object) then
    keys[#keys + 1] = 'o:' .. object
    if ok(rkey) then keys[#keys + 1] = 'k:' .. object .. ':' .. rkey end
  end
  local code, errorno = f[5] or '', f[6] or ''
  if ok(code) then keys[#keys + 1] = 'e:' .. code end
  if ok(errorno) and errorno ~= code then keys[#keys + 1] = 'e:' .. errorno end
  local score = tonumber(f[2] or '0') or 0
  for _, s in ipairs(keys) do
    redis.call('ZADD', pfx .. 'evx:' .. s, score, id)
    redis.call('SADD', pfx .. 'evx:keys', s)
  end
  redis.call('HSET', doc, 'ix', table.concat(keys, '\n'))
end
)lua";

constexpr char kAckEntry[] = R"lua(
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
)lua";

constexpr char kAckDoc[] = R"lua(
if redis.call('EXISTS', KEYS[2]) == 1 then
  local t = redis.call('TIME')
  redis.call('HSET', KEYS[2], 'state', 'done',
             'updated_at', tostring(t[1] * 1000 + math.floor(t[2] / 1000)))
  redis.call('PERSIST', KEYS[2])
  isync_evindex(KEYS[2])
end
)lua";

template <std::size_t A, std::size_t B>
constexpr std::array<char, A + B - 1> join(const char (&a)[A], const char (&b)[B]) {
  std::array<char, A + B - 1> out{};
  for (std::size_t i = 0; i + 1 < A; ++i) out[i] = a[i];
  for (std::size_t i = 0; i < B; ++i) out[A - 1 + i] = b[i];
  return out;
}

template <std::size_t A, std::size_t B>
constexpr std::array<char, A + B - 1> join(const std::array<char, A>& a, const char (&b)[B]) {
  std::array<char, A + B - 1> out{};
  for (std::size_t i = 0; i + 1 < A; ++i) out[i] = a[i];
  for (std::size_t i = 0; i < B; ++i) out[A - 1 + i] = b[i];
  return out;
}

constexpr auto kAckText = join(join(kIndexText, kAckEntry), kAckDoc);

}  // namespace

const char* const kEventIndexLua = kIndexText;

// Written to run inside a handler's function: no return, no globals. An event
// without a document (the hot path: done on its first delivery) costs the
// EXISTS only. ARGV[3] (done retention) is no longer read: documents never
// expire, the sweep removes them (event_index.hpp); it stays so that the
// handlers' own argument positions do not move.
const char* const kAckLua = kAckText.data();

const char* const kAckDocLua = kAckDoc;

}  // namespace isync::queue
