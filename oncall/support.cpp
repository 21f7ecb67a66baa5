// The on-call engine's shared parts (detail/support.hpp).
#include "oncall/detail/support.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <random>
#include <unordered_set>

#include "core/json.hpp"
#include "oncall/detail/lua.hpp"
#include "queue/queue.hpp"

namespace isync::oncall::detail {

std::string prefix(const std::string& tenant) { return queue::key(tenant, ""); }

std::string job_key(const std::string& tenant, const std::string& id) {
  return queue::key(tenant, "job:" + id);
}

bool valid_id(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  });
}

bool known(const std::vector<std::string>& tenants, const std::string& tenant) {
  return std::find(tenants.begin(), tenants.end(), tenant) != tenants.end();
}

Result<void> check_filter(const queue::EventFilter& f) {
  if (!f.state.empty() &&
      std::none_of(std::begin(queue::kEventStates), std::end(queue::kEventStates),
                   [&](const char* s) { return f.state == s; })) {
    return make_error("invalid_field",
                      "state: '" + shorten(f.state, 32) +
                          "' is not a state (pending, retrying, parked, dead, done, discarded)");
  }
  if (!f.object.empty() && f.object != "CUSTOMER" && f.object != "ARINVOICE" &&
      f.object != "ARPYMT") {
    return make_error("invalid_field", "object: '" + shorten(f.object, 32) +
                                           "' is not an object (CUSTOMER, ARINVOICE, ARPYMT)");
  }
  if (!f.key.empty() && f.object.empty()) {
    return make_error("invalid_field", "key: a record key needs its object");
  }
  if (f.key.size() > 255 || f.error.size() > 255) {
    return make_error("invalid_field",
                      std::string(f.key.size() > 255 ? "key" : "error") + ": longer than 255");
  }
  if (f.since_ms < 0 || f.until_ms < 0 || (f.until_ms != 0 && f.since_ms > f.until_ms)) {
    return make_error("invalid_field", "since: the time range is empty (since after until)");
  }
  return {};
}

std::string filter_json(const queue::EventFilter& f) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  auto str = [&w](const char* k, const std::string& v) {
    if (v.empty()) return;
    w.Key(k);
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  };
  w.StartObject();
  str("state", f.state);
  str("object", f.object);
  str("key", f.key);
  str("error", f.error);
  if (f.since_ms != 0) {
    w.Key("since_ms");
    w.Int64(f.since_ms);
  }
  if (f.until_ms != 0) {
    w.Key("until_ms");
    w.Int64(f.until_ms);
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

Error refusal(const std::string& id, const std::string& code, const std::string& state,
              Action action) {
  if (code == "not_found") {
    return make_error("not_found", "event " + id +
                                       " not found: only failed events are kept (an event that "
                                       "succeeded on its first delivery has no record here)");
  }
  if (code == "invalid_state") {
    return make_error("invalid_state",
                      "event " + id + " is " + state + ": " +
                          (action == Action::replay
                               ? "replay applies to dead, parked, retrying and discarded events"
                               : "discard applies to dead, parked and retrying events"));
  }
  if (code == "payment_unsettled") {
    return make_error("payment_unsettled",
                      "event " + id + " (" + state +
                          ") belongs to a payment whose ledger entry is unsettled: it may be in "
                          "Intacct. Check Intacct and settle the payment by hand, then discard "
                          "with settled_by_hand (--settled-by-hand)");
  }
  if (code == "payment_in_progress") {
    return make_error("payment_in_progress",
                      "event " + id + " (" + state +
                          "): a worker is handling its payment right now (it holds the "
                          "payment's lease); try again in a minute");
  }
  if (code == "payment_abandoned") {
    return make_error("payment_abandoned",
                      "event " + id + " (" + state +
                          ") belongs to a payment that was discarded as settled by hand "
                          "(abandoned, final): it is not replayed");
  }
  if (code == "payment_may_be_posted") {
    return make_error("payment_may_be_posted",
                      "event " + id + " (" + state +
                          "): its payment may already be in Intacct (a create was sent, or "
                          "another event of it failed or posted), so it is not rebuilt; check "
                          "Intacct and settle it by hand");
  }
  if (code == "already_pending") {
    return make_error("invalid_state", "event " + id + " is pending: already on its way");
  }
  return make_error(code, "event " + id + " (" + state + "): " + code);
}

Error unavailable(const std::string& what, boost::system::error_code ec, const redis::Reply& r) {
  return make_error("unavailable",
                    what + ": Redis failed: " + (ec ? ec.message() : shorten(r.str, 200)));
}

namespace {

std::int64_t to_int(const std::string& s) { return std::strtoll(s.c_str(), nullptr, 10); }

}  // namespace

std::optional<Job> parse_job(const redis::Reply& r) {
  if (r.type != redis::Reply::Type::array || r.elements.size() < 2) return std::nullopt;
  std::map<std::string, std::string> h;
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) {
    h[r.elements[i].str] = r.elements[i + 1].str;
  }
  if (h.count("state") == 0) return std::nullopt;
  Job j;
  j.id = h["id"];
  j.tenant = h["tenant"];
  j.action = h["action"] == "discard" ? Action::discard : Action::replay;
  j.state = h["state"];
  j.reason = h["reason"];
  j.actor = h["actor"];
  j.filter = h["filter"];
  j.settled_by_hand = h["settled_by_hand"] == "1";
  j.matched = to_int(h["matched"]);
  j.processed = to_int(h["processed"]);
  j.acted = to_int(h["acted"]);
  j.skipped = to_int(h["skipped"]);
  j.created_at_ms = to_int(h["created_at"]);
  j.updated_at_ms = to_int(h["updated_at"]);
  j.finished_at_ms = to_int(h["finished_at"]);
  if (auto doc = json::parse(h["skipped_samples"], json::kTrusted); doc && doc->IsArray()) {
    for (const auto& v : doc->GetArray()) {
      if (!v.IsObject()) continue;
      Skipped s;
      auto get = [&v](const char* k) {
        auto it = v.FindMember(k);
        return it != v.MemberEnd() && it->value.IsString()
                   ? std::string(it->value.GetString(), it->value.GetStringLength())
                   : std::string();
      };
      s.id = get("id");
      s.state = get("state");
      s.code = get("code");
      j.skipped_samples.push_back(std::move(s));
    }
  }
  return j;
}

void gather(redis::Connection& conn, std::vector<std::vector<std::string>> commands,
            std::function<void(Result<std::vector<redis::Reply>>)> done) {
  struct State {
    std::mutex mu;
    std::vector<redis::Reply> replies;
    std::size_t left = 0;
    bool failed = false;
    std::function<void(Result<std::vector<redis::Reply>>)> done;
  };
  if (commands.empty()) return done(std::vector<redis::Reply>{});
  auto st = std::make_shared<State>();
  st->replies.resize(commands.size());
  st->left = commands.size();
  st->done = std::move(done);
  for (std::size_t i = 0; i < commands.size(); ++i) {
    conn.command(std::move(commands[i]), [st, i](boost::system::error_code ec, redis::Reply r) {
      std::function<void(Result<std::vector<redis::Reply>>)> call;
      Result<std::vector<redis::Reply>> out = std::vector<redis::Reply>{};
      {
        std::lock_guard lock(st->mu);
        if (st->failed) return;
        if (ec || r.is_error()) {
          st->failed = true;
          out = unavailable("read", ec, r);
          call = std::move(st->done);
        } else {
          st->replies[i] = std::move(r);
          if (--st->left == 0) {
            out = std::move(st->replies);
            call = std::move(st->done);
          }
        }
      }
      if (call) call(std::move(out));
    });
  }
}

void act_on(redis::Connection& conn, const std::string& tenant, std::vector<std::string> ids,
            const ActInputs& in, std::int64_t now_ms,
            std::function<void(Result<std::vector<Verdict>>)> done) {
  struct Run : std::enable_shared_from_this<Run> {
    redis::Connection& conn;
    std::string tenant;
    std::vector<std::string> ids;
    ActInputs in;
    std::int64_t now_ms;
    std::function<void(Result<std::vector<Verdict>>)> done;
    std::vector<Verdict> out;
    Run(redis::Connection& c, std::string t, std::vector<std::string> i, ActInputs a,
        std::int64_t n, std::function<void(Result<std::vector<Verdict>>)> d)
        : conn(c),
          tenant(std::move(t)),
          ids(std::move(i)),
          in(std::move(a)),
          now_ms(n),
          done(std::move(d)) {}
    void next() {
      const std::size_t at = out.size();
      if (at >= ids.size()) return done(std::move(out));
      const std::size_t end = std::min(ids.size(), at + kBatch);
      std::vector<std::string> args = {
          prefix(tenant), action_name(in.action),         std::to_string(now_ms),      in.actor,
          in.reason,      in.settled_by_hand ? "1" : "0", std::to_string(in.lease_ms), in.owner};
      args.insert(args.end(), ids.begin() + static_cast<std::ptrdiff_t>(at),
                  ids.begin() + static_cast<std::ptrdiff_t>(end));
      conn.eval(
          act_script(), {queue::key(tenant, "events")}, std::move(args),
          [self = shared_from_this(), n = end - at](boost::system::error_code ec, redis::Reply r) {
            if (ec || r.is_error() || r.type != redis::Reply::Type::array ||
                r.elements.size() != n) {
              return self->done(unavailable("act on events of tenant " + self->tenant, ec, r));
            }
            for (auto& e : r.elements) {
              Verdict v;
              if (e.elements.size() == 2) {
                v.code = e.elements[0].str;
                v.state = e.elements[1].str;
              }
              self->out.push_back(std::move(v));
            }
            self->next();
          });
    }
  };
  auto run = std::make_shared<Run>(conn, tenant, std::move(ids), in, now_ms, std::move(done));
  run->next();
}

std::string random_owner() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return std::string("oncall-") + buf;
}

void collect(std::shared_ptr<redis::Connection> conn, const std::string& tenant,
             const queue::EventFilter& filter, std::function<void(Result<Matched>)> done) {
  struct Run : std::enable_shared_from_this<Run> {
    std::shared_ptr<redis::Connection> conn;
    std::string tenant;
    queue::EventFilter filter;
    std::function<void(Result<Matched>)> done;
    Matched m;
    std::unordered_set<std::string> seen;
    bool first = true;
    int pages = 0;
    void page(std::string cursor) {
      queue::list_events(
          *conn, {tenant}, filter, queue::kMaxListLimit, std::move(cursor),
          [self = shared_from_this()](Result<queue::EventPage> p) { self->paged(std::move(p)); });
    }
    void paged(Result<queue::EventPage> p) {
      if (!p) return done(p.error());
      if (first) {
        for (std::size_t i = 0; i < p->events.size() && i < 5; ++i) {
          m.first.push_back(p->events[i]);
        }
        first = p->events.empty() && !p->next_cursor.empty();
      }
      for (auto& e : p->events) {
        if (seen.insert(e.id).second) m.ids.push_back(std::move(e.id));
      }
      if (static_cast<std::int64_t>(m.ids.size()) > kMaxJobEvents) {
        return done(make_error("invalid_field",
                               "filter: it matches more than " + std::to_string(kMaxJobEvents) +
                                   " events; narrow it (state, object, error, since/until)"));
      }
      // A page may be short and still have more: bounded by the cap above
      // and by a page count as a last guard.
      if (p->next_cursor.empty() || ++pages > 100000) return done(std::move(m));
      page(std::move(p->next_cursor));
    }
  };
  auto run = std::make_shared<Run>();
  run->conn = std::move(conn);
  run->tenant = tenant;
  run->filter = filter;
  run->done = std::move(done);
  run->page("");
}

}  // namespace isync::oncall::detail
