// read_status, status_json, status_text: the on-call status document.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <ctime>
#include <memory>
#include <mutex>
#include <sstream>

#include "handlers/handlers.hpp"

namespace isync::handlers {

namespace {

std::tm utc(std::int64_t ms) {
  auto t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return tm;
}

std::string iso(std::int64_t ms) {
  const std::tm tm = utc(ms);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::int64_t age_s(std::int64_t now_ms, std::int64_t since_ms) {
  if (since_ms <= 0) return 0;
  return std::max<std::int64_t>(0, (now_ms - since_ms) / 1000);
}

// 75 → "1m15s"; 7300 → "2h01m"; 200000 → "2d07h".
std::string short_age(std::int64_t s) {
  char buf[80];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else if (s < 86400) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>((s % 3600) / 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldd%02lldh", static_cast<long long>(s / 86400),
                  static_cast<long long>((s % 86400) / 3600));
  }
  return buf;
}

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

// Collects the answers of every tenant's reads; the last one reports.
struct Gather {
  std::mutex mu;
  Status status;
  std::size_t waiting = 0;
  std::string failure;
  std::function<void(Result<Status>)> done;

  void fail(const std::string& why) {
    std::lock_guard lock(mu);
    if (failure.empty()) failure = why;
  }
  void finish_one() {
    {
      std::lock_guard lock(mu);
      if (--waiting > 0) return;
    }
    if (!failure.empty()) return done(make_error("unavailable", "Redis: " + failure));
    done(std::move(status));
  }
};

// Each tenant needs this many answers.
constexpr std::size_t kReadsPerTenant = 5;

void read_tenant(redis::Connection& conn, const std::shared_ptr<Gather>& g, std::size_t i,
                 std::int64_t now_ms) {
  const std::string tenant = g->status.tenants[i].tenant;
  queue::read_stats(conn, tenant, [g, i, now_ms](Result<queue::TenantStats> r) {
    if (!r) {
      g->fail(r.error().message);
    } else {
      std::lock_guard lock(g->mu);
      auto& t = g->status.tenants[i];
      t.queue = *r;
      t.oldest_pending_age_s = age_s(now_ms, r->oldest_pending_ms);
    }
    g->finish_one();
  });
  unsettled_payments(conn, tenant, kStatusPaymentLimit,
                     [g, i](Result<std::vector<PaymentState>> r) {
                       if (!r) {
                         g->fail(r.error().message);
                       } else {
                         std::lock_guard lock(g->mu);
                         g->status.tenants[i].unsettled = std::move(*r);
                       }
                       g->finish_one();
                     });
  conn.command({"ZCARD", queue::key(tenant, "payments:unsettled")},
               [g, i](boost::system::error_code ec, redis::Reply r) {
                 if (ec || r.is_error()) {
                   g->fail(ec ? ec.message() : r.str);
                 } else {
                   std::lock_guard lock(g->mu);
                   g->status.tenants[i].unsettled_count = r.integer;
                 }
                 g->finish_one();
               });
  conn.command({"HMGET", intacct::circuit_key(tenant), "fingerprint", "reason"},
               [g, i](boost::system::error_code ec, redis::Reply r) {
                 if (ec || r.is_error()) {
                   g->fail(ec ? ec.message() : r.str);
                 } else if (r.elements.size() == 2 && !r.elements[0].is_nil()) {
                   std::lock_guard lock(g->mu);
                   g->status.tenants[i].circuit_open = true;
                   g->status.tenants[i].circuit_reason = r.elements[1].str;
                 }
                 g->finish_one();
               });
  conn.command({"GET", intacct::monthly_calls_key(tenant, now_ms)},
               [g, i](boost::system::error_code ec, redis::Reply r) {
                 if (ec || r.is_error()) {
                   g->fail(ec ? ec.message() : r.str);
                 } else if (r.type == redis::Reply::Type::string) {
                   std::lock_guard lock(g->mu);
                   g->status.tenants[i].calls_this_month = std::strtoll(r.str.c_str(), nullptr, 10);
                 }
                 g->finish_one();
               });
}

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void put(Writer& w, const char* name, const std::string& value) {
  w.Key(name);
  w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
}

void put(Writer& w, const char* name, std::int64_t value) {
  w.Key(name);
  w.Int64(value);
}

}  // namespace

void read_status(redis::Connection& conn, std::vector<std::string> tenants, std::int64_t now_ms,
                 std::function<void(Result<Status>)> done) {
  auto g = std::make_shared<Gather>();
  g->done = std::move(done);
  g->status.at_ms = now_ms;
  for (auto& t : tenants) {
    TenantStatus ts;
    ts.tenant = std::move(t);
    g->status.tenants.push_back(std::move(ts));
  }
  if (g->status.tenants.empty()) return g->done(std::move(g->status));
  g->waiting = g->status.tenants.size() * kReadsPerTenant;
  for (std::size_t i = 0; i < g->status.tenants.size(); ++i) read_tenant(conn, g, i, now_ms);
}

std::string status_json(const Status& status) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("tenants");
  w.StartArray();
  for (const auto& t : status.tenants) {
    w.StartObject();
    put(w, "tenant", t.tenant);
    w.Key("queue");
    w.StartObject();
    put(w, "depth", t.queue.depth);
    put(w, "pending", t.queue.pending);
    put(w, "retrying", t.queue.retrying);
    put(w, "parked", t.queue.parked);
    put(w, "dead", t.queue.dead);
    put(w, "oldest_pending_age_s", t.oldest_pending_age_s);
    w.EndObject();
    w.Key("intacct");
    w.StartObject();
    put(w, "circuit", std::string(t.circuit_open ? "open" : "closed"));
    if (t.circuit_open) put(w, "circuit_reason", t.circuit_reason);
    put(w, "calls_this_month", t.calls_this_month);
    put(w, "monthly_call_budget", t.monthly_call_budget);
    w.EndObject();
    w.Key("payments");
    w.StartObject();
    w.Key("unsettled");
    w.StartArray();
    for (const auto& p : t.unsettled) {
      w.StartObject();
      put(w, "payment_id", p.payment_id);
      put(w, "state", p.state);
      put(w, "since", p.since_ms > 0 ? iso(p.since_ms) : std::string());
      put(w, "age_s", age_s(status.at_ms, p.since_ms));
      put(w, "sends", p.sends);
      put(w, "invoice", p.invoice);
      put(w, "customer", p.customer);
      put(w, "amount", p.amount);
      put(w, "currency", p.currency);
      put(w, "recordno", p.recordno);
      put(w, "last_error", p.error);
      w.EndObject();
    }
    w.EndArray();
    put(w, "unsettled_count", t.unsettled_count);
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string status_text(const Status& status) {
  std::ostringstream out;
  out << "status at " << iso(status.at_ms) << "\n";
  if (status.tenants.empty()) out << "no tenants configured\n";
  for (const auto& t : status.tenants) {
    out << "\ntenant " << t.tenant << "\n";
    out << "  queue     depth " << t.queue.depth << "  pending " << t.queue.pending << "  retrying "
        << t.queue.retrying << "  parked " << t.queue.parked << "  dead " << t.queue.dead
        << "  oldest pending "
        << (t.queue.oldest_pending_ms > 0 ? short_age(t.oldest_pending_age_s) : std::string("-"))
        << "\n";
    out << "  intacct   circuit " << (t.circuit_open ? "OPEN" : "closed");
    if (t.circuit_open && !t.circuit_reason.empty()) out << " (" << t.circuit_reason << ")";
    out << "  calls this month " << t.calls_this_month << "\n";
    out << "  payments  " << t.unsettled_count << " unsettled";
    if (t.unsettled_count > static_cast<std::int64_t>(t.unsettled.size())) {
      out << " (the oldest " << t.unsettled.size() << " shown)";
    }
    out << "\n";
    if (t.unsettled.empty()) continue;
    char line[512];
    std::snprintf(line, sizeof line, "    %-8s %-16s %-28s %-10s %-18s %-5s %s\n", "AGE", "STATE",
                  "PAYMENT", "INVOICE", "AMOUNT", "SENDS", "LAST ERROR");
    out << line;
    for (const auto& p : t.unsettled) {
      const std::string amount = p.amount.empty() ? std::string("-") : p.amount + " " + p.currency;
      const std::string error = p.error.empty() ? std::string("-") : shorten(p.error, 120);
      std::snprintf(line, sizeof line, "    %-8s %-16s %-28s %-10s %-18s %-5lld ",
                    short_age(age_s(status.at_ms, p.since_ms)).c_str(), or_dash(p.state).c_str(),
                    p.payment_id.c_str(), or_dash(p.invoice).c_str(), amount.c_str(),
                    static_cast<long long>(p.sends));
      out << line << error << "\n";
    }
  }
  return out.str();
}

}  // namespace isync::handlers
