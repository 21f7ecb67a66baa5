// The Scheduler's Redis steps: the start-up check of last_success, claiming
// markers and giving them back (contract in schedule.hpp).
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <charconv>
#include <optional>

#include "reconcile/detail/scheduler_impl.hpp"

namespace isync::reconcile {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

// Claims KEYS in order for ARGV[1] (the owner), KEYS[i] expiring after
// ARGV[i + 1] ms; the keys after the first only if the first was claimed. A
// key already holding the owner counts as claimed, so a claim whose reply was
// lost is not lost to its own owner. Returns 1 (claimed) or 0 per key.
const redis::Script& claim_script() {
  static const redis::Script s(R"lua(
local out = {}
for i, k in ipairs(KEYS) do
  local won = 0
  if i == 1 or out[1] == 1 then
    if redis.call('SET', k, ARGV[1], 'NX', 'PX', ARGV[i + 1]) then
      won = 1
    elseif redis.call('GET', k) == ARGV[1] then
      won = 1
    end
  end
  out[i] = won
end
return out
)lua");
  return s;
}

// Deletes each of KEYS that still holds ARGV[1] (the owner): a marker that
// expired and was claimed by another process meanwhile stays. Returns the
// number deleted.
const redis::Script& release_script() {
  static const redis::Script s(R"lua(
local n = 0
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then
    n = n + redis.call('DEL', k)
  end
end
return n
)lua");
  return s;
}

// The ms epoch text of last_success, or nullopt when it is not one.
std::optional<std::int64_t> parse_ms(std::string_view s) {
  std::int64_t v = 0;
  if (s.empty() || s.size() > 19) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::string scheduler_owner_id(std::int64_t now_ms) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host[0] != '\0' ? host : "host") + ":" + std::to_string(::getpid()) + ":" +
         make_ulid(now_ms);
}

void Scheduler::Impl::read_last_success(std::size_t i, std::string day, bool due,
                                        std::int64_t now_ms) {
  tenants_[i].busy = true;
  conn_->command({"GET", last_success_key(tenants_[i].entry.tenant)},
                 [self = shared_from_this(), i, day = std::move(day), due, now_ms](
                     boost::system::error_code ec, redis::Reply r) mutable {
                   asio::post(self->strand_,
                              [self, i, day = std::move(day), due, now_ms, ec, r = std::move(r)] {
                                self->on_last_success(i, day, due, now_ms, ec, r);
                              });
                 });
}

void Scheduler::Impl::on_last_success(std::size_t i, const std::string& day, bool due,
                                      std::int64_t now_ms, boost::system::error_code ec,
                                      const redis::Reply& r) {
  Tenant& t = tenants_[i];
  t.busy = false;
  if (stopped_ || redis_failed(t, "read last success", ec, r)) return;
  std::optional<std::int64_t> last;
  if (r.type == redis::Reply::Type::string) {
    last = parse_ms(r.str);
    if (!last) {
      log_.warn("reconcile last success is not a ms epoch; taken as missing",
                fields(t).str("value", shorten(r.str, 32)));
    }
  }
  const auto max_age = std::chrono::duration_cast<milliseconds>(options_.catch_up_after).count();
  if (last && now_ms - *last <= max_age) {
    t.startup_pending = false;
    return;
  }
  std::vector<std::string> keys{startup_marker_key(t.entry.tenant)};
  std::vector<std::string> args{owner_, std::to_string(options_.startup_marker_ttl.count())};
  if (due) {
    // The day's instant has passed: the start-up run stands for it.
    keys.push_back(day_marker_key(t.entry.tenant, day));
    args.push_back(std::to_string(day_marker_ttl_ms()));
  }
  claim(i, std::move(keys), std::move(args), [this, i, day, due](std::vector<bool> won) {
    Tenant& tt = tenants_[i];
    if (!won[0]) {
      tt.startup_pending = false;
      log_.info("reconcile start-up run claimed by another process", fields(tt));
      return;
    }
    Start s{i, 0, std::string(kTriggerStartup), day, due, {startup_marker_key(tt.entry.tenant)}};
    if (due && won[1]) s.held.push_back(day_marker_key(tt.entry.tenant, day));
    begin_start(std::move(s));
  });
}

void Scheduler::Impl::claim_day(std::size_t i, const std::string& day) {
  Tenant& t = tenants_[i];
  claim(i, {day_marker_key(t.entry.tenant, day)}, {owner_, std::to_string(day_marker_ttl_ms())},
        [this, i, day](std::vector<bool> won) {
          Tenant& tt = tenants_[i];
          if (!won[0]) {
            tt.settled_day = day;
            log_.info("reconcile of the day claimed by another process",
                      fields(tt).str("date", day));
            return;
          }
          begin_start(Start{i,
                            0,
                            std::string(kTriggerSchedule),
                            day,
                            true,
                            {day_marker_key(tt.entry.tenant, day)}});
        });
}

void Scheduler::Impl::claim(std::size_t i, std::vector<std::string> keys,
                            std::vector<std::string> args,
                            std::function<void(std::vector<bool>)> then) {
  tenants_[i].busy = true;
  const std::size_t n = keys.size();
  auto on_reply = [self = shared_from_this(), i, keys, n, then = std::move(then)](
                      boost::system::error_code ec, redis::Reply r) mutable {
    asio::post(self->strand_, [self, i, keys = std::move(keys), n, then = std::move(then), ec,
                               r = std::move(r)] {
      Tenant& t = self->tenants_[i];
      t.busy = false;
      redis::Reply checked = r;
      if (!ec && !r.is_error() && (r.type != redis::Reply::Type::array || r.elements.size() != n)) {
        checked.type = redis::Reply::Type::error;
        checked.str = "unexpected reply to the claim script";
      }
      if (self->redis_failed(t, "claim marker", ec, checked)) return;
      std::vector<bool> won;
      std::vector<std::string> held;
      for (std::size_t k = 0; k < n; ++k) {
        won.push_back(r.elements[k].integer == 1);
        if (won.back()) held.push_back(keys[k]);
      }
      if (self->stopped_) {
        self->release(i, held, false);
        return;
      }
      then(std::move(won));
    });
  };
  conn_->eval(claim_script(), std::move(keys), std::move(args), std::move(on_reply));
}

void Scheduler::Impl::release(std::size_t i, std::vector<std::string> held, bool then_idle) {
  if (held.empty()) return;
  if (then_idle) tenants_[i].busy = true;
  conn_->eval(
      release_script(), std::move(held), {owner_},
      [self = shared_from_this(), i, then_idle](boost::system::error_code ec, redis::Reply r) {
        asio::post(self->strand_, [self, i, then_idle, ec, r = std::move(r)] {
          Tenant& t = self->tenants_[i];
          if (then_idle) t.busy = false;
          // A marker left behind is harmless: it is ours (a retry
          // claims it again) or it expires.
          self->redis_failed(t, "release marker", ec, r);
        });
      });
}

bool Scheduler::Impl::redis_failed(Tenant& t, std::string_view what, boost::system::error_code ec,
                                   const redis::Reply& r) {
  if (!ec && !r.is_error()) {
    if (t.redis_trouble) {
      t.redis_trouble = false;
      log_.info("reconcile scheduler reaches redis again", fields(t));
    }
    return false;
  }
  if (!t.redis_trouble) {
    t.redis_trouble = true;
    log_.warn("reconcile scheduler: redis step failed; trying again at the next poll",
              fields(t).str("step", what).str("error", ec ? ec.message() : shorten(r.str, 200)));
  }
  return true;
}

}  // namespace isync::reconcile
