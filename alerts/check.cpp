// The check pass: reads each tenant's figures from Redis, claims what
// changed, and queues the alerts this process won. Every check of every
// tenant runs independently (pipelined on the one connection); the pass ends
// when all have answered or failed. Redis trouble skips a check until the
// next pass.
#include <algorithm>
#include <atomic>

#include "alerts/detail/claims.hpp"
#include "alerts/detail/impl.hpp"
#include "alerts/detail/text.hpp"
#include "handlers/handlers.hpp"
#include "intacct/client.hpp"
#include "queue/queue.hpp"
#include "reconcile/reconcile.hpp"

namespace isync::alerts {

using namespace detail;

namespace {

// Dead letters read for a digest's breakdown (the newest).
constexpr int kDigestSample = 100;
// Dead letters are digested once they are this old (by the clock of the
// process that filed them): one filed in the same millisecond as the last
// digest's newest would otherwise be skipped.
constexpr std::int64_t kDigestGraceMs = 1000;
// Reconcile reports looked at per tenant and pass (the newest).
constexpr int kRunsLooked = 5;
// The budget's level key outlives its month.
constexpr std::int64_t kBudgetTtlSeconds = 40LL * 86'400;

// Calls `done` once `n` arrivals happened (any thread).
class Join {
 public:
  Join(std::size_t n, std::function<void()> done) : left_(n), done_(std::move(done)) {
    if (n == 0) done_();
  }
  void arrive() {
    if (left_.fetch_sub(1) == 1) done_();
  }

 private:
  std::atomic<std::size_t> left_;
  std::function<void()> done_;
};

std::int64_t score_ms(const std::string& text) {
  try {
    return static_cast<std::int64_t>(std::stod(text));
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

void Alerter::Impl::run_checks(std::function<void()> done) {
  std::vector<std::string> ids;
  for (const auto& t : tenants) ids.push_back(t.tenant);
  const auto now = clock.now_ms();
  handlers::read_status(
      *conn, ids, now,
      [self = shared_from_this(), now,
       done = std::move(done)](Result<handlers::Status> st) mutable {
        self->on_strand([self, now, st = std::move(st), done = std::move(done)]() mutable {
          if (self->stopping) return done();
          if (!st) {
            self->log.write(Level::debug, "alerts: status not read; next check later",
                            LogLine().str("error", st.error().message));
            return done();
          }
          // read_status answers the tenants in the order asked.
          const std::size_t n = std::min(st->tenants.size(), self->tenants.size());
          auto join = std::make_shared<Join>(n * 5, std::move(done));
          for (std::size_t i = 0; i < n; ++i) {
            const auto& ts = st->tenants[i];
            const auto& policy = self->tenants[i];
            const std::string t = ts.tenant;
            const auto arrive = [join] { join->arrive(); };
            auto raise = [self](Alert a) {
              self->on_strand([self, a = std::move(a)]() mutable { self->enqueue(std::move(a)); });
            };

            // Dead letters over / under the threshold.
            const std::int64_t dead = ts.queue.dead;
            const bool over = dead >= self->options.dead_threshold;
            claim_crossing(*self->conn, alerts_key(t, "state:dead_threshold"),
                           over ? "over" : "under", now, "under",
                           [self, t, dead, over, raise, arrive](Result<bool> won) {
                             if (won && *won)
                               raise({Kind::dead_threshold, t,
                                      threshold_text(t, dead, self->options.dead_threshold, over)});
                             arrive();
                           });

            // The Intacct circuit.
            const bool open = ts.circuit_open;
            claim_crossing(*self->conn, alerts_key(t, "state:circuit"), open ? "open" : "closed",
                           now, "closed",
                           [t, open, reason = ts.circuit_reason, raise, arrive](Result<bool> won) {
                             if (won && *won)
                               raise({Kind::circuit, t, circuit_text(t, open, reason)});
                             arrive();
                           });

            // The month's call budget.
            const auto budget = policy.monthly_call_budget;
            const auto calls = ts.calls_this_month;
            const int level = budget <= 0               ? 0
                              : calls >= budget         ? 100
                              : calls * 5 >= budget * 4 ? 80
                                                        : 0;
            if (level == 0) {
              arrive();
            } else {
              const auto calls_key = intacct::monthly_calls_key(t, now);
              const auto month = calls_key.substr(calls_key.rfind(':') + 1);
              claim_level(*self->conn, alerts_key(t, "budget:" + month), level, kBudgetTtlSeconds,
                          [t, level, calls, budget, month, raise, arrive](Result<bool> won) {
                            if (won && *won)
                              raise({Kind::budget, t, budget_text(t, level, calls, budget, month)});
                            arrive();
                          });
            }

            self->check_digest(t, dead, now, raise, arrive);
            self->check_runs(t, now, raise, arrive);
          }
        });
      });
}

void Alerter::Impl::check_digest(const std::string& t, std::int64_t dead_now, std::int64_t now,
                                 std::function<void(Alert)> raise, std::function<void()> arrive) {
  auto self = shared_from_this();
  digest_window_open(*conn, t, [=](Result<bool> open) {
    if (!open || *open) return arrive();
    digest_cursor(*self->conn, t, now, [=](Result<std::int64_t> cursor) {
      if (!cursor) return arrive();
      const std::string from = "(" + std::to_string(*cursor);
      const std::string index = queue::key(t, "evx:s:dead");
      self->conn->command(
          {"ZREVRANGEBYSCORE", index, std::to_string(now - kDigestGraceMs), from, "WITHSCORES",
           "LIMIT", "0", std::to_string(kDigestSample)},
          [=](boost::system::error_code ec, redis::Reply ids) {
            if (ec || ids.type != redis::Reply::Type::array || ids.elements.size() < 2)
              return arrive();
            const std::int64_t upto = score_ms(ids.elements[1].str);
            // The count and the sampled documents, pipelined; then the claim.
            struct Gather {
              std::int64_t count = 0;
              std::vector<redis::Reply> docs;
            };
            auto gather = std::make_shared<Gather>();
            const std::size_t n = ids.elements.size() / 2;
            gather->docs.resize(n);
            auto finish = std::make_shared<Join>(n + 1, [=] {
              Digest digest;
              for (const auto& d : gather->docs) {
                if (d.type != redis::Reply::Type::array || d.elements.size() != 4) continue;
                digest.add(d.elements[0].str, d.elements[1].str, d.elements[2].str,
                           d.elements[3].str);
              }
              const auto count = std::max<std::int64_t>(gather->count, digest.sampled());
              claim_digest(*self->conn, t, *cursor, upto, self->options.digest_window.count(),
                           [=](Result<bool> won) {
                             if (won && *won)
                               raise({Kind::dead_letters, t,
                                      digest_text(t, count, std::max(dead_now, count), digest)});
                             arrive();
                           });
            });
            self->conn->command({"ZCOUNT", index, from, std::to_string(upto)},
                                [gather, finish](boost::system::error_code e, redis::Reply r) {
                                  if (!e && r.type == redis::Reply::Type::integer)
                                    gather->count = r.integer;
                                  finish->arrive();
                                });
            for (std::size_t i = 0; i < n; ++i) {
              self->conn->command({"HMGET", queue::key(t, "ev:" + ids.elements[2 * i].str),
                                   "object", "code", "errorno", "attempts"},
                                  [gather, finish, i](boost::system::error_code e, redis::Reply r) {
                                    if (!e) gather->docs[i] = std::move(r);
                                    finish->arrive();
                                  });
            }
          });
    });
  });
}

void Alerter::Impl::check_runs(const std::string& t, std::int64_t now,
                               std::function<void(Alert)> raise, std::function<void()> arrive) {
  auto self = shared_from_this();
  const auto lookback =
      std::chrono::duration_cast<std::chrono::milliseconds>(options.reconcile_lookback).count();
  reconcile::list_runs(*conn, t, kRunsLooked, [=](Result<std::vector<std::string>> runs) {
    if (!runs) return arrive();
    std::vector<RunAlert> worth;
    for (const auto& report : *runs) {
      if (auto a = reconcile_alert(report, self->options.drift_threshold, now - lookback))
        worth.push_back(std::move(*a));
    }
    auto join = std::make_shared<Join>(worth.size(), arrive);
    for (auto& a : worth) {
      claim_run(*self->conn, t, a.run_id, 2 * lookback, [=](Result<bool> won) {
        if (won && *won) raise({Kind::reconcile, t, a.text});
        join->arrive();
      });
    }
  });
}

}  // namespace isync::alerts
