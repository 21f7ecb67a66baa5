// Where runs live in Redis: the lock, the kept reports, the stats.
#include <date/date.h>

#include <boost/asio/post.hpp>

#include "queue/queue.hpp"
#include "reconcile/detail/run.hpp"
#include "reconcile/reconcile.hpp"
#include "reconcile/schedule.hpp"

namespace isync::reconcile {

Result<std::int64_t> scope_since(std::int64_t now_s, std::string_view window) {
  const auto space = window.find(' ');
  const auto bad =
      Error{"invalid_window", "initial_window: expected \"<n> days\" or \"<n> months\", got \"" +
                                  std::string(window) + "\""};
  if (space == std::string_view::npos || space == 0 || space > 6) return bad;
  std::int64_t n = 0;
  for (std::size_t i = 0; i < space; ++i) {
    if (window[i] < '0' || window[i] > '9') return bad;
    n = n * 10 + (window[i] - '0');
  }
  const auto unit = window.substr(space + 1);
  constexpr std::int64_t kDay = 24 * 3600;
  if (unit == "day" || unit == "days") return now_s - n * kDay - kDay;
  if (unit != "month" && unit != "months") return bad;
  // Calendar months in UTC, the day clamped to the shorter month's end.
  using namespace date;
  const sys_seconds t{std::chrono::seconds(now_s)};
  const auto day = floor<days>(t);
  const auto tod = t - day;
  year_month_day ymd{day};
  auto target = ymd.year() / ymd.month() / 1;
  auto shifted = year_month{target.year(), target.month()} - months{n};
  const auto month_end = (shifted / date::last).day();
  const auto d = ymd.day() > month_end ? month_end : ymd.day();
  const sys_seconds start = sys_days{shifted / d} + tod;
  return start.time_since_epoch().count() - kDay;
}

void list_runs(redis::Connection& conn, const std::string& tenant, int limit,
               std::function<void(Result<std::vector<std::string>>)> done) {
  static const redis::Script script(R"lua(
local ids = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local out = {}
for _, id in ipairs(ids) do
  local r = redis.call('GET', ARGV[2] .. id)
  if r then out[#out + 1] = r end
end
return out
)lua");
  conn.eval(script, {runs_key(tenant)},
            {std::to_string(std::clamp(limit, 1, 1000)), run_key(tenant, "")},
            [done = std::move(done)](boost::system::error_code ec, redis::Reply r) {
              if (ec || r.is_error()) {
                return done(Error{"unavailable", "Redis: " + (ec ? ec.message() : r.str)});
              }
              std::vector<std::string> out;
              for (auto& e : r.elements)
                if (e.type == redis::Reply::Type::string) out.push_back(std::move(e.str));
              done(std::move(out));
            });
}

void get_run(redis::Connection& conn, const std::string& tenant, const std::string& run_id,
             std::function<void(Result<std::string>)> done) {
  conn.command(
      {"GET", run_key(tenant, run_id)}, [done = std::move(done), tenant, run_id](
                                            boost::system::error_code ec, redis::Reply r) mutable {
        if (ec || r.is_error()) {
          return done(Error{"unavailable", "Redis: " + (ec ? ec.message() : r.str)});
        }
        if (r.type != redis::Reply::Type::string) {
          return done(Error{"not_found", "no reconcile run " + run_id + " is kept for tenant " +
                                             tenant + " (the last 30 runs are kept)"});
        }
        done(Result<std::string>(boost::system::in_place_value, std::move(r.str)));
      });
}

namespace detail {

void finish_in_redis(const Report& report, const std::string& fence_value, const RunDeps& deps,
                     std::function<void()> then) {
  // One script: report, stats, last success and the lock's release commit
  // together, so metrics never count a run twice or miss one.
  static const redis::Script script(R"lua(
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[2], 'runs:' .. ARGV[2], 1)
redis.call('HINCRBY', KEYS[2], 'calls', tonumber(ARGV[3]))
for i = 6, #ARGV, 2 do redis.call('HINCRBY', KEYS[2], ARGV[i], tonumber(ARGV[i + 1])) end
if ARGV[2] == 'succeeded' then
  redis.call('SET', KEYS[3], ARGV[4])
  redis.call('HSET', KEYS[2], 'last_success_ms', ARGV[4])
end
if redis.call('GET', KEYS[4]) == ARGV[5] then redis.call('DEL', KEYS[4]) end
return 1
)lua");
  const std::string& t = report.tenant;
  std::vector<std::string> args{report.to_json(), report.state, std::to_string(report.api_calls()),
                                std::to_string(report.finished_ms), fence_value};
  if (!report.dry_run) {
    for (const auto& [name, o] : report.objects) {
      const std::pair<const char*, std::int64_t> kinds[] = {{"created", o.created},
                                                            {"updated", o.updated},
                                                            {"tombstoned", o.tombstoned},
                                                            {"drafts_removed", o.drafts_removed}};
      for (const auto& [kind, n] : kinds) {
        if (n == 0) continue;
        args.push_back("drift:" + name + ":" + kind);
        args.push_back(std::to_string(n));
      }
    }
    const std::pair<const char*, std::int64_t> pay[] = {{"adopted", report.payments.adopted},
                                                        {"made_due", report.payments.made_due},
                                                        {"reversed", report.payments.reversed},
                                                        {"conflicts", report.payments.conflicts}};
    for (const auto& [kind, n] : pay) {
      if (n == 0) continue;
      args.push_back(std::string("drift:payments:") + kind);
      args.push_back(std::to_string(n));
    }
  }
  deps.conn->eval(
      script, {run_key(t, report.run_id), stats_key(t), last_success_key(t), lock_key(t)},
      std::move(args),
      [then = std::move(then), log = deps.log, t, id = report.run_id](boost::system::error_code ec,
                                                                      redis::Reply r) {
        if (ec || r.is_error()) {
          log->error(
              "reconcile could not store its report",
              LogLine().str("tenant", t).str("run_id", id).str("error", ec ? ec.message() : r.str));
        }
        then();
      });
}

}  // namespace detail
}  // namespace isync::reconcile
