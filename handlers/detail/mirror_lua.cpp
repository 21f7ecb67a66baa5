#include "handlers/detail/mirror_lua.hpp"

namespace isync::handlers::detail {
namespace {

// The apply script's text in two parts, so that a call applying several
// events makes its functions once (mirror_scripts.cpp assembles them).
// kApplyDefs: the state of the event being applied (script-level locals)
// and the functions that read it; expects isync_ack defined before it.
// kApplyBody: one event, the body of a function of (KEYS, ARGV): it sets
// that state and decides. Whatever it returns, the script can still report
// its decision (the ack lines are a function called from here).
constexpr const char* kApplyDefs = R"lua(
-- The state of the event being applied, set by isync_apply (one call may
-- apply several events: the functions below are made once per call).
local rec, audit, action, vtext, wm, v, event_id, source, channel, now_iso, cutoff_iso, audit_max, tomb_ttl, id_field, id_prefix, recordno, authoritative, read_at, read_at_text, settle_ms, recheck_key, defer_now, recheck_channels, member, channel_taken, cur, exists, live, audit_created

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

-- ks: f's keys sorted, when the caller has them (keys_of checks).
local function write(del, drft, f, fvs, ks)
  ks = keys_of(f, ks)
  local ftext, fvtext = encode_object(f, ks), encode_object(fvs, keys_of(fvs, ks), true)
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

-- After a read at version `version`: recheck the record once its second has
-- settled, unless this read already was.
local function schedule_recheck(version)
  if not read_at or settled_at(version, read_at) then return end
  redis.call('ZADD', recheck_key, (version + 1) * 1000 + settle_ms, member)
end

local function append_audit(result, changed)
  local names = {}
  for i = 1, #changed do names[i] = jname(changed[i]) end
  local entry = '{"event_id":' .. jstr(event_id) .. ',"at":' .. jname(now_iso) ..
      ',"source":' .. jname(source) ..
      (channel ~= '' and (',"channel":' .. jname(channel)) or '') ..
      ',"action":' .. jname(action) .. ',"result":' .. jname(result) .. ',"version":' .. vtext ..
      ',"changed":[' .. table.concat(names, ',') .. ']}'
  local len = redis.call('LPUSH', audit, entry)
  audit_created = len == 1
  if len > audit_max then
    redis.call('LTRIM', audit, 0, audit_max - 1)
    len = audit_max
  end
  if channel_taken then
    redis.call('HDEL', recheck_channels, member)
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
      redis.call('ZADD', recheck_key, due, member)
      -- The event's channel joins the member's list (at most 64 bytes;
      -- events without a channel add nothing).
      if channel ~= '' then
        local named = redis.call('HGET', recheck_channels, member) or ''
        if not (',' .. named .. ','):find(',' .. channel .. ',', 1, true) then
          named = named == '' and channel or (named .. ',' .. channel)
          if #named <= 64 then redis.call('HSET', recheck_channels, member, named) end
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

constexpr const char* kApplyBody = R"lua(
rec, audit = KEYS[3], KEYS[4]
action, vtext, wm = ARGV[4], ARGV[5], ARGV[6]
v = tonumber(vtext)
event_id, source = ARGV[7], ARGV[8]
channel = ARGV[22] or ''
now_iso, cutoff_iso = ARGV[9], ARGV[10]
audit_max, tomb_ttl = tonumber(ARGV[11]), tonumber(ARGV[12])
id_field, id_prefix, recordno = ARGV[13], ARGV[14], ARGV[15]
local kind = ARGV[16]
local snap = cjson.decode(ARGV[17])
-- read / readdraft: the whole record as Intacct has it now (a read with every
-- field). It replaces the mirror's fields and settles same-second conflicts.
authoritative = kind == 'read' or kind == 'readdraft'
if kind == 'read' then kind = 'snapshot' elseif kind == 'readdraft' then kind = 'draft' end
-- WHENMODIFIED has whole seconds, so a record read during the second of its
-- own WHENMODIFIED may change again with the same WHENMODIFIED, and that
-- change's thin event is a duplicate of the first. A read is "settled" when
-- it was made at least settle_ms after that second ended; an unsettled read
-- puts the record on the recheck schedule for then.
read_at_text = ARGV[18]
read_at, settle_ms = tonumber(read_at_text), tonumber(ARGV[19])
recheck_key = KEYS[5]
-- defer_ms (thin and conflicting events): when set, the record is read only
-- once its second has settled: instead of answering 'thin'/'reread' the
-- script puts the record on the recheck schedule (due then, at most
-- settle + 1 s from now, in case WHENMODIFIED runs ahead of this clock)
-- and acks the event ('deferred'). Empty: the caller reads at once.
defer_now = tonumber(ARGV[20])
-- The channels (envelope "channel", e.g. "trigger") of the events that put
-- the record on the schedule, as a comma-separated list per member. A read
-- made for the schedule (recheck_lease: the score it was taken under) is
-- audited with them. Its audit entry takes them off only while the member
-- still holds that lease; an event that scheduled the record anew meanwhile
-- leaves them for the next read. The recheck's end removes them with the
-- member (recheck_done_script).
recheck_channels, member = KEYS[7], KEYS[3]:match(':rec:(.*)$')
local recheck_lease = tonumber(ARGV[23])
channel_taken = false
audit_created = false
if recheck_lease then
  local named = redis.call('HGET', recheck_channels, member)
  if named then
    channel = named
    channel_taken = tonumber(redis.call('ZSCORE', recheck_key, member)) == recheck_lease
  end
end

cur = redis.call('HMGET', rec, 'v', 'del', 'draft', 'f', 'fv', 'wm', 'rt', 'need')
exists = cur[1] ~= false
local sv = exists and tonumber(cur[1]) or nil
local deleted = cur[2] == '1'
local draft = cur[3] == '1'
local fields = (exists and cur[4]) and cjson.decode(cur[4]) or {}
local fv = (exists and cur[5]) and cjson.decode(cur[5]) or {}
live = exists and not deleted and not draft

local old_id = fields[id_field]

if kind == 'delete' then
  if exists and (v < sv or (deleted and v == sv)) then return done('ignored', 0) end
  write('1', '0', fields, fv)
  append_audit('tombstoned', {})
  expire()
  reindex(old_id, old_id)
  return done('tombstoned', 0)
end

if kind == 'gone' then
  -- A read found no such record: Intacct no longer has it, whatever the
  -- versions say. The tombstone keeps the newer of the two versions.
  if exists and (deleted or draft) then return done('ignored', 0) end
  if exists and sv > v then vtext, wm = cur[1], cur[6] or wm end
  write('1', '0', fields, fv)
  append_audit('tombstoned', {})
  expire()
  reindex(old_id, old_id)
  return done('tombstoned', 0)
end

if kind == 'thin' then
  -- Held when newer, or at the same version once settled (a tombstone or a
  -- draft marker is final for its version).
  if exists and (sv > v or (sv == v and (not live or settled_at(sv, tonumber(cur[7]))))) then
    return done('ignored', 0)
  end
  return defer_or('thin')
end

if kind == 'draft' then
  if not exists then
    write('0', '1', {}, {})
    redis.call('EXPIRE', rec, tomb_ttl)
    return done('ignored', 0)
  end
  if v < sv then return done('ignored', 0) end
  if draft then
    if v > sv then
      write('0', '1', {}, {})
      redis.call('EXPIRE', rec, tomb_ttl)
    end
    return done('ignored', 0)
  end
  -- A tombstone wins a tie; a live record at the same second in another
  -- state is a conflict only Intacct can settle.
  if v == sv then
    if deleted then return done('ignored', 0) end
    if not authoritative then return defer_or('reread') end
  end
  local removed = sorted_keys(fields)
  reindex(old_id, nil)
  redis.call('DEL', rec)
  write('0', '1', {}, {})
  append_audit('removed', removed)
  expire()
  return done('removed', #removed)
end

-- kind == 'snapshot'
if exists and v < sv then return done('ignored', 0) end
if exists and v == sv and not live and not (authoritative and draft) then
  return done('ignored', 0)
end
if draft then
  fields, fv = {}, {}
  redis.call('DEL', rec)
end

if exists and v == sv and not authoritative then
  for k, val in pairs(snap) do
    if fields[k] ~= nil and fields[k] ~= val and (tonumber(fv[k]) or 0) >= v then
      return defer_or('reread')
    end
  end
end

local changed = {}
local fv_moved = false
if authoritative then
  -- Fields the record no longer has are dropped (and reported as changed).
  for _, k in ipairs(sorted_keys(fields)) do
    if snap[k] == nil then
      changed[#changed + 1] = k
      fields[k], fv[k] = nil, nil
      fv_moved = true
    end
  end
end
local ks = sorted_keys(snap)
for i = 1, #ks do
  local k = ks[i]
  local val = snap[k]
  if fields[k] ~= val then changed[#changed + 1] = k end
  if fv[k] ~= vtext then fv_moved = true end
  fields[k] = val
  fv[k] = vtext
end

if exists and v == sv and #changed == 0 then
  -- Same second, same values: nothing changes but which version each field
  -- is known at.
  if fv_moved then redis.call('HSET', rec, 'fv', encode_object(fv, keys_of(fv, ks), true)) end
  return done('ignored', 0)
end

write('0', '0', fields, fv, ks)
append_audit('applied', changed)
keep()
reindex(old_id, fields[id_field])
-- The record is live and holds what write() stored: its index entry needs
-- no read back.
isync_written = {vtext, fields.TOTALDUE}
return done('applied', #changed)
)lua";

}  // namespace

const char* apply_defs() { return kApplyDefs; }

const char* apply_body() { return kApplyBody; }

}  // namespace isync::handlers::detail
