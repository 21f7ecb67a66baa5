#include <cmath>
#include <limits>

#include "queue/detail/scripts.hpp"
#include "queue/queue.hpp"

namespace isync::queue {

std::chrono::milliseconds backoff_delay(int attempt, std::chrono::milliseconds base,
                                        std::chrono::milliseconds cap, double random01) {
  if (attempt < 1) attempt = 1;
  std::int64_t b = std::max<std::int64_t>(0, base.count());
  std::int64_t c = std::max<std::int64_t>(0, cap.count());
  // Doubling stops as soon as the cap is reached, so no shift overflows.
  std::int64_t ceiling = std::min(b, c);
  for (int i = 1; i < attempt && ceiling < c; ++i) {
    ceiling = ceiling > c / 2 ? c : ceiling * 2;
  }
  if (!(random01 >= 0.0)) random01 = 0.0;
  if (random01 >= 1.0) random01 = std::nextafter(1.0, 0.0);
  auto drawn = static_cast<std::int64_t>(std::floor(static_cast<double>(ceiling) * random01));
  return std::chrono::milliseconds(std::clamp<std::int64_t>(drawn, 0, ceiling));
}

void read_stats(redis::Connection& conn, const std::string& tenant,
                std::function<void(Result<TenantStats>)> done) {
  struct State {
    TenantStats stats;
    int remaining = 6;
    std::string failure;
    std::function<void(Result<TenantStats>)> done;
  };
  auto st = std::make_shared<State>();
  st->done = std::move(done);
  auto finish = [st] {
    if (--st->remaining > 0) return;
    if (!st->failure.empty()) {
      st->done(make_error("unavailable", "cannot read queue figures: " + st->failure));
    } else {
      st->done(st->stats);
    }
  };
  auto integer = [st, finish](std::int64_t* out) {
    return [st, finish, out](boost::system::error_code ec, redis::Reply r) {
      if (ec) {
        st->failure = ec.message();
      } else if (r.type == redis::Reply::Type::integer) {
        *out = r.integer;
      } else if (r.is_error()) {
        st->failure = r.str;
      }
      finish();
    };
  };
  std::string stream = key(tenant, "events");
  conn.command({"XLEN", stream}, integer(&st->stats.depth));
  conn.command({"XPENDING", stream, std::string(kGroup)},
               [st, finish](boost::system::error_code ec, redis::Reply r) {
                 if (ec) {
                   st->failure = ec.message();
                 } else if (r.type == redis::Reply::Type::array && r.elements.size() >= 2) {
                   st->stats.pending = r.elements[0].integer;
                   const std::string& smallest = r.elements[1].str;
                   if (!smallest.empty()) {
                     st->stats.oldest_pending_ms = std::strtoll(smallest.c_str(), nullptr, 10);
                   }
                 }
                 // NOGROUP before the workers first ran: nothing pending.
                 finish();
               });
  conn.command({"ZCARD", key(tenant, "retry")}, integer(&st->stats.retrying));
  conn.command({"ZCARD", key(tenant, "parked")}, integer(&st->stats.parked));
  conn.command({"ZCARD", key(tenant, "dead")}, integer(&st->stats.dead));
  conn.command({"ZCARD", key(tenant, "recheck")}, integer(&st->stats.reads_due));
}

void publish_stats(redis::Connection& conn, std::vector<std::string> tenants, Metrics& metrics,
                   std::function<void()> done) {
  if (tenants.empty()) return done();
  auto remaining = std::make_shared<std::size_t>(tenants.size());
  auto shared_done = std::make_shared<std::function<void()>>(std::move(done));
  for (const auto& tenant : tenants) {
    read_stats(conn, tenant, [&metrics, tenant, remaining, shared_done](Result<TenantStats> r) {
      if (r) {
        Labels l{{"tenant", tenant}};
        auto set = [&](const char* name, const char* help, std::int64_t v) {
          metrics.gauge(name, help, l).set(static_cast<double>(v));
        };
        set("isync_queue_depth", "Entries in the tenant's stream (undelivered + pending)",
            r->depth);
        set("isync_queue_pending", "Entries delivered to a worker and not yet acked", r->pending);
        set("isync_queue_retrying", "Events waiting in the retry schedule", r->retrying);
        set("isync_queue_parked", "Events parked until their cause is fixed", r->parked);
        set("isync_queue_dead", "Dead letters kept for on-call", r->dead);
        set("isync_mirror_reads_due",
            "Records waiting on the read schedule (a read deferred until its second settled, or "
            "a recheck)",
            r->reads_due);
        double age = 0;
        if (r->oldest_pending_ms > 0) {
          age = std::max(
              0.0, static_cast<double>(SystemClock().now_ms() - r->oldest_pending_ms) / 1000.0);
        }
        metrics
            .gauge("isync_queue_oldest_pending_seconds",
                   "Age of the oldest pending entry, in seconds", l)
            .set(age);
      }
      if (--*remaining == 0) (*shared_done)();
    });
  }
}

void unpark_all(redis::Connection& conn, const std::string& tenant,
                std::function<void(Result<std::int64_t>)> done) {
  // Batches of 1000 keep each script short; loop until the set is empty.
  struct Loop : std::enable_shared_from_this<Loop> {
    redis::Connection& conn;
    std::string tenant;
    std::function<void(Result<std::int64_t>)> done;
    std::int64_t moved = 0;
    Loop(redis::Connection& c, std::string t, std::function<void(Result<std::int64_t>)> d)
        : conn(c), tenant(std::move(t)), done(std::move(d)) {}
    void step() {
      conn.eval(detail::release_script(), {key(tenant, "parked"), key(tenant, "events")},
                {"+inf", key(tenant, "ev:"), "1000"},
                [self = shared_from_this()](boost::system::error_code ec, redis::Reply r) {
                  if (ec) return self->done(make_error("unavailable", "unpark: " + ec.message()));
                  if (r.type != redis::Reply::Type::integer) {
                    return self->done(make_error("unavailable", "unpark: " + r.str));
                  }
                  self->moved += r.integer;
                  if (r.integer < 1000) return self->done(self->moved);
                  self->step();
                });
    }
  };
  std::make_shared<Loop>(conn, tenant, std::move(done))->step();
}

}  // namespace isync::queue
