// One call through the client: concurrency slot → circuit → session (shared,
// or a login under the session lock) → the gateway request → accounting.
// This part: the op's start, the slot and the circuit, and the end of the
// call. The session is in detail/call_session.cpp, the request in
// detail/call_request.cpp (the op itself: detail/call_op.hpp).
#include "intacct/detail/call_op.hpp"
#include "intacct/detail/client_scripts.hpp"

namespace isync::intacct::detail {

using std::chrono::milliseconds;

CallOp::CallOp(std::shared_ptr<HubCore> hub, std::shared_ptr<TenantState> tenant, PendingCall call)
    : hub_(std::move(hub)),
      t_(std::move(tenant)),
      call_(std::move(call)),
      timer_(hub_->strand()),
      rng_(std::random_device{}()) {
  for (auto& f : call_.functions) {
    if (f.control_id.empty()) f.control_id = make_ulid(hub_->clock().now_ms());
    any_write_ = any_write_ || is_write(f.call);
  }
  first_function_ = call_.functions.empty() ? std::string("none")
                                            : std::string(function_name(call_.functions[0].call));
}

void CallOp::start() {
  const auto& o = hub_->options();
  slot_token_ = make_ulid(hub_->clock().now_ms());
  slot_deadline_ =
      SteadyClock::now() + (call_.options.background ? o.background_slot_wait : o.slot_wait);
  acquire();
}

std::string CallOp::key(std::string_view suffix) const {
  return client_key(t_->access.tenant, suffix);
}
std::string CallOp::session_key() const { return key("session:" + t_->entity_key); }
std::string CallOp::lock_key() const { return key("session-lock:" + t_->entity_key); }

bool CallOp::array_of_strings(const redis::Reply& r, std::size_t min) {
  if (r.type != redis::Reply::Type::array || r.elements.size() < min) return false;
  for (const auto& e : r.elements) {
    if (e.type != redis::Reply::Type::string && e.type != redis::Reply::Type::status) {
      return false;
    }
  }
  return true;
}

void CallOp::redis_failed(boost::system::error_code ec, const redis::Reply& r,
                          std::string_view step) {
  std::string why = "Redis unavailable while " + std::string(step) + " for tenant " +
                    t_->access.tenant + ": " + (ec ? ec.message() : shorten(r.str, 200)) +
                    "; nothing was sent to Intacct, retry later";
  CallOutcome out;
  out.error = local_error(std::move(why));
  finish(std::move(out), "transient");
}

// ---- slot and circuit -------------------------------------------------------

void CallOp::acquire() {
  const auto& o = hub_->options();
  const auto now = hub_->clock().now_ms();
  slot_maybe_held_ = true;
  hub_->redis().eval(
      begin_script(), {key("slots"), key("circuit"), key("circuit-probe"), session_key()},
      {std::to_string(now), std::to_string(t_->access.concurrency),
       std::to_string(std::max<std::int64_t>(1, o.slot_lease.count())), slot_token_,
       t_->fingerprint, std::to_string(std::max<std::int64_t>(1, o.circuit_probe_interval.count())),
       make_ulid(now), call_.options.background ? "1" : "0"},
      back(&CallOp::on_begin));
}

void CallOp::on_begin(boost::system::error_code ec, redis::Reply r) {
  if (ec || !array_of_strings(r, 2)) return redis_failed(ec, r, "taking a concurrency slot");
  const std::string& mode = r.elements[0].str;
  if (mode == "open") {
    slot_maybe_held_ = false;
    hub_->set_circuit(*t_, true);
    CallOutcome out;
    out.circuit_open = true;
    out.error = local_error("circuit open for tenant " + t_->access.tenant +
                            ": Intacct refused its credentials (" + r.elements[1].str +
                            "); fix the credentials in the configuration and restart");
    out.error->cls = ErrorClass::permanent;
    out.error->bad_credentials = true;
    return finish(std::move(out), "circuit_open");
  }
  if (mode == "busy") {
    slot_maybe_held_ = false;
    return slot_busy(r.elements[1].str);
  }
  if (r.elements.size() < 6) return redis_failed(ec, r, "taking a concurrency slot");
  if (mode == "closed") {
    LogLine f;
    f.str("tenant", t_->access.tenant).str("reason", "configured credentials changed");
    hub_->log().info("intacct circuit closed", f);
  }
  hub_->set_circuit(*t_, false);
  probing_ = mode == "probe";
  const std::string& id = r.elements[2].str;
  const std::int64_t expires = std::atoll(r.elements[4].str.c_str());
  if (!probing_ && !id.empty() && r.elements[5].str == t_->fingerprint &&
      expires - kSessionMarginMs > hub_->clock().now_ms()) {
    use_session(id, r.elements[3].str, expires);
    return send();
  }
  need_session({});
}

void CallOp::slot_busy(const std::string& running) {
  const bool background = call_.options.background;
  if (background && hub_->stopped()) {
    CallOutcome out;
    out.error = local_error("the Intacct client is shutting down; the background call for tenant " +
                            t_->access.tenant + " was not sent");
    return finish(std::move(out), "transient");
  }
  const auto now = SteadyClock::now();
  if (now + milliseconds(20) >= slot_deadline_) {
    CallOutcome out;
    std::string why =
        "throttled: " + running + " calls already running for tenant " + t_->access.tenant;
    if (background) {
      const int concurrency = t_->access.concurrency;
      const std::string waited = std::to_string(hub_->options().background_slot_wait.count());
      why += concurrency > 1
                 ? "; a background call leaves the last of " + std::to_string(concurrency) +
                       " slots to live calls and waited " + waited + " ms for another"
                 : "; a background call waited " + waited + " ms for the only slot";
    }
    out.error = local_error(std::move(why));
    return finish(std::move(out), "throttled");
  }
  milliseconds delay;
  if (!background) {
    // Jitter keeps waiters of several processes from retrying in step.
    delay = milliseconds(std::uniform_int_distribution<int>(10, 60)(rng_));
  } else {
    // A background call may wait minutes: it backs off so that its polls
    // cost Redis little, and live calls (polling every 10–60 ms) take a
    // freed slot first.
    slot_backoff_ = std::min(kBackgroundPollMax, slot_backoff_ * 2);
    const auto span = static_cast<int>(slot_backoff_.count());
    delay = milliseconds(std::uniform_int_distribution<int>(span / 2, span)(rng_));
    delay = std::min(delay, std::chrono::duration_cast<milliseconds>(slot_deadline_ - now));
  }
  timer_.expires_after(delay);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code e) {
    if (!e) self->acquire();
  });
}

void CallOp::use_session(std::string id, std::string endpoint, std::int64_t expires) {
  session_id_ = std::move(id);
  endpoint_ = endpoint.empty() ? hub_->options().endpoint : std::move(endpoint);
  expires_ms_ = expires;
}

// ---- the end ------------------------------------------------------------------

// A request-wide failure; rejected credentials open the circuit first.
void CallOp::fail(CallOutcome out, bool counted) {
  std::string label = outcome_label(*out.error);
  if (!out.error->bad_credentials) return finish(std::move(out), label, counted);
  out.circuit_open = true;
  const IntacctError why = *out.error;
  hub_->open_circuit(t_, why,
                     [self = shared_from_this(), out = std::move(out), label, counted]() mutable {
                       self->finish(std::move(out), label, counted);
                     });
}

void CallOp::finish(CallOutcome out, std::string_view label, bool counted) {
  if (finished_) return;
  finished_ = true;
  out.logins = logins_;
  out.requests = requests_;
  timer_.cancel();
  release_lock();
  if (slot_maybe_held_) {
    slot_maybe_held_ = false;
    hub_->redis().command({"ZREM", key("slots"), slot_token_},
                          [](boost::system::error_code, redis::Reply) {});
  }
  if (!counted) {
    for (const auto& f : call_.functions) hub_->count(*t_, function_name(f.call), label);
  }
  // Every request sent has its own line (log_request); a call that sent
  // none gets this one, so each call leaves at least one line.
  if (requests_ == 0) log_unsent(label, out);
  if (call_.done) call_.done(std::move(out));
  hub_->finished(t_, call_.options);
}

void start_call(std::shared_ptr<HubCore> hub, std::shared_ptr<TenantState> tenant,
                PendingCall call) {
  std::make_shared<CallOp>(std::move(hub), std::move(tenant), std::move(call))->start();
}

}  // namespace isync::intacct::detail
