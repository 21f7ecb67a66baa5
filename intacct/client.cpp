// ClientHub, Client (call, read) and the scheduling across tenants.
//
// Fairness: each tenant has its own FIFO and its own in-flight cap
// (TenantAccess::concurrency) in this process. Tenants with queued calls sit
// in one ring; pump() takes the tenant at the front, starts one of its calls
// if it is under its cap and puts it at the back, so dispatch alternates
// between tenants. A tenant at its cap leaves the ring until one of its calls
// finishes: its backlog waits behind its own calls only, never in front of
// another tenant's. Background calls (CallOptions::background) queue apart,
// with a cap of their own, and never count against the live cap: one waiting
// minutes for a slot must not keep a live call from starting.
#include <algorithm>
#include <boost/asio/post.hpp>

#include "intacct/detail/client_core.hpp"
#include "intacct/detail/client_scripts.hpp"
#include "intacct/transport.hpp"

namespace isync::intacct {

std::string credentials_fingerprint(const TenantAccess& a, const ClientOptions& o) {
  std::string material = a.tenant + "|" + a.company_id + "|" + a.user_id + "|" +
                         sha256_hex(a.user_password.reveal()) + "|" + o.sender_id;
  return sha256_hex(material).substr(0, 16);
}

namespace detail {

IntacctError local_error(std::string what) {
  IntacctError e;
  e.level = ErrorLevel::transport;
  e.cls = ErrorClass::transient;
  e.errors.push_back(ErrorDetail{{}, std::move(what), {}, {}});
  return e;
}

HubCore::HubCore(boost::asio::any_io_executor ex, std::shared_ptr<redis::Connection> conn,
                 std::shared_ptr<HttpTransport> transport, ClientOptions options, Metrics& metrics,
                 Clock& clock, Log& log)
    : strand_(make_strand_executor(ex)),
      redis_(std::move(conn)),
      transport_(std::move(transport)),
      options_(std::move(options)),
      metrics_(metrics),
      clock_(clock),
      log_(log) {}

std::shared_ptr<TenantState> HubCore::add(TenantAccess access) {
  auto t = std::make_shared<TenantState>();
  access.concurrency = std::max(1, access.concurrency);
  access.monthly_call_budget = std::max<std::int64_t>(1, access.monthly_call_budget);
  t->fingerprint = credentials_fingerprint(access, options_);
  t->entity_key = access.entity_id.empty() ? "-" : access.entity_id;
  const Labels labels{{"tenant", access.tenant}};
  t->circuit_gauge = &metrics_.gauge(
      "isync_intacct_circuit_open", "1 while the tenant's Intacct credentials are refused", labels);
  t->budget_used = &metrics_.gauge("isync_intacct_budget_used",
                                   "Intacct API transactions counted this month", labels);
  t->budget_limit = &metrics_.gauge("isync_intacct_budget_limit",
                                    "Intacct API transactions included per month", labels);
  t->budget_limit->set(static_cast<double>(access.monthly_call_budget));
  t->access = std::move(access);
  std::lock_guard lock(mu_);
  tenants_[t->access.tenant] = t;
  return t;
}

std::shared_ptr<TenantState> HubCore::find(std::string_view tenant) const {
  std::lock_guard lock(mu_);
  auto it = tenants_.find(tenant);
  return it == tenants_.end() ? nullptr : it->second;
}

void HubCore::fail_queued(PendingCall& call, std::string why) {
  CallOutcome out;
  out.error = local_error(std::move(why));
  call.done(std::move(out));
}

void HubCore::enqueue(std::shared_ptr<TenantState> tenant, PendingCall call) {
  boost::asio::post(strand_, [self = shared_from_this(), tenant = std::move(tenant),
                              call = std::move(call)]() mutable {
    if (self->stopped_) {
      fail_queued(call, "the Intacct client is shutting down; the call was not sent");
      return;
    }
    if (call.options.background) {
      tenant->background.push_back(std::move(call));
      self->start_background(tenant);
      return;
    }
    tenant->queue.push_back(std::move(call));
    if (!tenant->ready) {
      tenant->ready = true;
      self->ready_.push_back(tenant);
    }
    self->pump();
  });
}

void HubCore::pump() {
  // Each pass over the ring starts at most one call per tenant.
  while (!ready_.empty()) {
    auto t = std::move(ready_.front());
    ready_.pop_front();
    if (t->queue.empty() || t->in_flight >= t->access.concurrency) {
      t->ready = false;  // back in the ring when a call is queued or finishes
      continue;
    }
    PendingCall call = std::move(t->queue.front());
    t->queue.pop_front();
    ++t->in_flight;
    if (!t->queue.empty()) {
      ready_.push_back(t);
    } else {
      t->ready = false;
    }
    start_call(shared_from_this(), t, std::move(call));
  }
}

// Background calls are started in order up to the tenant's cap; they take no
// part in the ring (they spend their time waiting for a slot, on a timer).
void HubCore::start_background(const std::shared_ptr<TenantState>& t) {
  while (!t->background.empty() && t->background_in_flight < t->access.concurrency) {
    PendingCall call = std::move(t->background.front());
    t->background.pop_front();
    ++t->background_in_flight;
    start_call(shared_from_this(), t, std::move(call));
  }
}

void HubCore::finished(const std::shared_ptr<TenantState>& tenant, const CallOptions& options) {
  if (options.background) {
    --tenant->background_in_flight;
    if (!stopped_) start_background(tenant);
    return;
  }
  --tenant->in_flight;
  if (!tenant->queue.empty() && !tenant->ready) {
    tenant->ready = true;
    ready_.push_back(tenant);
  }
  pump();
}

void HubCore::shutdown() {
  if (stopped_.exchange(true)) return;
  boost::asio::post(strand_, [self = shared_from_this()] {
    for (auto& t : self->ready_) {
      t->ready = false;
      while (!t->queue.empty()) {
        PendingCall call = std::move(t->queue.front());
        t->queue.pop_front();
        fail_queued(call, "the Intacct client is shutting down; the call was not sent");
      }
    }
    self->ready_.clear();
    std::vector<std::shared_ptr<TenantState>> all;
    {
      std::lock_guard lock(self->mu_);
      for (const auto& [name, t] : self->tenants_) all.push_back(t);
    }
    for (auto& t : all) {
      while (!t->background.empty()) {
        PendingCall call = std::move(t->background.front());
        t->background.pop_front();
        fail_queued(call, "the Intacct client is shutting down; the call was not sent");
      }
    }
  });
}

void HubCore::count(const TenantState& t, std::string_view function, std::string_view outcome,
                    std::uint64_t n) {
  metrics_
      .counter("isync_intacct_calls_total", "Intacct gateway functions by tenant and outcome",
               {{"tenant", t.access.tenant},
                {"function", std::string(function)},
                {"outcome", std::string(outcome)}})
      .inc(n);
}

void HubCore::observe(std::string_view function, double seconds) {
  metrics_
      .histogram("isync_intacct_call_seconds", "Intacct gateway request duration",
                 {{"function", std::string(function)}})
      .observe(seconds);
}

void HubCore::set_circuit(TenantState& t, bool open) {
  t.circuit_open = open;
  t.circuit_gauge->set(open ? 1.0 : 0.0);
}

void HubCore::open_circuit(const std::shared_ptr<TenantState>& t, const IntacctError& why,
                           std::function<void()> then) {
  set_circuit(*t, true);
  const std::string reason = shorten(why.summary(), 500);
  const auto now = clock_.now_ms();
  redis_->eval(
      open_circuit_script(),
      {intacct::circuit_key(t->access.tenant), client_key(t->access.tenant, "circuit-probe"),
       client_key(t->access.tenant, "session:" + t->entity_key)},
      {t->fingerprint, std::to_string(now), reason,
       std::to_string(std::max<std::int64_t>(1, options_.circuit_probe_interval.count())),
       make_ulid(now)},
      [self = shared_from_this(), t, reason, then = std::move(then)](boost::system::error_code ec,
                                                                     redis::Reply reply) mutable {
        // Logged before the caller hears of it.
        LogLine f;
        f.str("tenant", t->access.tenant).str("entity", t->entity_key).str("reason", reason);
        if (ec || reply.is_error()) {
          // The circuit lives in this process only until Redis answers again.
          f.str("redis", ec ? ec.message() : reply.str);
          self->log_.error("intacct circuit open", f);
        } else if (reply.type == redis::Reply::Type::integer && reply.integer == 1) {
          self->log_.error("intacct circuit open", f);
        } else {
          self->log_.warn("intacct circuit probe failed", f);
        }
        boost::asio::post(self->strand_, std::move(then));
      });
}

void HubCore::add_budget(const std::shared_ptr<TenantState>& t, std::int64_t transactions) {
  if (transactions <= 0) return;
  const std::int64_t limit = t->access.monthly_call_budget;
  auto warn_at =
      static_cast<std::int64_t>(static_cast<double>(limit) * options_.budget_alert_ratio);
  warn_at = std::clamp<std::int64_t>(warn_at, 1, limit);
  const std::string month = utc_month(clock_.now_ms());
  const std::string counter = intacct::monthly_calls_key(t->access.tenant, clock_.now_ms());
  constexpr std::int64_t kTtlSeconds = 40 * 24 * 3600;  // past the month, for the status page
  redis_->eval(budget_script(), {counter, counter + ":alert:warn", counter + ":alert:limit"},
               {std::to_string(transactions), std::to_string(kTtlSeconds), std::to_string(warn_at),
                std::to_string(limit)},
               [self = shared_from_this(), t, month, limit](boost::system::error_code ec,
                                                            redis::Reply reply) {
                 if (ec || reply.type != redis::Reply::Type::array || reply.elements.size() != 2 ||
                     reply.elements[0].type != redis::Reply::Type::integer) {
                   LogLine f;
                   f.str("tenant", t->access.tenant).str("redis", ec ? ec.message() : reply.str);
                   self->log_.warn("intacct call budget not counted", f);
                   return;
                 }
                 const auto total = reply.elements[0].integer;
                 t->budget_used->set(static_cast<double>(total));
                 const auto level = reply.elements[1].integer;
                 if (level == 0) return;
                 LogLine f;
                 f.str("tenant", t->access.tenant)
                     .str("month", month)
                     .num("calls", total)
                     .num("budget", limit);
                 // Overage is billed by Intacct, not refused: calls go on either way.
                 if (level == 2) {
                   self->log_.error("intacct call budget exceeded", f);
                 } else {
                   self->log_.warn("intacct call budget nearly used", f);
                 }
               });
}

std::string utc_month(std::int64_t epoch_ms) {
  const auto day = civil_from_days(epoch_ms / 86'400'000);
  std::string out = std::to_string(day.year);
  out += day.month < 10 ? "-0" : "-";
  out += std::to_string(day.month);
  return out;
}

std::int64_t api_transactions(const std::vector<Function>& functions, const Response& response) {
  std::int64_t n = 0;
  for (const auto& f : functions) {
    if (std::holds_alternative<GetApiSession>(f.call)) continue;  // not listed as billed
    const FunctionResult* r = response.result(f.control_id);
    if (r == nullptr) continue;
    if (!is_write(f.call)) {
      ++n;
    } else if (r->status == Status::success) {
      if (const auto* d = std::get_if<Delete>(&f.call)) {
        n += static_cast<std::int64_t>(d->keys.size());
      } else {
        ++n;  // one object per create/update function
      }
    }
  }
  return n;
}

}  // namespace detail

std::string circuit_key(std::string_view tenant) { return detail::client_key(tenant, "circuit"); }

std::string monthly_calls_key(std::string_view tenant, std::int64_t now_ms) {
  return detail::client_key(tenant, "calls:" + detail::utc_month(now_ms));
}

Client::Client(std::shared_ptr<detail::HubCore> hub, std::shared_ptr<detail::TenantState> state)
    : hub_(std::move(hub)), state_(std::move(state)) {}

void Client::call(std::vector<Function> functions, bool unique_id,
                  std::function<void(CallOutcome)> done, CallOptions options) {
  hub_->enqueue(state_,
                detail::PendingCall{std::move(functions), unique_id, std::move(done), options});
}

void Client::read(std::string object, std::vector<std::string> recordnos,
                  std::function<void(ReadOutcome)> done, CallOptions options) {
  Function f{make_ulid(hub_->clock().now_ms()), Read{object, std::move(recordnos), {}, {}}};
  std::string control_id = f.control_id;
  std::vector<Function> functions;
  functions.push_back(std::move(f));
  call(
      std::move(functions), false,
      [object = std::move(object), control_id, done = std::move(done)](CallOutcome c) {
        ReadOutcome out;
        out.circuit_open = c.circuit_open;
        out.logins = c.logins;
        out.requests = c.requests;
        if (c.error) {
          out.error = std::move(c.error);
          return done(std::move(out));
        }
        const FunctionResult* r = c.response ? c.response->result(control_id) : nullptr;
        if (r == nullptr) {
          out.error = detail::local_error("the gateway answered without the read's result");
          out.error->cls = ErrorClass::permanent;
          return done(std::move(out));
        }
        if (auto e = result_error(*c.response, *r)) {
          out.error = std::move(e);
          return done(std::move(out));
        }
        if (r->data) {
          for (const Row* row : r->data->rows_of(object)) {
            if (const std::string* no = row->get("RECORDNO")) out.rows.emplace(*no, *row);
          }
        }
        done(std::move(out));
      },
      options);
}

bool Client::circuit_open() const { return state_->circuit_open; }
const std::string& Client::tenant() const { return state_->access.tenant; }
const std::string& Client::entity() const { return state_->access.entity_id; }

ClientHub::ClientHub(boost::asio::any_io_executor ex, std::shared_ptr<redis::Connection> conn,
                     std::shared_ptr<HttpTransport> transport, ClientOptions options,
                     Metrics& metrics, Clock& clock, Log& log)
    : core_(std::make_shared<detail::HubCore>(std::move(ex), std::move(conn), std::move(transport),
                                              std::move(options), metrics, clock, log)) {}

ClientHub::~ClientHub() { shutdown(); }

std::shared_ptr<Client> ClientHub::add_tenant(TenantAccess access) {
  return std::make_shared<Client>(core_, core_->add(std::move(access)));
}

std::shared_ptr<Client> ClientHub::client(std::string_view tenant) const {
  auto t = core_->find(tenant);
  return t ? std::make_shared<Client>(core_, t) : nullptr;
}

void ClientHub::shutdown() { core_->shutdown(); }

}  // namespace isync::intacct
