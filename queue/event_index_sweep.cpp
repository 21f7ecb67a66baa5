// sweep_events and backfill_event_index (event_index.hpp): the two
// maintenance passes over a tenant's event documents and their index.
#include <memory>
#include <utility>

#include "queue/event_index.hpp"
#include "queue/queue.hpp"

namespace isync::queue {

namespace {

// Index entries the orphan pass looks at per call.
constexpr int kOrphanBudget = 2000;
// Keys one SCAN step of the back-fill asks for (and at most indexes).
constexpr int kBackfillCount = 500;

// KEYS: 1 the registry evx:keys. ARGV: 1 tenant prefix (isync:{t}:), 2 now ms,
// 3 done retention ms, 4 dead retention ms, 5 documents per state, 6 orphan
// budget. Returns {removed, orphans}.
//
// Expired documents: each state's ZSET gives those whose last change is
// older than the retention; a document whose fields no longer say so (hand
// edits) is re-filed instead, and an entry without its document is dropped.
// Orphans: the registry is walked with SSCAN, each key's members by rank, a
// member whose document is gone leaves the key; the position (SSCAN cursor,
// the keys of the current SSCAN batch, rank in the first) is kept in
// evx:sweep-cursor so that successive calls cover every key. Empty keys
// leave the registry.
const redis::Script& sweep_script() {
  static const redis::Script script(std::string(kEventIndexLua) + R"lua(
local reg, pfx = KEYS[1], ARGV[1]
local now, batch, budget = tonumber(ARGV[2]), tonumber(ARGV[5]), tonumber(ARGV[6])
local removed, orphans = 0, 0
local function expire(state, retention)
  local z = pfx .. 'evx:s:' .. state
  local cutoff = now - retention
  local ids = redis.call('ZRANGEBYSCORE', z, '-inf', cutoff, 'LIMIT', 0, batch)
  for _, id in ipairs(ids) do
    local doc = pfx .. 'ev:' .. id
    local f = redis.call('HMGET', doc, 'state', 'updated_at')
    if f[1] == state and (tonumber(f[2]) or 0) <= cutoff then
      isync_evunindex(doc)
      redis.call('DEL', doc)
      redis.call('ZREM', z, id)
      redis.call('ZREM', pfx .. 'dead', id)
      redis.call('ZREM', pfx .. 'retry', id)
      redis.call('ZREM', pfx .. 'parked', id)
      removed = removed + 1
    else
      redis.call('ZREM', z, id)
      if f[1] then isync_evindex(doc) else orphans = orphans + 1 end
    end
  end
end
expire('done', tonumber(ARGV[3]))
expire('dead', tonumber(ARGV[4]))
expire('discarded', tonumber(ARGV[4]))

local cur = pfx .. 'evx:sweep-cursor'
local st = redis.call('HMGET', cur, 'scan', 'queue', 'rank')
local scan, rank = st[1] or '0', tonumber(st[3] or '0') or 0
local queue = {}
for k in string.gmatch(st[2] or '', '[^\n]+') do queue[#queue + 1] = k end
local scanned_to_end = false
local steps = 0
while budget > 0 and steps < 100 do
  steps = steps + 1
  if #queue == 0 then
    if scanned_to_end then break end
    local r = redis.call('SSCAN', reg, scan, 'COUNT', 20)
    scan, queue, rank = r[1], r[2], 0
    if scan == '0' then scanned_to_end = true end
  else
    local k = queue[1]
    local z = pfx .. 'evx:' .. k
    local n = math.min(budget, 200)
    local ids = redis.call('ZRANGE', z, rank, rank + n - 1)
    local gone = 0
    for _, id in ipairs(ids) do
      if redis.call('EXISTS', pfx .. 'ev:' .. id) == 0 then
        redis.call('ZREM', z, id)
        gone = gone + 1
      end
    end
    orphans = orphans + gone
    budget = budget - #ids
    if #ids < n then
      if redis.call('ZCARD', z) == 0 then redis.call('SREM', reg, k) end
      table.remove(queue, 1)
      rank = 0
    else
      rank = rank + #ids - gone
    end
  end
end
redis.call('HSET', cur, 'scan', scan, 'queue', table.concat(queue, '\n'), 'rank', rank)
return {removed, orphans}
)lua");
  return script;
}

// KEYS: the keys of one SCAN step (documents, or anything under ev:).
// ARGV: 1 tenant prefix, 2 the SCAN cursor after this step, 3 now ms.
// Indexes every hash without ix; saves the cursor; sets evx:backfilled once
// the cursor is back at 0. Returns the number indexed.
const redis::Script& backfill_script() {
  static const redis::Script script(std::string(kEventIndexLua) + R"lua(
local pfx, cursor, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local n = 0
for _, doc in ipairs(KEYS) do
  if redis.call('TYPE', doc)['ok'] == 'hash' and redis.call('HEXISTS', doc, 'ix') == 0 then
    local f = redis.call('HMGET', doc, 'updated_at', 'first_failure', 'code', 'errorno', 'attempts')
    if not f[3] and not f[4] then
      -- The last failed attempt (older documents have no kind: failures).
      local code, errorno = '', ''
      local ok, a = pcall(cjson.decode, f[5] or '[]')
      if ok and type(a) == 'table' then
        for i = #a, 1, -1 do
          local x = a[i]
          if type(x) == 'table' and (x.kind == nil or x.kind == 'failure') then
            if type(x.code) == 'string' then code = x.code end
            if type(x.errorno) == 'string' then errorno = x.errorno end
            break
          end
        end
      end
      redis.call('HSET', doc, 'code', code, 'errorno', errorno)
    end
    local at = tonumber(f[1] or '')
    if not at or at <= 0 then at = tonumber(f[2] or '') end
    if not at or at <= 0 then at = now end
    redis.call('HSET', doc, 'updated_at', string.format('%d', at))
    redis.call('PERSIST', doc)
    isync_evindex(doc)
    n = n + 1
  end
end
redis.call('SET', pfx .. 'evx:backfill-cursor', cursor)
if cursor == '0' then redis.call('SET', pfx .. 'evx:backfilled', string.format('%d', now)) end
return n
)lua");
  return script;
}

std::string glob_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::int64_t ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void sweep_events(redis::Connection& conn, const std::string& tenant, std::int64_t now_ms,
                  const SweepOptions& options, std::function<void(Result<SweepResult>)> done) {
  conn.eval(
      sweep_script(), {key(tenant, "evx:keys")},
      {key(tenant, ""), std::to_string(now_ms), std::to_string(options.done_retention.count()),
       std::to_string(options.dead_retention.count()), std::to_string(std::max(1, options.batch)),
       std::to_string(kOrphanBudget)},
      [done = std::move(done), tenant](boost::system::error_code ec, redis::Reply r) {
        if (ec) {
          return done(
              make_error("unavailable", "sweep events of tenant " + tenant + ": " + ec.message()));
        }
        if (r.type != redis::Reply::Type::array || r.elements.size() != 2) {
          return done(make_error("unavailable", "sweep events of tenant " + tenant + ": " +
                                                    (r.is_error() ? r.str : "bad reply")));
        }
        done(SweepResult{r.elements[0].integer, r.elements[1].integer});
      });
}

void backfill_event_index(redis::Connection& conn, const std::string& tenant,
                          std::function<void(Result<std::int64_t>)> done) {
  struct Run : std::enable_shared_from_this<Run> {
    redis::Connection& conn;
    std::string tenant;
    std::function<void(Result<std::int64_t>)> done;
    std::int64_t indexed = 0;
    Run(redis::Connection& c, std::string t, std::function<void(Result<std::int64_t>)> d)
        : conn(c), tenant(std::move(t)), done(std::move(d)) {}

    void fail(const std::string& why) {
      done(make_error("unavailable", "back-fill the event index of tenant " + tenant + ": " + why));
    }
    void start() {
      conn.command({"MGET", key(tenant, "evx:backfilled"), key(tenant, "evx:backfill-cursor")},
                   [self = shared_from_this()](boost::system::error_code ec, redis::Reply r) {
                     if (ec) return self->fail(ec.message());
                     if (r.type != redis::Reply::Type::array || r.elements.size() != 2) {
                       return self->fail(r.is_error() ? r.str : "bad reply");
                     }
                     if (!r.elements[0].is_nil()) return self->done(std::int64_t{0});
                     const std::string& c = r.elements[1].str;
                     self->step(c.empty() ? "0" : c);
                   });
    }
    void step(const std::string& cursor) {
      conn.command({"SCAN", cursor, "MATCH", glob_escape(key(tenant, "ev:")) + "*", "COUNT",
                    std::to_string(kBackfillCount)},
                   [self = shared_from_this()](boost::system::error_code ec, redis::Reply r) {
                     if (ec) return self->fail(ec.message());
                     if (r.type != redis::Reply::Type::array || r.elements.size() != 2 ||
                         r.elements[1].type != redis::Reply::Type::array) {
                       return self->fail(r.is_error() ? r.str : "bad reply");
                     }
                     std::vector<std::string> keys;
                     for (auto& k : r.elements[1].elements) keys.push_back(std::move(k.str));
                     self->index(std::move(keys), r.elements[0].str);
                   });
    }
    void index(std::vector<std::string> keys, std::string next) {
      conn.eval(backfill_script(), std::move(keys),
                {key(tenant, ""), next, std::to_string(ms_now())},
                [self = shared_from_this(), next](boost::system::error_code ec, redis::Reply r) {
                  if (ec) return self->fail(ec.message());
                  if (r.type != redis::Reply::Type::integer) {
                    return self->fail(r.is_error() ? r.str : "bad reply");
                  }
                  self->indexed += r.integer;
                  if (next == "0") return self->done(self->indexed);
                  self->step(next);
                });
    }
  };
  std::make_shared<Run>(conn, tenant, std::move(done))->start();
}

}  // namespace isync::queue
