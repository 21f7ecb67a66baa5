#include "handlers/detail/mirror_lua.hpp"

namespace isync::handlers::detail {
namespace {

// The apply script's per-event part: the body of a function of (KEYS, ARGV)
// that sets the state apply_defs declares (mirror_lua_defs.cpp) and decides.
// Whatever it returns, the script can still report its decision (the ack
// lines are a function called from here).
constexpr const char* kApplyBody = R"lua(
rec, audit = KEYS[3], KEYS[4]
action, vtext, wm = ARGV[4], ARGV[5], ARGV[6]
v = tonumber(vtext)
event_id, source = ARGV[7], ARGV[8]
channel = ARGV[22] or ''
now_iso, cutoff_iso = ARGV[9], ARGV[10]
audit_max, tomb_ttl = num(ARGV[11]), num(ARGV[12])
id_field, id_prefix, recordno = ARGV[13], ARGV[14], ARGV[15]
local kind = ARGV[16]
-- The snapshot's fields (kArgSnapshot), decoded where the snapshot path
-- needs them.
local snap
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
read_at, settle_ms = opt_num(read_at_text), num(ARGV[19])
recheck_key = KEYS[5]
-- defer_ms (thin and conflicting events): when set, the record is read only
-- once its second has settled: instead of answering 'thin'/'reread' the
-- script puts the record on the recheck schedule (due then, at most
-- settle + 1 s from now, in case WHENMODIFIED runs ahead of this clock)
-- and acks the event ('deferred'). Empty: the caller reads at once.
defer_now = opt_num(ARGV[20])
-- The channels (envelope "channel", e.g. "trigger") of the events that put
-- the record on the schedule, as a comma-separated list per member. A read
-- made for the schedule (recheck_lease: the score it was taken under) is
-- audited with them. Its audit entry takes them off only while the member
-- still holds that lease; an event that scheduled the record anew meanwhile
-- leaves them for the next read. The recheck's end removes them with the
-- member (recheck_done_script).
-- member: the record's recheck member, made when needed (the_member()).
recheck_channels, member = KEYS[7], nil
local recheck_lease = opt_num(ARGV[23])
channel_taken = false
audit_created = false
if recheck_lease then
  local named = redis.call('HGET', recheck_channels, the_member())
  if named then
    channel = named
    channel_taken = tonumber(redis.call('ZSCORE', recheck_key, the_member())) == recheck_lease
  end
end

cur = redis.call('HMGET', rec, 'v', 'del', 'draft', 'f', 'fv', 'wm', 'rt', 'need')
exists = cur[1] ~= false
local sv = exists and tonumber(cur[1]) or nil
local deleted = cur[2] == '1'
local draft = cur[3] == '1'
local fields = (exists and cur[4]) and cjson.decode(cur[4]) or {}
local fv
if exists and cur[5] == '' then
  -- Every field at the record's version.
  fv = {}
  for k in pairs(fields) do fv[k] = cur[1] end
else
  fv = (exists and cur[5]) and cjson.decode(cur[5]) or {}
end
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

-- The caller may give the snapshot's names in order (kArgSnapshotNames):
-- ARGV[17] is then the fields' stored text too, whenever the merge leaves
-- exactly the snapshot's fields, all at this version (fv ''): a new record,
-- a read, a snapshot naming every stored field. Nothing to encode.
local names_text = ARGV[24] or ''
local given = names_text ~= ''
-- Nothing stored: every field is new.
local fresh = next(fields) == nil and next(fv) == nil
if fresh and given then
  -- Not even a decode: the caller gave the new id, TOTALDUE and the count.
  write_text('0', '0', ARGV[17], '')
  append_audit('applied', nil, names_text)
  keep()
  reindex(old_id, ARGV[25])
  isync_written = {vtext, ARGV[26]}
  return done('applied', num(ARGV[27]) or 0)
end
snap = cjson.decode(ARGV[17])

if exists and v == sv and not authoritative then
  for k, val in pairs(snap) do
    if fields[k] ~= nil and fields[k] ~= val and (tonumber(fv[k]) or 0) >= v then
      return defer_or('reread')
    end
  end
end

local ks = given and cjson.decode(names_text) or sorted_keys(snap)
local changed = {}
local fv_moved = false
if authoritative then
  -- Fields the record no longer has are dropped (and reported as changed).
  local dropped = {}
  for k in pairs(fields) do
    if snap[k] == nil then dropped[#dropped + 1] = k end
  end
  table.sort(dropped)
  for i = 1, #dropped do
    local k = dropped[i]
    changed[i] = k
    fields[k], fv[k] = nil, nil
    fv_moved = true
  end
end
if fresh then
  -- Nothing stored: every field is new (ks is only read from here on).
  changed = ks
  fv_moved = #ks > 0
else
  for i = 1, #ks do
    local k = ks[i]
    if fields[k] ~= snap[k] then changed[#changed + 1] = k end
    if fv[k] ~= vtext then fv_moved = true end
  end
end

if exists and v == sv and #changed == 0 then
  -- Same second, same values: nothing changes but which version each field
  -- is known at.
  if fv_moved then
    merge(fields, fv, snap, ks)
    redis.call('HSET', rec, 'fv', encode_object(fv, keys_of(fv, ks), true))
  end
  return done('ignored', 0)
end

if given and (fresh or (covered(fields, snap) and covered(fv, snap))) then
  write_text('0', '0', ARGV[17], '')
  fields = snap
else
  merge(fields, fv, snap, ks)
  write('0', '0', fields, fv, ks)
end
append_audit('applied', changed, fresh and given and names_text or nil)
keep()
reindex(old_id, fields[id_field])
-- The record is live and holds what write() stored: its index entry needs
-- no read back.
isync_written = {vtext, fields.TOTALDUE}
return done('applied', #changed)
)lua";

}  // namespace

const char* apply_body() { return kApplyBody; }

}  // namespace isync::handlers::detail
