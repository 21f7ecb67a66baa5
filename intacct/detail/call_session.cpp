// The call's session: the one shared through Redis, or a login under the
// session lock while the other processes poll for its result; the expiry
// moved after each response. Part of CallOp (detail/call_op.hpp).
#include "intacct/detail/call_op.hpp"
#include "intacct/detail/client_scripts.hpp"

namespace isync::intacct::detail {

void CallOp::need_session(std::string stale_id) {
  stale_id_ = std::move(stale_id);
  login_deadline_ = SteadyClock::now() + kLoginWait;
  lock_token_ = make_ulid(hub_->clock().now_ms());
  poll_session();
}

void CallOp::poll_session() {
  hub_->redis().eval(
      session_script(), {session_key(), lock_key(), key("circuit")},
      {std::to_string(hub_->clock().now_ms()), std::to_string(kSessionMarginMs), t_->fingerprint,
       lock_token_, std::to_string(kSessionLockMs), stale_id_, probing_ ? "1" : "0"},
      back(&CallOp::on_session));
}

void CallOp::on_session(boost::system::error_code ec, redis::Reply r) {
  if (ec || !array_of_strings(r, 1)) return redis_failed(ec, r, "reading the Intacct session");
  const std::string& what = r.elements[0].str;
  if (what == "session" && r.elements.size() >= 4) {
    use_session(r.elements[1].str, r.elements[2].str, std::atoll(r.elements[3].str.c_str()));
    return send();
  }
  if (what == "lock") {
    lock_held_ = true;
    return login();
  }
  if (what == "open") {
    hub_->set_circuit(*t_, true);
    CallOutcome out;
    out.circuit_open = true;
    out.error = local_error("circuit open for tenant " + t_->access.tenant +
                            ": Intacct refused its credentials");
    out.error->cls = ErrorClass::permanent;
    out.error->bad_credentials = true;
    return finish(std::move(out), "circuit_open");
  }
  if (SteadyClock::now() >= login_deadline_) {
    CallOutcome out;
    out.error = local_error(
        "timed out waiting for another process to log in to Intacct for "
        "tenant " +
        t_->access.tenant + "; retry later");
    return finish(std::move(out), "transient");
  }
  timer_.expires_after(kLoginPoll);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code e) {
    if (!e) self->poll_session();
  });
}

void CallOp::login() {
  const auto& o = hub_->options();
  Request req;
  req.sender_id = o.sender_id;
  req.sender_password = o.sender_password;
  req.control_id = make_ulid(hub_->clock().now_ms());
  req.auth = Login{t_->access.user_id, t_->access.company_id, t_->access.user_password,
                   t_->access.entity_id};
  // getAPISession goes alone in its request (PROTOCOL.md §2).
  req.functions.push_back(Function{make_ulid(hub_->clock().now_ms()), GetApiSession{}});
  post(std::move(req), o.endpoint, &CallOp::on_login);
}

void CallOp::on_login(Answer a, std::vector<Function> sent, std::int64_t duration_ms) {
  const FunctionResult* result = a.response ? a.response->result(sent.front().control_id) : nullptr;
  if (!a.error && result != nullptr) a.error = result_error(*a.response, *result);
  if (!a.error && (result == nullptr || !result->api_session)) {
    a.error = local_error("getAPISession answered without a session");
  }
  log_request(sent, a, duration_ms);
  account(sent, a, "getAPISession", duration_ms);
  if (a.error) {
    release_lock();
    CallOutcome out;
    out.circuit_open = probing_;  // a failed probe leaves the circuit open
    out.error = std::move(a.error);
    out.response = std::move(a.response);
    return fail(std::move(out));
  }
  const auto now = hub_->clock().now_ms();
  const std::int64_t expires =
      session_expiry_ms(*a.response, now, std::nullopt).value_or(now + kDefaultSessionMs);
  const ApiSession& s = *result->api_session;
  use_session(s.session_id.reveal(), s.endpoint, expires);
  hub_->redis().eval(store_session_script(),
                     {session_key(), lock_key(), key("circuit"), key("circuit-probe")},
                     {session_id_, endpoint_, std::to_string(expires), t_->fingerprint, lock_token_,
                      std::to_string(std::max<std::int64_t>(1, expires - now + kSessionKeepMs)),
                      probing_ ? "1" : "0"},
                     back(&CallOp::on_stored));
}

void CallOp::on_stored(boost::system::error_code ec, redis::Reply r) {
  lock_held_ = false;  // released by the script (or expiring on its own)
  if (ec || r.is_error()) {
    // The session still works for this call; other processes log in themselves.
    LogLine f;
    f.str("tenant", t_->access.tenant).str("redis", ec ? ec.message() : r.str);
    hub_->log().warn("intacct session not shared", f);
  }
  if (probing_) {
    probing_ = false;
    LogLine f;
    f.str("tenant", t_->access.tenant).str("reason", "probe login succeeded");
    hub_->log().info("intacct circuit closed", f);
    hub_->set_circuit(*t_, false);
  }
  send();
}

void CallOp::release_lock() {
  if (!lock_held_) return;
  lock_held_ = false;
  hub_->redis().eval(unlock_script(), {lock_key()}, {lock_token_},
                     [](boost::system::error_code, redis::Reply) {});
}

void CallOp::touch_session(const Response& response) {
  const auto now = hub_->clock().now_ms();
  auto expires = session_expiry_ms(response, now, expires_ms_);
  if (!expires || *expires < expires_ms_ + kTouchStepMs) return;
  expires_ms_ = *expires;
  hub_->redis().eval(touch_session_script(), {session_key()},
                     {session_id_, std::to_string(*expires),
                      std::to_string(std::max<std::int64_t>(1, *expires - now + kSessionKeepMs))},
                     [](boost::system::error_code, redis::Reply) {});
}

}  // namespace isync::intacct::detail
