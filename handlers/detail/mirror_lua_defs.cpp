#include "handlers/detail/mirror_lua.hpp"

// The apply script's text in two parts, so that a call applying several
// events makes its functions once (mirror_scripts.cpp assembles them). This
// is the first: the state of the event being applied (script-level locals
// the body in mirror_lua.cpp sets) and the functions that read it. Expects
// isync_ack defined before it.
namespace isync::handlers::detail {
namespace {

constexpr const char* kApplyDefs = R"lua(
-- The state of the event being applied, set by isync_apply (one call may
-- apply several events: the functions below are made once per call).
local rec, audit, action, vtext, wm, v, event_id, source, channel, now_iso, cutoff_iso, audit_max, tomb_ttl, id_field, id_prefix, recordno, authoritative, read_at, read_at_text, settle_ms, recheck_key, defer_now, recheck_channels, member, channel_taken, cur, exists, live, audit_created

-- Numbers of the arguments every event of a call shares (options, counts),
-- parsed once per call: tonumber costs two strtod calls. false = not one.
local nums = {}
local function num(s)
  local n = nums[s]
  if n == nil then
    n = tonumber(s) or false
    nums[s] = n
  end
  return n or nil
end
-- An optional number argument: "" (the common case) is none, without a parse.
local function opt_num(s)
  if s == nil or s == '' then return nil end
  return tonumber(s)
end
-- The record's member of the recheck schedule ("<OBJECT>:<recordno>"), made
-- the first time an event needs it (most never do).
local function the_member()
  if not member then member = rec:match(':rec:(.*)$') end
  return member
end

local function sorted_keys(t)
  local ks, n = {}, 0
  for k in pairs(t) do
    n = n + 1
    ks[n] = k
  end
  table.sort(ks)
  return ks
end

-- One value as JSON. cjson.encode itself: a check in Lua for strings that
-- need no escaping cost more than the call it saved.
local jstr = cjson.encode
-- Field names, version texts and the audit's words recur in every event of
-- a call: each is encoded once per call.
local jnames = {}
local function jname(s)
  local e = jnames[s]
  if not e then
    e = jstr(s)
    jnames[s] = e
  end
  return e
end

-- t's keys in order: the sorted list ks itself when t has exactly its keys
-- (the snapshot's keys are sorted once and serve the fields and versions).
local function keys_of(t, ks)
  if ks then
    local n = 0
    for _ in pairs(t) do n = n + 1 end
    if n == #ks then
      for i = 1, n do
        if t[ks[i]] == nil then return sorted_keys(t) end
      end
      return ks
    end
  end
  return sorted_keys(t)
end

-- Redis's cjson escapes every '/' as '\/' (valid JSON, but dates read back as
-- "11\/22\/2026"): a '/' after an odd run of backslashes is such an escape
-- and loses its backslash; an even run is escaped backslashes, kept.
local function unslash(text)
  return (text:gsub('(\\+)/', function(run)
    if #run % 2 == 1 then return run:sub(2) .. '/' end
  end))
end
-- cjson would encode an empty table as {} either way, but its key order is
-- the hash order; sorted keys (ks) keep stored documents stable. versions:
-- the values are version texts (few, encoded once each).
local function encode_object(t, ks, versions)
  local parts = {}
  for i = 1, #ks do
    local k = ks[i]
    parts[i] = jname(k) .. ':' .. (versions and jname(t[k]) or jstr(t[k]))
  end
  local text = '{' .. table.concat(parts, ',') .. '}'
  if text:find('\\/', 1, true) then text = unslash(text) end
  return text
end

local function settled_at(version, rt)
  return rt ~= nil and rt >= (version + 1) * 1000 + settle_ms
end

-- Whether every key of t (stored fields or field versions) is one the
-- snapshot sets.
local function covered(t, snap)
  for k in pairs(t) do
    if snap[k] == nil then return false end
  end
  return true
end
-- The snapshot's fields (names ks) into the stored ones, at this version.
local function merge(fields, fv, snap, ks)
  for i = 1, #ks do
    local k = ks[i]
    fields[k], fv[k] = snap[k], vtext
  end
end

-- The record's hash, its fields and field versions given as stored text.
local function write_text(del, drft, ftext, fvtext)
  -- rt: when the stored fields were read from Intacct (only for reads). Only
  -- this script sets it, so a record that had none (cur[7]) has none now.
  if read_at then
    redis.call('HSET', rec, 'v', vtext, 'wm', wm, 'del', del, 'draft', drft, 'ev', event_id,
               'f', ftext, 'fv', fvtext, 'rt', read_at_text)
    return
  end
  redis.call('HSET', rec, 'v', vtext, 'wm', wm, 'del', del, 'draft', drft, 'ev', event_id,
             'f', ftext, 'fv', fvtext)
  if cur[7] then redis.call('HDEL', rec, 'rt') end
end

-- The same from tables; ks: f's keys sorted, when the caller has them
-- (keys_of checks).
local function write(del, drft, f, fvs, ks)
  ks = keys_of(f, ks)
  write_text(del, drft, encode_object(f, ks), encode_object(fvs, keys_of(fvs, ks), true))
end

-- After a read at version `version`: recheck the record once its second has
-- settled, unless this read already was.
local function schedule_recheck(version)
  if not read_at or settled_at(version, read_at) then return end
  redis.call('ZADD', recheck_key, (version + 1) * 1000 + settle_ms, the_member())
end

-- names_text: changed as a JSON array, when the caller has it.
local function append_audit(result, changed, names_text)
  if not names_text then
    local names = {}
    for i = 1, #changed do names[i] = jname(changed[i]) end
    names_text = '[' .. table.concat(names, ',') .. ']'
  end
  local entry = '{"event_id":' .. jstr(event_id) .. ',"at":' .. jname(now_iso) ..
      ',"source":' .. jname(source) ..
      (channel ~= '' and (',"channel":' .. jname(channel)) or '') ..
      ',"action":' .. jname(action) .. ',"result":' .. jname(result) .. ',"version":' .. vtext ..
      ',"changed":' .. names_text .. '}'
  local len = redis.call('LPUSH', audit, entry)
  audit_created = len == 1
  if len > audit_max then
    redis.call('LTRIM', audit, 0, audit_max - 1)
    len = audit_max
  end
  if channel_taken then
    redis.call('HDEL', recheck_channels, the_member())
    channel_taken = false
  end
  -- Newest first, and "at" is fixed-width ISO-8601 UTC, so the old ones are
  -- a suffix and compare as text. A list of one holds only this entry.
  while len > 1 do
    local tail = redis.call('LINDEX', audit, -1)
    if not tail then break end
    local ok, doc = pcall(cjson.decode, tail)
    if ok and type(doc) == 'table' and type(doc.at) == 'string' and doc.at < cutoff_iso then
      redis.call('RPOP', audit)
      len = len - 1
    else
      break
    end
  end
end

local function reindex(old_id, new_id)
  if id_field == '' then return end
  if old_id == '' then old_id = nil end
  if new_id == '' then new_id = nil end
  if old_id and old_id ~= new_id then redis.call('SREM', id_prefix .. old_id, recordno) end
  if new_id then redis.call('SADD', id_prefix .. new_id, recordno) end
end

-- Only a tombstone or a draft marker has a TTL on its record (expire(), and
-- the marker's EXPIRE): a live record has none to remove, nor has a record
-- the script's write created. An audit list append_audit created has none
-- either. Called after write() and append_audit().
local function keep()
  if exists and not live then redis.call('PERSIST', rec) end
  if not audit_created then redis.call('PERSIST', audit) end
end

local function expire()
  redis.call('EXPIRE', rec, tomb_ttl)
  redis.call('EXPIRE', audit, tomb_ttl)
end

local function defer_or(decision)
  if defer_now then
    local due = math.min((v + 1) * 1000 + settle_ms, defer_now + settle_ms + 1000)
    if due > defer_now then
      -- Overwrites a lease too, so a recheck in flight (which may have read
      -- before this change) does not remove the new schedule when it ends;
      -- a read that lands unsettled schedules itself again (done()).
      redis.call('ZADD', recheck_key, due, the_member())
      -- The event's channel joins the member's list (at most 64 bytes;
      -- events without a channel add nothing).
      if channel ~= '' then
        local named = redis.call('HGET', recheck_channels, the_member()) or ''
        if not (',' .. named .. ','):find(',' .. channel .. ',', 1, true) then
          named = named == '' and channel or (named .. ',' .. channel)
          if #named <= 64 then redis.call('HSET', recheck_channels, the_member(), named) end
        end
      end
      -- need: the version the due read must reach; until a read brings it,
      -- the recheck is not skipped as held.
      local need = tonumber(cur[8])
      if not need or v > need then redis.call('HSET', rec, 'need', vtext) end
      isync_ack()
      return {'deferred', 0}
    end
  end
  return {decision, 0}
end

local function done(decision, n)
  isync_ack()
  if authoritative and decision ~= 'removed' then
    local now = redis.call('HMGET', rec, 'v', 'rt', 'need')
    if tonumber(now[3]) and tonumber(now[3]) <= v then redis.call('HDEL', rec, 'need') end
    if tonumber(now[1]) == v then
      -- The same fields were confirmed by this read (applied or identical).
      if read_at > (tonumber(now[2]) or 0) then redis.call('HSET', rec, 'rt', read_at_text) end
      schedule_recheck(v)
    end
  end
  return {decision, n}
end
)lua";

}  // namespace

const char* apply_defs() { return kApplyDefs; }

}  // namespace isync::handlers::detail
