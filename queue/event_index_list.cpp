// list_events (event_index.hpp): one read-only script per tenant walks the
// most selective index ZSET of the filter, newest first, and the pages are
// merged here.
//
// Order: (updated_at desc, tenant asc, id desc). A tenant's ZSET gives
// (score desc, id desc) by reverse rank, so each tenant's page is in order.
// Each script stops after `limit` matches or kScanBudget candidates and
// reports the last candidate it looked at; the merged page keeps only events
// no later than the earliest such stop of a tenant that still has more, so
// nothing is skipped, and the next cursor is the last event kept (a full
// page) or that stop.
//
// Cursor: "e1.<updated_at>.<tenant hex>.<id hex>" — the position of the last
// event covered (decimal ms, then lower-case hex of the bytes of the tenant
// and of the event id). The next page starts strictly after it.
#include <algorithm>
#include <charconv>
#include <memory>
#include <mutex>
#include <utility>

#include "queue/event_index.hpp"
#include "queue/queue.hpp"

namespace isync::queue {

namespace {

// Candidates one tenant's script looks at per call: keeps a filter that the
// chosen index does not cover (e.g. state + error) from walking a tenant's
// whole history in one script.
constexpr int kScanBudget = 2000;
constexpr std::size_t kMaxCursorPart = 256;  // bytes of a decoded tenant or id

const redis::Script& list_script() {
  // KEYS: 1 index ZSET. ARGV: 1 doc prefix, 2 start (top | from | below |
  // after), 3 score, 4 id (after), 5 since ('' = open), 6 limit, 7 budget,
  // 8 state, 9 object, 10 key, 11 error ('' = any).
  // Returns {exhausted 0|1, last score, last id, {id, score, 10 fields}...}.
  static const redis::Script script(R"lua(
local z, pfx = KEYS[1], ARGV[1]
local mode, s, lastid = ARGV[2], ARGV[3], ARGV[4]
local since = tonumber(ARGV[5])
local limit, budget = tonumber(ARGV[6]) or 1, tonumber(ARGV[7]) or 1
local want_state, want_object, want_key, want_error = ARGV[8], ARGV[9], ARGV[10], ARGV[11]
-- Bytewise, as the ZSET orders equal scores (Lua's < may follow a locale).
local function lt(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local rank = 0
if mode == 'below' then
  rank = redis.call('ZCOUNT', z, s, '+inf')
elseif mode == 'from' then
  rank = redis.call('ZCOUNT', z, '(' .. s, '+inf')
elseif mode == 'after' then
  -- Ties on s hold reverse ranks [lo, hi), ids descending: find the first
  -- id below lastid by bisection, whether or not lastid is still there.
  local lo = redis.call('ZCOUNT', z, '(' .. s, '+inf')
  local hi = lo + redis.call('ZCOUNT', z, s, s)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local m = redis.call('ZREVRANGE', z, mid, mid)[1]
    if m and lt(m, lastid) then hi = mid else lo = mid + 1 end
  end
  rank = lo
end
local filtered = want_state ~= '' or want_object ~= '' or want_key ~= '' or want_error ~= ''
local out, found, scanned = {}, 0, 0
local last_s, last_id, exhausted = '', '', 0
while found < limit and scanned < budget do
  local n = math.min(200, budget - scanned)
  local chunk = redis.call('ZREVRANGE', z, rank, rank + n - 1, 'WITHSCORES')
  if #chunk == 0 then exhausted = 1 break end
  local stop = false
  for i = 1, #chunk, 2 do
    local id, sc = chunk[i], chunk[i + 1]
    if since and (tonumber(sc) or 0) < since then
      exhausted, stop = 1, true
      break
    end
    scanned = scanned + 1
    last_s, last_id = sc, id
    local doc = pfx .. id
    local keep = true
    if filtered then
      local f = redis.call('HMGET', doc, 'state', 'object', 'key', 'code', 'errorno')
      keep = f[1] ~= false
        and (want_state == '' or f[1] == want_state)
        and (want_object == '' or f[2] == want_object)
        and (want_key == '' or f[3] == want_key)
        and (want_error == '' or f[4] == want_error or f[5] == want_error)
    end
    if keep then
      local f = redis.call('HMGET', doc, 'event_id', 'state', 'object', 'key', 'code', 'errorno',
                           'reason', 'attempt', 'updated_at', 'first_failure', 'envelope')
      if f[2] then
        out[#out + 1] = id
        out[#out + 1] = sc
        for j = 1, 11 do out[#out + 1] = f[j] or '' end
        found = found + 1
        if found >= limit then
          stop = true
          break
        end
      end
    end
    if scanned >= budget then
      stop = true
      break
    end
  end
  if stop then break end
  rank = rank + #chunk / 2
end
return {exhausted, last_s, last_id, out}
)lua");
  return script;
}

constexpr const char* kDocFields[] = {"event_id",   "state",         "object",  "key",
                                      "code",       "errorno",       "reason",  "attempt",
                                      "updated_at", "first_failure", "envelope"};
constexpr std::size_t kItemWidth = 2 + std::size(kDocFields);

struct Position {
  std::int64_t score = 0;
  std::string tenant, id;
};

// True when `a` comes before `b` in the listing's order.
bool before(const Position& a, const Position& b) {
  if (a.score != b.score) return a.score > b.score;
  if (a.tenant != b.tenant) return a.tenant < b.tenant;
  return a.id > b.id;
}

std::string hex(const std::string& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

std::optional<std::string> unhex(std::string_view text) {
  if (text.empty() || text.size() % 2 != 0 || text.size() > 2 * kMaxCursorPart) return {};
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < text.size(); i += 2) {
    int hi = nibble(text[i]), lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return {};
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

std::string encode_cursor(const Position& p) {
  return "e1." + std::to_string(p.score) + "." + hex(p.tenant) + "." + hex(p.id);
}

std::optional<Position> decode_cursor(std::string_view text) {
  if (text.size() > 3 + 20 + 2 + 4 * kMaxCursorPart || text.substr(0, 3) != "e1.") return {};
  text.remove_prefix(3);
  std::string_view parts[3];
  for (int i = 0; i < 3; ++i) {
    auto dot = text.find('.');
    if ((i < 2) != (dot != std::string_view::npos)) return {};
    parts[i] = text.substr(0, dot);
    if (i < 2) text.remove_prefix(dot + 1);
  }
  Position p;
  std::string_view score = parts[0];
  if (score.empty() || score.size() > 17) return {};
  std::size_t digits_from = score[0] == '-' ? 1 : 0;
  if (digits_from == score.size()) return {};
  for (std::size_t i = digits_from; i < score.size(); ++i) {
    if (score[i] < '0' || score[i] > '9') return {};
  }
  if (score.size() - digits_from > 1 && score[digits_from] == '0') return {};
  auto [end, ec] = std::from_chars(score.data(), score.data() + score.size(), p.score);
  if (ec != std::errc{} || end != score.data() + score.size()) return {};
  auto tenant = unhex(parts[1]);
  auto id = unhex(parts[2]);
  if (!tenant || !id) return {};
  p.tenant = std::move(*tenant);
  p.id = std::move(*id);
  return p;
}

std::int64_t score_of(const std::string& text) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc{}) return v;
  // Not an integer (a score written by hand): the nearest one, if any.
  double d = 0;
  auto [dend, dec] = std::from_chars(text.data(), text.data() + text.size(), d);
  (void)dend;
  if (dec != std::errc{} || !(d > -9e15 && d < 9e15)) return 0;
  return static_cast<std::int64_t>(d);
}

std::string index_key(const std::string& tenant, const EventFilter& f) {
  if (!f.key.empty() && !f.object.empty()) return key(tenant, "evx:k:" + f.object + ":" + f.key);
  if (!f.error.empty()) return key(tenant, "evx:e:" + f.error);
  if (!f.object.empty()) return key(tenant, "evx:o:" + f.object);
  if (!f.state.empty()) return key(tenant, "evx:s:" + f.state);
  return key(tenant, "evx:all");
}

struct Item {
  Position pos;
  EventSummary summary;
};

struct TenantPage {
  bool exhausted = true;
  std::optional<Position> last;  // the last candidate looked at
  std::vector<Item> items;
};

Result<TenantPage> read_page(const std::string& tenant, const redis::Reply& r) {
  auto bad = [&tenant](const std::string& why) {
    return make_error("unavailable", "list events of tenant " + tenant + ": " + why);
  };
  if (r.is_error()) return bad(r.str);
  if (r.type != redis::Reply::Type::array || r.elements.size() != 4 ||
      r.elements[0].type != redis::Reply::Type::integer ||
      r.elements[3].type != redis::Reply::Type::array ||
      r.elements[3].elements.size() % kItemWidth != 0) {
    return bad("unexpected reply");
  }
  TenantPage page;
  page.exhausted = r.elements[0].integer == 1;
  if (!r.elements[2].str.empty()) {
    page.last = Position{score_of(r.elements[1].str), tenant, r.elements[2].str};
  }
  const auto& items = r.elements[3].elements;
  for (std::size_t i = 0; i < items.size(); i += kItemWidth) {
    EventDoc doc;
    for (std::size_t j = 0; j < std::size(kDocFields); ++j) {
      if (!items[i + 2 + j].str.empty()) doc[kDocFields[j]] = items[i + 2 + j].str;
    }
    Item item{Position{score_of(items[i + 1].str), tenant, items[i].str}, summarize(tenant, doc)};
    if (item.summary.id.empty()) item.summary.id = item.pos.id;
    page.items.push_back(std::move(item));
  }
  return page;
}

}  // namespace

void list_events(redis::Connection& conn, std::vector<std::string> tenants, EventFilter filter,
                 int limit, std::string cursor, std::function<void(Result<EventPage>)> done) {
  limit = std::clamp(limit, 1, kMaxListLimit);
  std::optional<Position> after;
  if (!cursor.empty()) {
    after = decode_cursor(cursor);
    if (!after) {
      return done(make_error("invalid_field",
                             "cursor is not one this service wrote; pass the next_cursor of a "
                             "previous page, or none for the first page"));
    }
  }
  std::sort(tenants.begin(), tenants.end());
  tenants.erase(std::unique(tenants.begin(), tenants.end()), tenants.end());
  if (tenants.empty()) return done(EventPage{});

  struct Merge {
    std::mutex mu;
    std::size_t remaining;
    std::vector<Result<TenantPage>> pages;
    std::function<void(Result<EventPage>)> done;
    int limit;
  };
  auto m = std::make_shared<Merge>();
  m->remaining = tenants.size();
  m->pages.resize(tenants.size(), Result<TenantPage>(TenantPage{}));
  m->done = std::move(done);
  m->limit = limit;

  auto finish = [m] {
    std::vector<Item> all;
    std::optional<Position> frontier;  // the earliest stop of a tenant with more
    for (auto& page : m->pages) {
      if (!page) return m->done(page.error());
      if (!page->exhausted && page->last && (!frontier || before(*page->last, *frontier))) {
        frontier = page->last;
      }
      for (auto& item : page->items) all.push_back(std::move(item));
    }
    std::sort(all.begin(), all.end(),
              [](const Item& a, const Item& b) { return before(a.pos, b.pos); });
    EventPage out;
    std::optional<Position> last_kept;
    bool more = false;
    for (auto& item : all) {
      if (frontier && before(*frontier, item.pos)) break;
      if (static_cast<int>(out.events.size()) == m->limit) {
        more = true;
        break;
      }
      last_kept = item.pos;
      out.events.push_back(std::move(item.summary));
    }
    if (static_cast<int>(out.events.size()) == m->limit && (more || frontier)) {
      out.next_cursor = encode_cursor(*last_kept);
    } else if (frontier) {
      out.next_cursor = encode_cursor(*frontier);
    }
    m->done(std::move(out));
  };

  for (std::size_t i = 0; i < tenants.size(); ++i) {
    const std::string& tenant = tenants[i];
    std::string mode = "top", score, id;
    if (after) {
      score = std::to_string(after->score);
      if (tenant < after->tenant) {
        mode = "below";
      } else if (tenant > after->tenant) {
        mode = "from";
      } else {
        mode = "after";
        id = after->id;
      }
    }
    if (filter.until_ms > 0 && (!after || filter.until_ms < after->score)) {
      mode = "from";
      score = std::to_string(filter.until_ms);
      id.clear();
    }
    conn.eval(list_script(), {index_key(tenant, filter)},
              {key(tenant, "ev:"), mode, score, id,
               filter.since_ms > 0 ? std::to_string(filter.since_ms) : "", std::to_string(limit),
               std::to_string(kScanBudget), filter.state, filter.object, filter.key, filter.error},
              [m, i, tenant, finish](boost::system::error_code ec, redis::Reply r) {
                Result<TenantPage> page = ec ? Result<TenantPage>(make_error(
                                                   "unavailable", "list events of tenant " +
                                                                      tenant + ": " + ec.message()))
                                             : read_page(tenant, r);
                bool last;
                {
                  std::lock_guard lock(m->mu);
                  m->pages[i] = std::move(page);
                  last = --m->remaining == 0;
                }
                if (last) finish();
              });
  }
}

}  // namespace isync::queue
