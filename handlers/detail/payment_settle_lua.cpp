// The ledger scripts only reconcile uses (see payment_lua.hpp).
#include <string>

#include "handlers/detail/mirror_index.hpp"
#include "handlers/detail/payment_lua.hpp"

namespace isync::handlers::detail {
namespace {

const char* const kSnapshot = R"lua(
if isync_fenced(KEYS[3], ARGV[3]) then return -1 end
local n = redis.call('ZRANGESTORE', KEYS[2], KEYS[1], '-inf', ARGV[1], 'BYSCORE')
if n > 0 then redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2])) end
return n
)lua";

const char* const kPeek = R"lua(
local out = {}
for i, id in ipairs(ARGV) do
  local h = redis.call('HMGET', KEYS[i + 2], 'state', 'owner', 'until', 'event', 'revent',
                       'recordno', 'body', 'invoice', 'lock')
  local state = h[1] or ''
  local ev = h[4] or ''
  if state == 'reversing' or state == 'reverse_unknown' then ev = h[5] or '' end
  local dead, due = '0', ''
  if ev ~= '' then
    if redis.call('ZSCORE', KEYS[1], ev) then dead = '1' end
    due = redis.call('ZSCORE', KEYS[2], ev) or ''
  end
  for _, v in ipairs({state, h[2] or '', h[3] or '', ev, h[6] or '', h[7] or '', h[8] or '',
                      dead, due, h[9] or ''}) do
    out[#out + 1] = v
  end
end
return out
)lua";

const char* const kMakeDue = R"lua(
if isync_fenced(KEYS[2], ARGV[3]) then return -1 end
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due then return 0 end
if tonumber(due) <= tonumber(ARGV[2]) then return 2 end
redis.call('ZADD', KEYS[1], 'XX', ARGV[2], ARGV[1])
return 1
)lua";

}  // namespace

const redis::Script& settle_snapshot_script() {
  static const redis::Script script(std::string(kFenceLua) + kSnapshot);
  return script;
}
const redis::Script& settle_peek_script() {
  static const redis::Script script(kPeek);
  return script;
}
const redis::Script& make_due_script() {
  static const redis::Script script(std::string(kFenceLua) + kMakeDue);
  return script;
}

}  // namespace isync::handlers::detail
