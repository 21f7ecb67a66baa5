// intacct-sync status: the status document read straight from Redis, with
// each tenant's last reconcile run.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <boost/asio/io_context.hpp>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

#include "app/service.hpp"
#include "app/wiring.hpp"
#include "core/json.hpp"

namespace isync::app {

namespace detail {

namespace {

using Value = rapidjson::Value;

std::int64_t int_of(const Value& o, const char* k) {
  if (!o.IsObject()) return 0;
  auto it = o.FindMember(k);
  return it != o.MemberEnd() && it->value.IsInt64() ? it->value.GetInt64() : 0;
}
std::string str_of(const Value& o, const char* k) {
  if (!o.IsObject()) return {};
  auto it = o.FindMember(k);
  return it != o.MemberEnd() && it->value.IsString() ? it->value.GetString() : std::string();
}

constexpr const char* kObjectDrift[] = {"created", "updated", "tombstoned", "drafts_removed"};
constexpr const char* kPaymentDrift[] = {"adopted", "made_due", "reversed", "conflicts"};

// The last run as status shows it: {"run_id","state","failure"?,"trigger",
// "dry_run","started_at","finished_at"?,"api_calls","drift":{<OBJECT>:
// {created,updated,tombstoned,drafts_removed},"payments":{adopted,made_due,
// reversed,conflicts}}}; null for a report that does not parse.
void summary(const std::string& report, Value& out, rapidjson::Document::AllocatorType& a) {
  auto doc = json::parse(report, json::kTrusted);
  if (!doc || !doc->IsObject()) {
    out.SetNull();
    return;
  }
  out.SetObject();
  auto put_str = [&](const char* k) {
    if (auto v = str_of(*doc, k); !v.empty()) out.AddMember(Value(k, a), Value(v.c_str(), a), a);
  };
  put_str("run_id");
  put_str("state");
  put_str("failure");
  put_str("trigger");
  auto dry = doc->FindMember("dry_run");
  out.AddMember("dry_run", dry != doc->MemberEnd() && dry->value.IsBool() && dry->value.GetBool(),
                a);
  put_str("started_at");
  put_str("finished_at");
  out.AddMember("api_calls", Value(int_of(*doc, "api_calls")), a);
  Value drift(rapidjson::kObjectType);
  if (auto objects = doc->FindMember("objects");
      objects != doc->MemberEnd() && objects->value.IsObject()) {
    for (const auto& m : objects->value.GetObject()) {
      Value counts(rapidjson::kObjectType);
      for (const char* k : kObjectDrift)
        counts.AddMember(Value(k, a), Value(int_of(m.value, k)), a);
      drift.AddMember(Value(m.name.GetString(), a), counts, a);
    }
  }
  if (auto p = doc->FindMember("payments"); p != doc->MemberEnd() && p->value.IsObject()) {
    Value counts(rapidjson::kObjectType);
    for (const char* k : kPaymentDrift)
      counts.AddMember(Value(k, a), Value(int_of(p->value, k)), a);
    drift.AddMember("payments", counts, a);
  }
  out.AddMember("drift", drift, a);
}

std::string text_block(const std::vector<std::string>& tenants,
                       const std::map<std::string, std::string>& last) {
  std::ostringstream out;
  out << "\nreconcile (last run per tenant)\n";
  for (const auto& t : tenants) {
    auto it = last.find(t);
    if (it == last.end()) {
      out << "  " << t << ": no run yet\n";
      continue;
    }
    rapidjson::Document d;
    Value s;
    summary(it->second, s, d.GetAllocator());
    if (!s.IsObject()) {
      out << "  " << t << ": the last report cannot be read\n";
      continue;
    }
    out << "  " << t << ": " << str_of(s, "state");
    if (auto f = str_of(s, "failure"); !f.empty()) out << " (" << f << ")";
    if (s["dry_run"].GetBool()) out << ", dry run";
    out << ", started " << str_of(s, "started_at");
    if (auto f = str_of(s, "finished_at"); !f.empty()) out << ", finished " << f;
    out << ", " << str_of(s, "trigger") << ", " << int_of(s, "api_calls") << " API calls\n";
    for (const auto& m : s["drift"].GetObject()) {
      out << "    " << m.name.GetString() << ":";
      for (const auto& c : m.value.GetObject()) {
        out << " " << c.name.GetString() << " " << c.value.GetInt64();
      }
      out << "\n";
    }
  }
  return out.str();
}

std::string with_reconcile_json(const handlers::Status& status,
                                const std::map<std::string, std::string>& last) {
  const std::string base = handlers::status_json(status);
  auto parsed = json::parse(base, json::kTrusted);
  if (!parsed) return base;
  rapidjson::Document& doc = *parsed;
  auto& a = doc.GetAllocator();
  if (doc.IsObject() && doc.HasMember("tenants") && doc["tenants"].IsArray()) {
    for (auto& t : doc["tenants"].GetArray()) {
      Value s;  // null
      if (auto it = last.find(str_of(t, "tenant")); it != last.end()) summary(it->second, s, a);
      t.AddMember("reconcile", s, a);
    }
  }
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  doc.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace

std::map<std::string, std::int64_t> call_budgets(const config::Config& cfg) {
  std::map<std::string, std::int64_t> out;
  for (const auto& t : cfg.tenants) out[t.id] = t.monthly_call_budget;
  return out;
}

void read_status(redis::Connection& conn, std::vector<std::string> tenants,
                 std::map<std::string, std::int64_t> budgets, std::int64_t now_ms, bool json,
                 std::function<void(Result<std::string>)> done) {
  handlers::read_status(
      conn, tenants, now_ms,
      [&conn, tenants, budgets = std::move(budgets), json,
       done = std::move(done)](Result<handlers::Status> r) mutable {
        if (!r) return done(r.error());
        for (auto& t : r->tenants) {
          if (auto it = budgets.find(t.tenant); it != budgets.end()) {
            t.monthly_call_budget = it->second;
          }
        }
        struct Gather {
          std::mutex mu;
          std::size_t left = 0;
          std::map<std::string, std::string> last;
          handlers::Status status;
          std::vector<std::string> tenants;
          bool json = false;
          std::function<void(Result<std::string>)> done;
        };
        auto g = std::make_shared<Gather>();
        g->left = tenants.size();
        g->status = std::move(*r);
        g->tenants = tenants;
        g->json = json;
        g->done = std::move(done);
        auto finish = [g] {
          std::string out =
              g->json ? with_reconcile_json(g->status, g->last)
                      : handlers::status_text(g->status) + text_block(g->tenants, g->last);
          g->done(Result<std::string>(boost::system::in_place_value, std::move(out)));
        };
        if (tenants.empty()) return finish();
        for (const auto& t : tenants) {
          // A tenant whose runs cannot be read shows "no run yet" rather than
          // failing the whole status: the rest of it was read.
          reconcile::list_runs(conn, t, 1, [g, t, finish](Result<std::vector<std::string>> runs) {
            bool last = false;
            {
              std::lock_guard lock(g->mu);
              if (runs && !runs->empty()) g->last[t] = runs->front();
              last = --g->left == 0;
            }
            if (last) finish();
          });
        }
      });
}

}  // namespace detail

int status(const config::Config& cfg, bool json, std::ostream& out, std::ostream& err) {
  auto endpoint = redis::parse_url(cfg.redis.url.reveal());
  if (!endpoint) {
    err << "intacct-sync: redis.url is not a valid redis:// URL (" << cfg.redis.display_url
        << ")\n";
    return kExitRefused;
  }
  std::vector<std::string> tenants;
  for (const auto& t : cfg.tenants) tenants.push_back(t.id);

  boost::asio::io_context ioc;
  auto options = detail::redis_options(cfg, "isync-status");
  const auto limit = options.connect_timeout + 3 * options.command_timeout;
  auto conn = redis::Connection::create(ioc.get_executor(), *endpoint, options);
  std::optional<Result<std::string>> result;
  bool asked = false;
  conn->on_state_change([&](bool up) {
    if (!up || asked) return;
    asked = true;
    detail::read_status(*conn, tenants, detail::call_budgets(cfg), SystemClock().now_ms(), json,
                        [&](Result<std::string> r) {
                          result = std::move(r);
                          ioc.stop();
                        });
  });
  conn->start();
  ioc.run_for(limit);
  conn->close();
  ioc.restart();
  ioc.poll();

  if (!result) {
    err << "intacct-sync: cannot reach Redis at " << cfg.redis.display_url << " within "
        << limit.count() << " ms; is it running?\n";
    return kExitUnavailable;
  }
  if (!*result) {
    err << "intacct-sync: cannot read the status from Redis at " << cfg.redis.display_url << ": "
        << result->error().message << "\n";
    return kExitUnavailable;
  }
  out << **result << (json ? "\n" : "");
  return kExitOk;
}

}  // namespace isync::app
