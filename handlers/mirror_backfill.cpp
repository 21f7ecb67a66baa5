// MirrorSync's one-time back-fill of the RECORDNO index: one step
// (backfill_step) and the background loop of serve (run_backfill).
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "handlers/detail/mirror_index.hpp"
#include "handlers/detail/mirror_sync_core.hpp"
#include "queue/queue.hpp"

namespace isync::handlers {
namespace {

// Keys SCAN visits per step (a hint: it returns only the tenant's rec: keys
// among them).
constexpr const char* kScanCount = "500";
constexpr std::chrono::milliseconds kLockTtl{30'000};
constexpr std::chrono::milliseconds kPause{20};
constexpr std::chrono::milliseconds kRetry{2'000};
// The name versions before the index give their mirror-writing connection;
// this one names it "isync-handler-2" (app/service.cpp).
constexpr std::string_view kOlderWriterName = "isync-handler";

using Done = std::function<void(Result<BackfillStatus>)>;

Error unavailable(const std::string& tenant, const std::string& why) {
  return make_error("unavailable", "Redis: " + why + " (index back-fill of tenant " + tenant + ")");
}

// CLIENT LIST: one line per connection, "id=3 addr=… name=<name> age=…".
bool older_writer_connected(std::string_view list) {
  while (!list.empty()) {
    const auto nl = list.find('\n');
    std::string_view line = list.substr(0, nl);
    list = nl == std::string_view::npos ? std::string_view() : list.substr(nl + 1);
    while (!line.empty()) {
      const auto sp = line.find(' ');
      std::string_view field = line.substr(0, sp);
      line = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
      if (field.starts_with("name=") && field.substr(5) == kOlderWriterName) return true;
    }
  }
  return false;
}

std::int64_t to_int(const redis::Reply& r) {
  if (r.type == redis::Reply::Type::integer) return r.integer;
  if (r.type != redis::Reply::Type::string) return 0;
  try {
    return std::stoll(r.str);
  } catch (...) {
    return 0;
  }
}

void index_batch(std::shared_ptr<const MirrorSync::Core> core, std::string tenant, std::string from,
                 Done done) {
  core->conn->command(
      {"SCAN", from, "MATCH", queue::key(tenant, "rec:*"), "COUNT", kScanCount},
      [core, tenant, from, done = std::move(done)](boost::system::error_code ec,
                                                   redis::Reply r) mutable {
        if (ec) return done(unavailable(tenant, ec.message()));
        if (r.is_error()) return done(unavailable(tenant, r.str));
        if (r.type != redis::Reply::Type::array || r.elements.size() != 2 ||
            r.elements[0].type != redis::Reply::Type::string ||
            r.elements[1].type != redis::Reply::Type::array)
          return done(unavailable(tenant, "unexpected SCAN reply"));
        std::vector<std::string> keys{queue::key(tenant, "idx-state")};
        for (auto& k : r.elements[1].elements)
          if (k.type == redis::Reply::Type::string) keys.push_back(std::move(k.str));
        core->conn->eval(
            detail::backfill_script(), std::move(keys), {from, r.elements[0].str},
            [tenant, done = std::move(done)](boost::system::error_code ec2, redis::Reply s) {
              if (ec2) return done(unavailable(tenant, ec2.message()));
              if (s.is_error()) return done(unavailable(tenant, s.str));
              if (s.type != redis::Reply::Type::array || s.elements.size() != 2)
                return done(unavailable(tenant, "unexpected back-fill reply"));
              BackfillStatus st{to_int(s.elements[0]) == 1, to_int(s.elements[1])};
              done(Result<BackfillStatus>(boost::system::in_place_value, st));
            });
      });
}

}  // namespace

namespace detail {

void backfill_step(std::shared_ptr<const MirrorSync::Core> core, std::string tenant, Done done) {
  if (auto bad = check_tenant(tenant)) return done(*bad);
  auto conn = core->conn;
  conn->command(
      {"HMGET", queue::key(tenant, "idx-state"), "cursor", "scanned", "ready"},
      [core, tenant, done = std::move(done)](boost::system::error_code ec,
                                             redis::Reply state) mutable {
        if (ec) return done(unavailable(tenant, ec.message()));
        if (state.is_error()) return done(unavailable(tenant, state.str));
        if (state.type != redis::Reply::Type::array || state.elements.size() != 3)
          return done(unavailable(tenant, "unexpected HMGET reply"));
        const BackfillStatus now{state.elements[2].str == "1", to_int(state.elements[1])};
        if (now.ready) return done(Result<BackfillStatus>(boost::system::in_place_value, now));
        std::string cursor = state.elements[0].type == redis::Reply::Type::string
                                 ? state.elements[0].str
                                 : std::string("0");
        core->conn->command(
            {"CLIENT", "LIST"}, [core, tenant, cursor = std::move(cursor), done = std::move(done)](
                                    boost::system::error_code ec2, redis::Reply list) mutable {
              if (ec2) return done(unavailable(tenant, ec2.message()));
              if (list.is_error() || list.type != redis::Reply::Type::string)
                return done(unavailable(
                    tenant, "CLIENT LIST refused (" + shorten(list.str, 120) +
                                "); the back-fill needs it to know that no older version still "
                                "writes the mirror"));
              if (older_writer_connected(list.str))
                return done(make_error(
                    "older_writer",
                    "a process of an older version (Redis connection named \"isync-handler\") is "
                    "still writing the mirror without indexing it; the index back-fill of tenant " +
                        tenant + " starts once every process runs this version"));
              index_batch(std::move(core), std::move(tenant), std::move(cursor), std::move(done));
            });
      });
}

}  // namespace detail

void MirrorSync::backfill_status(std::string tenant, Done done) {
  if (auto bad = detail::check_tenant(tenant)) return done(*bad);
  core_->conn->command(
      {"HMGET", queue::key(tenant, "idx-state"), "scanned", "ready"},
      [tenant, done = std::move(done)](boost::system::error_code ec, redis::Reply r) {
        if (ec) return done(unavailable(tenant, ec.message()));
        if (r.is_error()) return done(unavailable(tenant, r.str));
        if (r.type != redis::Reply::Type::array || r.elements.size() != 2)
          return done(unavailable(tenant, "unexpected HMGET reply"));
        BackfillStatus st{r.elements[1].str == "1", to_int(r.elements[0])};
        done(Result<BackfillStatus>(boost::system::in_place_value, st));
      });
}

void MirrorSync::backfill_step(std::string tenant, Done done) {
  detail::backfill_step(core_, std::move(tenant), std::move(done));
}

// ---- the background loop ------------------------------------------------------

namespace {

// KEYS: 1 lock. ARGV: 1 token, 2 ttl ms. 1 when the lock is (still) ours.
const redis::Script& renew_script() {
  static const redis::Script script(R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
)lua");
  return script;
}

// KEYS: 1 lock. ARGV: 1 token.
const redis::Script& release_script() {
  static const redis::Script script(R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
)lua");
  return script;
}

}  // namespace

// Everything below runs on `strand`; Redis callbacks come back to it.
// Callbacks and timers hold the state weakly: it goes with the MirrorSync.
struct MirrorSync::Backfill {
  struct Tenant {
    Tenant(boost::asio::any_io_executor ex, std::string t) : id(std::move(t)), timer(ex) {}
    std::string id;
    std::string token;  // the lock value of this process
    bool holding = false;
    bool stepped = false;    // this process did back-fill work
    std::string last_error;  // logged once until it changes
    boost::asio::steady_timer timer;
  };
  Backfill(boost::asio::any_io_executor ex, std::shared_ptr<const Core> c)
      : strand(make_strand_executor(ex)), core(std::move(c)) {}

  boost::asio::any_io_executor strand;
  std::shared_ptr<const Core> core;
  bool stopped = false;
  bool started = false;
  std::vector<std::shared_ptr<Tenant>> tenants;
};

namespace {

using Backfill = MirrorSync::Backfill;
using Tenant = MirrorSync::Backfill::Tenant;

void tick(const std::shared_ptr<Backfill>& b, const std::shared_ptr<Tenant>& t);

// Runs `fn(b, t)` on the strand if both still exist and the loop runs.
template <class Fn>
auto on_strand(const std::shared_ptr<Backfill>& b, const std::shared_ptr<Tenant>& t, Fn fn) {
  return [wb = std::weak_ptr<Backfill>(b), wt = std::weak_ptr<Tenant>(t),
          fn = std::move(fn)](auto&&... args) mutable {
    auto sb = wb.lock();
    if (!sb) return;
    boost::asio::post(
        sb->strand, [wb, wt, fn = std::move(fn),
                     tup = std::make_tuple(std::forward<decltype(args)>(args)...)]() mutable {
          auto b2 = wb.lock();
          auto t2 = wt.lock();
          if (!b2 || !t2 || b2->stopped) return;
          std::apply([&](auto&&... a) { fn(b2, t2, std::forward<decltype(a)>(a)...); },
                     std::move(tup));
        });
  };
}

void schedule(const std::shared_ptr<Backfill>& b, const std::shared_ptr<Tenant>& t,
              std::chrono::milliseconds delay) {
  t->timer.expires_after(delay);
  t->timer.async_wait([wb = std::weak_ptr<Backfill>(b),
                       wt = std::weak_ptr<Tenant>(t)](boost::system::error_code ec) {
    if (ec) return;
    auto b2 = wb.lock();
    auto t2 = wt.lock();
    if (b2 && t2 && !b2->stopped) tick(b2, t2);
  });
}

void release(const std::shared_ptr<Backfill>& b, const std::shared_ptr<Tenant>& t) {
  if (!t->holding) return;
  t->holding = false;
  b->core->conn->eval(release_script(), {queue::key(t->id, "idx-lock")}, {t->token},
                      [](boost::system::error_code, redis::Reply) {});
}

void failed(const std::shared_ptr<Backfill>& b, const std::shared_ptr<Tenant>& t, const Error& e) {
  if (e.message != t->last_error) {
    t->last_error = e.message;
    b->core->log.warn("mirror index back-fill waits; retrying",
                      LogLine().str("tenant", t->id).str("code", e.code).str("error", e.message));
  }
  schedule(b, t, kRetry);
}

void step(const std::shared_ptr<Backfill>& b, const std::shared_ptr<Tenant>& t) {
  detail::backfill_step(
      b->core, t->id,
      on_strand(b, t,
                [](const std::shared_ptr<Backfill>& b2, const std::shared_ptr<Tenant>& t2,
                   Result<BackfillStatus> r) {
                  if (!r) return failed(b2, t2, r.error());
                  if (r->ready) {
                    release(b2, t2);
                    if (t2->stepped || !t2->last_error.empty())
                      b2->core->log.info(
                          "mirror index back-fill done",
                          LogLine().str("tenant", t2->id).num("scanned", r->scanned));
                    return;  // for good
                  }
                  t2->stepped = true;
                  t2->last_error.clear();
                  schedule(b2, t2, kPause);
                }));
}

void tick(const std::shared_ptr<Backfill>& b, const std::shared_ptr<Tenant>& t) {
  auto& conn = *b->core->conn;
  const std::string lock = queue::key(t->id, "idx-lock");
  const std::string ttl = std::to_string(kLockTtl.count());
  if (t->holding) {
    conn.eval(renew_script(), {lock}, {t->token, ttl},
              on_strand(b, t,
                        [](const std::shared_ptr<Backfill>& b2, const std::shared_ptr<Tenant>& t2,
                           boost::system::error_code ec, redis::Reply r) {
                          if (ec || r.is_error())
                            return failed(b2, t2, unavailable(t2->id, ec ? ec.message() : r.str));
                          if (r.type == redis::Reply::Type::integer && r.integer == 1)
                            return step(b2, t2);
                          t2->holding = false;  // expired (a long stall): take it again
                          schedule(b2, t2, kRetry);
                        }));
    return;
  }
  conn.command({"SET", lock, t->token, "NX", "PX", ttl},
               on_strand(b, t,
                         [](const std::shared_ptr<Backfill>& b2, const std::shared_ptr<Tenant>& t2,
                            boost::system::error_code ec, redis::Reply r) {
                           if (ec || r.is_error())
                             return failed(b2, t2, unavailable(t2->id, ec ? ec.message() : r.str));
                           if (r.type == redis::Reply::Type::status && r.str == "OK") {
                             t2->holding = true;
                             return step(b2, t2);
                           }
                           schedule(b2, t2, kRetry);  // another process is back-filling
                         }));
}

}  // namespace

namespace detail {

std::shared_ptr<MirrorSync::Backfill> make_backfill(boost::asio::any_io_executor ex,
                                                    std::shared_ptr<const MirrorSync::Core> core) {
  return std::make_shared<MirrorSync::Backfill>(std::move(ex), std::move(core));
}

}  // namespace detail

void MirrorSync::run_backfill(std::vector<std::string> tenants) {
  boost::asio::post(backfill_->strand, [b = backfill_, tenants = std::move(tenants)] {
    if (b->started || b->stopped) return;
    b->started = true;
    for (const auto& id : tenants) {
      if (detail::check_tenant(id)) continue;
      auto t = std::make_shared<Tenant>(b->strand, id);
      t->token = make_ulid(b->core->clock.now_ms());
      b->tenants.push_back(t);
      tick(b, t);
    }
  });
}

void MirrorSync::stop() {
  boost::asio::post(backfill_->strand, [b = backfill_] {
    if (b->stopped) return;
    for (auto& t : b->tenants) {
      t->timer.cancel();
      release(b, t);
    }
    b->stopped = true;
  });
}

}  // namespace isync::handlers
