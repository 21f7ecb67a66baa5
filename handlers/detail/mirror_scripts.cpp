#include <string>

#include "handlers/detail/mirror_index.hpp"
#include "handlers/detail/mirror_lua.hpp"
#include "queue/event_index.hpp"
#include "queue/queue.hpp"

// The mirror's scripts, assembled from the apply's decision text
// (mirror_lua.cpp), the queue's ack lines, the index and the fence.
namespace isync::handlers::detail {
namespace {

constexpr const char* kReadBody = R"lua(
local r = redis.call('HMGET', KEYS[1], 'v', 'wm', 'del', 'draft', 'f')
if not r[1] or r[4] == '1' then return {} end
local a = redis.call('LRANGE', KEYS[2], 0, tonumber(ARGV[1]) - 1)
return {r[1], r[2] or '', r[3] or '0', r[5] or '{}', a}
)lua";

constexpr const char* kFindBody = R"lua(
local ids = redis.call('SMEMBERS', KEYS[1])
table.sort(ids, function(a, b) return (tonumber(a) or 0) < (tonumber(b) or 0) end)
local limit, alimit = tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
for _, recno in ipairs(ids) do
  if #out >= limit then break end
  local r = redis.call('HMGET', ARGV[1] .. recno, 'v', 'wm', 'del', 'draft', 'f')
  if r[1] and r[4] ~= '1' then
    out[#out + 1] = {recno, r[1], r[2] or '', r[3] or '0', r[5] or '{}',
                     redis.call('LRANGE', ARGV[2] .. recno, 0, alimit - 1)}
  end
end
return out
)lua";

// One event, fenced and indexed: the decision runs as a function so that
// every path, whatever it returns, ends with the record's index entry set
// from what it holds; a fenced call writes nothing at all. Expects
// isync_ack, isync_index and isync_fenced defined before it.
std::string fenced_apply() {
  return std::string(apply_defs()) +
         "\nlocal isync_written = nil\n"
         "local function isync_apply(KEYS, ARGV)\n" +
         apply_body() +
         "\nend\n"
         "local function isync_run(KEYS, ARGV)\n"
         "  if isync_fenced(KEYS[6], ARGV[21]) then return {'fenced', 0} end\n"
         "  isync_written = nil\n"
         "  local result = isync_apply(KEYS, ARGV)\n"
         "  isync_index(KEYS[3], isync_written, ARGV[15])\n"
         "  return result\n"
         "end\n";
}

}  // namespace

const redis::Script& apply_script() {
  static const redis::Script script(std::string("local function isync_ack()\n") + queue::kAckLua +
                                    "\nend\n" + kIndexLua + kFenceLua + fenced_apply() +
                                    "return isync_run(KEYS, ARGV)\n");
  return script;
}

// The same apply, for several events in one call, for at most ARGV[3] µs:
// from then on (looked at every 4 events) the remaining events are answered
// {'later'} and not run. Each event's KEYS and ARGV
// are handed to isync_run as its own KEYS and ARGV (parameters shadow the
// globals, so the apply text is the one above, unchanged); the functions are
// made once per call. Each event runs under pcall: an error ends that event
// alone (what it wrote before the error stays, as when the one-event script
// fails; its ack is not reached unless the error came after it) and is
// answered {'error', message}. The acks are gathered (ids per stream; the
// first element is the group) and made with one XACK and one XDEL per stream
// at the end of the same script.
const redis::Script& apply_batch_script() {
  static const redis::Script script(
      std::string(kIndexLua) + kFenceLua + queue::kEventIndexLua +
      "local isync_acks = {}\n"
      "local isync_keys, isync_args\n"
      "local function isync_ack()\n"
      "local KEYS, ARGV = isync_keys, isync_args\n"
      "local ids = isync_acks[KEYS[1]]\n"
      "if not ids then ids = {ARGV[1]}; isync_acks[KEYS[1]] = ids end\n"
      "ids[#ids + 1] = ARGV[2]\n" +
      queue::kAckDocLua + "\nend\n" + fenced_apply() +
      R"lua(
local nk, na, budget, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]) or 0,
    tonumber(ARGV[4])
-- ARGV[5] and ARGV[6]: a character per key and per argument position, '1'
-- where every event has the same value. Those are sent once (first in KEYS,
-- and after the header in ARGV); each event's own values follow, in position
-- order. (A mask, not a list of numbers: parsing the list took ~30 % of a
-- one-event call.)
-- One KEYS and one ARGV table serve every event in turn: the shared values
-- stay, each event's own are written over the last one's (the events run one
-- after another and nothing keeps these tables).
local byte = string.byte
-- t[1..count]: the shared values, from src[at + 1] on, and false where each
-- event has its own (those positions listed in own). Returns the last index
-- of src it took.
local function unshare(mask, count, src, at, t, own)
  for p = 1, count do
    if byte(mask, p) == 49 then
      at = at + 1
      t[p] = src[at]
    else
      t[p] = false
      own[#own + 1] = p
    end
  end
  return at
end
local k, a, vk, va = {}, {}, {}, {}
local ki = unshare(ARGV[5], nk, KEYS, 0, k, vk)
local ai = unshare(ARGV[6], na, ARGV, 6, a, va)
local nvk, nva = #vk, #va
local out = {}
local function isync_us()
  local t = redis.call('TIME')
  return t[1] * 1000000 + t[2]
end
local start = budget > 0 and isync_us()
for i = 0, n - 1 do
  -- Out of time (looked at every 4 events): the rest wait for the next call.
  if start and i % 4 == 0 and i > 0 and isync_us() - start >= budget then
    for j = i + 1, n do out[j] = {'later'} end
    break
  end
  for j = 1, nvk do k[vk[j]] = KEYS[ki + i * nvk + j] end
  for j = 1, nva do a[va[j]] = ARGV[ai + i * nva + j] end
  isync_keys, isync_args = k, a
  local ok, r = pcall(isync_run, k, a)
  if ok then
    out[i + 1] = r
  else
    out[i + 1] = {'error', type(r) == 'table' and tostring(r.err or '') or tostring(r)}
  end
end
-- The entries acked above, in one XACK and one XDEL per stream.
for stream, ids in pairs(isync_acks) do
  redis.call('XACK', stream, unpack(ids))
  redis.call('XDEL', stream, unpack(ids, 2))
end
return out
)lua");
  return script;
}

const redis::Script& read_script() {
  static const redis::Script script(kReadBody);
  return script;
}

const redis::Script& find_script() {
  static const redis::Script script(kFindBody);
  return script;
}

}  // namespace isync::handlers::detail
