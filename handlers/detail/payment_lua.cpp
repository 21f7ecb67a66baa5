#include "handlers/detail/payment_lua.hpp"

#include <string>

#include "handlers/detail/mirror_index.hpp"
#include "queue/queue.hpp"

namespace isync::handlers::detail {
namespace {

// The lease is held while `owner` is set and `until` is in the future.
const char* const kTake = R"lua(
local pay, lock = KEYS[1], KEYS[2]
local owner, now, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local h = redis.call('HMGET', pay, 'state', 'recordno', 'since', 'sends', 'body', 'controlid',
                     'owner', 'until', 'failed_event', 'rsince', 'rsends', 'amount', 'customer',
                     'invoice', 'sent_at', 'rsent_at')
local function s(v) if v then return v else return '' end end
local state = s(h[1])
local function answer(verdict)
  return {verdict, state, s(h[2]), s(h[3]), s(h[4]), s(h[5]), s(h[6]), s(h[8]), s(h[9]),
          s(h[10]), s(h[11]), s(h[12]), s(h[13]), s(h[14]), s(h[15]), s(h[16])}
end
if h[7] and h[7] ~= owner and tonumber(h[8] or '0') > now then return answer('busy') end
-- A payment already posted needs no invoice lock: its redelivery is acked at
-- once, even while another payment to the invoice is being posted.
local settled = state == 'posted' or state == 'reversing' or state == 'reverse_unknown' or
    state == 'reversed' or state == 'abandoned'
-- The invoice lock holds the payment id: it stays with a payment whose
-- create may have run (posting, unknown) across attempts, so the next payment
-- to the invoice waits until that one is settled and its balance is known.
if ARGV[6] == '1' and not settled then
  local payment = KEYS[1]:match(':pay:(.*)$')
  local holder = redis.call('GET', lock)
  if holder and holder ~= payment then return answer('invoice_busy') end
  if redis.call('PTTL', lock) < lease then redis.call('SET', lock, payment, 'PX', lease) end
  redis.call('HSET', pay, 'lock', lock)
end
redis.call('HSET', pay, 'owner', owner, 'until', tostring(now + lease))
return answer('ok')
)lua";

const char* const kRenew = R"lua(
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
local now, lease = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'until', tostring(now + lease))
if redis.call('GET', KEYS[2]) == KEYS[1]:match(':pay:(.*)$') and
    redis.call('PTTL', KEYS[2]) < lease then
  redis.call('PEXPIRE', KEYS[2], lease)
end
return 1
)lua";

const char* const kIntent = R"lua(
local pay, unsettled = KEYS[1], KEYS[2]
if redis.call('HGET', pay, 'owner') ~= ARGV[1] then return 0 end
local now = ARGV[2]
if ARGV[3] == 'post' then
  local state = redis.call('HGET', pay, 'state')
  if state ~= 'posting' and state ~= 'unknown' then redis.call('HSET', pay, 'since', now) end
  redis.call('HSET', pay, 'state', 'posting', 'controlid', ARGV[5], 'body', ARGV[6],
             'event', ARGV[7], 'invoice', ARGV[8], 'customer', ARGV[9], 'amount', ARGV[10],
             'currency', ARGV[11], 'sent_at', now)
  redis.call('HINCRBY', pay, 'sends', 1)
  redis.call('ZADD', unsettled, 'NX', tonumber(redis.call('HGET', pay, 'since')), ARGV[4])
else
  local state = redis.call('HGET', pay, 'state')
  if state ~= 'reversing' and state ~= 'reverse_unknown' then redis.call('HSET', pay, 'rsince', now) end
  redis.call('HSET', pay, 'state', 'reversing', 'rcontrolid', ARGV[5], 'revent', ARGV[7],
             'rsent_at', now)
  redis.call('HINCRBY', pay, 'rsends', 1)
  redis.call('ZADD', unsettled, 'NX', tonumber(redis.call('HGET', pay, 'rsince')), ARGV[4])
end
return 1
)lua";

const char* const kRelease = R"lua(
local pay, lock, unsettled = KEYS[1], KEYS[2], KEYS[3]
local owner, now = ARGV[1], ARGV[2]
local mine = redis.call('HGET', pay, 'owner') == owner
if mine then
  local state = ARGV[3]
  if state ~= '' then
    redis.call('HSET', pay, 'state', state)
    local spell = 'since'
    if state == 'reverse_unknown' or state == 'reversing' then spell = 'rsince' end
    if ARGV[4] == '1' or not redis.call('HGET', pay, spell) then
      redis.call('HSET', pay, spell, now)
    end
    if state == 'failed' then
      redis.call('ZREM', unsettled, ARGV[6])
      redis.call('HSET', pay, 'failed_event', ARGV[8])
    elseif state ~= 'posted' then
      redis.call('ZADD', unsettled, tonumber(redis.call('HGET', pay, spell)), ARGV[6])
    end
  end
  if ARGV[5] ~= '' then redis.call('HSET', pay, 'error', ARGV[5], 'error_at', now) end
  redis.call('HDEL', pay, 'owner', 'until')
end
if redis.call('GET', lock) == KEYS[1]:match(':pay:(.*)$') then
  local now_state = redis.call('HGET', pay, 'state')
  local hold = tonumber(ARGV[9] or '0') or 0
  if (now_state == 'posting' or now_state == 'unknown') and hold > 0 then
    redis.call('PEXPIRE', lock, hold)
  else
    redis.call('DEL', lock)
  end
end
if mine then return 1 end
return 0
)lua";

// Shared by posted and reversed: an audit entry at the head of a list, capped.
const char* const kAuditFn = R"lua(
local function push_audit(list, entry, max, ttl, has_record)
  redis.call('LPUSH', list, entry)
  redis.call('LTRIM', list, 0, max - 1)
  if has_record then redis.call('PERSIST', list) else redis.call('EXPIRE', list, ttl) end
end
)lua";

const char* const kPosted = R"lua(
local pay, lock, unsettled = KEYS[3], KEYS[4], KEYS[5]
local rec, audit, inv_audit, idset = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local owner, recordno, now_ms, now_iso = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local payment, invoice, max, result = ARGV[9], ARGV[10], tonumber(ARGV[11]), ARGV[12]
local event_id, ttl = ARGV[13], tonumber(ARGV[14])
local refused = isync_guard()
if refused then return refused end
redis.call('HSET', pay, 'state', 'posted', 'recordno', recordno, 'posted_at', now_ms)
redis.call('HDEL', pay, 'owner', 'until')
redis.call('ZREM', unsettled, payment)
if redis.call('GET', lock) == payment then redis.call('DEL', lock) end
-- The mirror: the smart event of Intacct's own record (and its read) may have
-- come first; then its fields stand and only the audit links are added.
if redis.call('EXISTS', rec) == 0 then
  redis.call('HSET', rec, 'v', '0', 'wm', '', 'del', '0', 'draft', '0', 'ev', event_id,
             'f', ARGV[8])
end
isync_index(rec)
redis.call('SADD', idset, recordno)
local link = '{"event_id":' .. cjson.encode(event_id) .. ',"at":' .. cjson.encode(now_iso) ..
    ',"source":' .. cjson.encode(isync_source) .. ',"action":"payment","result":' ..
    cjson.encode(result) ..
    ',"payment_id":' .. cjson.encode(payment)
push_audit(audit, link .. ',"invoice":' .. cjson.encode(invoice) .. ',"changed":[]}', max, ttl, true)
if invoice ~= '' then
  push_audit(inv_audit, link .. ',"arpymt":' .. cjson.encode(recordno) .. ',"changed":[]}', max,
             ttl, redis.call('EXISTS', KEYS[10]) == 1)
end
isync_ack()
return 1
)lua";

const char* const kReversed = R"lua(
local pay, unsettled, rec, audit, inv_audit = KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local owner, now_ms, now_iso, payment, event_id = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local max, invoice, ttl = tonumber(ARGV[9]), ARGV[10], tonumber(ARGV[11])
local refused = isync_guard()
if refused then return refused end
redis.call('HSET', pay, 'state', 'reversed', 'reversed_at', now_ms)
redis.call('HDEL', pay, 'owner', 'until')
redis.call('ZREM', unsettled, payment)
isync_index(rec)
local entry = '{"event_id":' .. cjson.encode(event_id) .. ',"at":' .. cjson.encode(now_iso) ..
    ',"source":' .. cjson.encode(isync_source) ..
    ',"action":"refund","result":"reversed","payment_id":' ..
    cjson.encode(payment) .. ',"changed":[]}'
push_audit(audit, entry, max, ttl, true)
if invoice ~= '' then
  push_audit(inv_audit, entry, max, ttl,
             redis.call('EXISTS', KEYS[8]) == 1)
end
isync_ack()
return 1
)lua";

// The two modes of posted and reversed share their body. A worker's step acks
// its stream entry; reconcile's (settle) acks nothing, writes as
// "reconcile", and only while its fence holds (else -1), its lease is still
// the payment's and the payment is in one of `states` (else 0).
std::string with_ack(const char* body) {
  return std::string("local function isync_ack()\n") + queue::kAckLua + "\nend\n" +
         "local isync_source = 'stripe'\n"
         "local function isync_guard() return nil end\n" +
         kIndexLua + kAuditFn + body;
}

std::string settling(const char* body, int fence_key, int fence_arg, const char* states) {
  return std::string(kFenceLua) +
         "local function isync_ack() end\n"
         "local isync_source = 'reconcile'\n"
         "local function isync_guard()\n"
         "  if isync_fenced(KEYS[" +
         std::to_string(fence_key) + "], ARGV[" + std::to_string(fence_arg) +
         "]) then return -1 end\n"
         "  if redis.call('HGET', KEYS[3], 'owner') ~= ARGV[4] then return 0 end\n"
         "  local state = redis.call('HGET', KEYS[3], 'state')\n"
         "  for _, s in ipairs({" +
         states +
         "}) do\n"
         "    if state == s then return nil end\n"
         "  end\n"
         "  return 0\n"
         "end\n" +
         kIndexLua + kAuditFn + body;
}

}  // namespace

const redis::Script& take_script() {
  static const redis::Script script(kTake);
  return script;
}
const std::string& take_lua_function() {
  static const std::string text =
      std::string("local function isync_take(KEYS, ARGV)\n") + kTake + "\nend\n";
  return text;
}
const redis::Script& renew_script() {
  static const redis::Script script(kRenew);
  return script;
}
const redis::Script& intent_script() {
  static const redis::Script script(kIntent);
  return script;
}
const redis::Script& release_script() {
  static const redis::Script script(kRelease);
  return script;
}
const redis::Script& posted_script() {
  static const redis::Script script(with_ack(kPosted));
  return script;
}
const redis::Script& reversed_script() {
  static const redis::Script script(with_ack(kReversed));
  return script;
}
const redis::Script& posted_settle_script() {
  static const redis::Script script(
      settling(kPosted, kPostedFenceKey, kPostedFenceToken, "'posting', 'unknown'"));
  return script;
}
const redis::Script& reversed_settle_script() {
  static const redis::Script script(settling(kReversed, kReversedFenceKey, kReversedFenceToken,
                                             "'reversing', 'reverse_unknown'"));
  return script;
}
const redis::Script& ack_script() {
  static const redis::Script script(std::string("local function isync_ack()\n") + queue::kAckLua +
                                    "\nend\nisync_ack()\nreturn 1\n");
  return script;
}

}  // namespace isync::handlers::detail
