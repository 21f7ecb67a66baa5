// One call through the client: concurrency slot → circuit → session (shared,
// or a login under the session lock) → the gateway request → accounting.
// Every step runs on the hub's strand; Redis and transport completions are
// posted back to it. Each wait is bounded: the slot by slot_wait, the login
// of another process by kLoginWait, requests by call_timeout.
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <random>

#include "intacct/detail/client_core.hpp"
#include "intacct/detail/client_scripts.hpp"
#include "intacct/transport.hpp"

namespace isync::intacct::detail {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

// A stored session is used only with this much life left: a request started
// just before expiry must not arrive after it.
constexpr std::int64_t kSessionMarginMs = 60'000;
// The session lock outlives one login request; the waiters give up a little
// after it would have expired.
constexpr std::int64_t kSessionLockMs = 30'000;
constexpr milliseconds kLoginWait{35'000};
constexpr milliseconds kLoginPoll{50};
// Session hashes outlive their expiry a little (the status page shows them).
constexpr std::int64_t kSessionKeepMs = 10 * 60'000;
// When Intacct sends no session stamps, assume a short life (PROTOCOL.md §2
// has seen 2h10m at the least).
constexpr std::int64_t kDefaultSessionMs = 30 * 60'000;
// The expiry in Redis is moved only when it gains at least this much, so a
// busy tenant does not write its session hash after every call.
constexpr std::int64_t kTouchStepMs = 30'000;

// A reply as the call sees it: parsed off the strand, applied on it.
struct Answer {
  std::optional<Response> response;
  std::optional<IntacctError> error;
  int http_status = 0;
  bool retry_unsent = false;  // nothing reached Intacct, or a read was reset
};

Answer read_answer(TransportResult result, CallContext context) {
  Answer a;
  if (!result) {
    const TransportError& te = result.error();
    a.error = transport_error(te.failure, context);
    a.error->errors.front().description2 = shorten(te.message, 300);
    a.retry_unsent = !te.sent || (te.failure == TransportFailure::reset && !context.write);
    return a;
  }
  HttpReply& reply = *result;
  a.http_status = reply.status;
  auto parsed = parse_response(reply.status, reply.content_type, reply.body);
  if (!parsed) {
    IntacctError e = local_error("unreadable gateway reply: " + parsed.error().message);
    e.http_status = reply.status;
    e.cls = context.write ? ErrorClass::ambiguous : ErrorClass::transient;
    a.error = std::move(e);
    return a;
  }
  a.error = response_error(*parsed, context);
  a.response = std::move(*parsed);
  return a;
}

std::string outcome_label(const IntacctError& e) {
  return e.invalid_session ? "invalid_session" : std::string(to_string(e.cls));
}

class CallOp : public std::enable_shared_from_this<CallOp> {
 public:
  CallOp(std::shared_ptr<HubCore> hub, std::shared_ptr<TenantState> tenant, PendingCall call)
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

  void start() {
    slot_token_ = make_ulid(hub_->clock().now_ms());
    slot_deadline_ = SteadyClock::now() + hub_->options().slot_wait;
    acquire();
  }

 private:
  std::string key(std::string_view suffix) const { return client_key(t_->access.tenant, suffix); }
  std::string session_key() const { return key("session:" + t_->entity_key); }
  std::string lock_key() const { return key("session-lock:" + t_->entity_key); }

  // A Redis completion, posted back to the strand.
  template <class Method>
  redis::Handler back(Method m) {
    return [self = shared_from_this(), m](boost::system::error_code ec, redis::Reply r) mutable {
      boost::asio::post(self->hub_->strand(), [self, m, ec, r = std::move(r)]() mutable {
        ((*self).*m)(ec, std::move(r));
      });
    };
  }

  static bool array_of_strings(const redis::Reply& r, std::size_t min) {
    if (r.type != redis::Reply::Type::array || r.elements.size() < min) return false;
    for (const auto& e : r.elements) {
      if (e.type != redis::Reply::Type::string && e.type != redis::Reply::Type::status) {
        return false;
      }
    }
    return true;
  }

  void redis_failed(boost::system::error_code ec, const redis::Reply& r, std::string_view step) {
    std::string why = "Redis unavailable while " + std::string(step) + " for tenant " +
                      t_->access.tenant + ": " + (ec ? ec.message() : shorten(r.str, 200)) +
                      "; nothing was sent to Intacct, retry later";
    CallOutcome out;
    out.error = local_error(std::move(why));
    finish(std::move(out), "transient");
  }

  // ---- slot and circuit -------------------------------------------------------

  void acquire() {
    const auto& o = hub_->options();
    const auto now = hub_->clock().now_ms();
    slot_maybe_held_ = true;
    hub_->redis().eval(begin_script(),
                       {key("slots"), key("circuit"), key("circuit-probe"), session_key()},
                       {std::to_string(now), std::to_string(t_->access.concurrency),
                        std::to_string(std::max<std::int64_t>(1, o.slot_lease.count())),
                        slot_token_, t_->fingerprint,
                        std::to_string(std::max<std::int64_t>(1, o.circuit_probe_interval.count())),
                        make_ulid(now)},
                       back(&CallOp::on_begin));
  }

  void on_begin(boost::system::error_code ec, redis::Reply r) {
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
      if (SteadyClock::now() + milliseconds(20) >= slot_deadline_) {
        CallOutcome out;
        out.error = local_error("throttled: " + r.elements[1].str +
                                " calls already running for tenant " + t_->access.tenant);
        return finish(std::move(out), "throttled");
      }
      // Jitter keeps waiters of several processes from retrying in step.
      timer_.expires_after(milliseconds(std::uniform_int_distribution<int>(10, 60)(rng_)));
      timer_.async_wait([self = shared_from_this()](boost::system::error_code e) {
        if (!e) self->acquire();
      });
      return;
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

  void use_session(std::string id, std::string endpoint, std::int64_t expires) {
    session_id_ = std::move(id);
    endpoint_ = endpoint.empty() ? hub_->options().endpoint : std::move(endpoint);
    expires_ms_ = expires;
  }

  // ---- session ------------------------------------------------------------------

  void need_session(std::string stale_id) {
    stale_id_ = std::move(stale_id);
    login_deadline_ = SteadyClock::now() + kLoginWait;
    lock_token_ = make_ulid(hub_->clock().now_ms());
    poll_session();
  }

  void poll_session() {
    hub_->redis().eval(
        session_script(), {session_key(), lock_key(), key("circuit")},
        {std::to_string(hub_->clock().now_ms()), std::to_string(kSessionMarginMs), t_->fingerprint,
         lock_token_, std::to_string(kSessionLockMs), stale_id_, probing_ ? "1" : "0"},
        back(&CallOp::on_session));
  }

  void on_session(boost::system::error_code ec, redis::Reply r) {
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

  void login() {
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

  void on_login(Answer a, std::vector<Function> sent, std::int64_t duration_ms) {
    const FunctionResult* result =
        a.response ? a.response->result(sent.front().control_id) : nullptr;
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
    hub_->redis().eval(
        store_session_script(), {session_key(), lock_key(), key("circuit"), key("circuit-probe")},
        {session_id_, endpoint_, std::to_string(expires), t_->fingerprint, lock_token_,
         std::to_string(std::max<std::int64_t>(1, expires - now + kSessionKeepMs)),
         probing_ ? "1" : "0"},
        back(&CallOp::on_stored));
  }

  void on_stored(boost::system::error_code ec, redis::Reply r) {
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

  void release_lock() {
    if (!lock_held_) return;
    lock_held_ = false;
    hub_->redis().eval(unlock_script(), {lock_key()}, {lock_token_},
                       [](boost::system::error_code, redis::Reply) {});
  }

  // ---- the call -----------------------------------------------------------------

  void send() {
    const auto& o = hub_->options();
    Request req;
    req.sender_id = o.sender_id;
    req.sender_password = o.sender_password;
    req.control_id = make_ulid(hub_->clock().now_ms());
    req.unique_id = call_.unique_id;
    req.auth = SessionId{Secret(session_id_)};
    req.functions = call_.functions;
    post(std::move(req), endpoint_, &CallOp::on_reply);
  }

  using Step = void (CallOp::*)(Answer, std::vector<Function>, std::int64_t);

  void post(Request req, const std::string& url, Step step) {
    auto xml = to_xml(req);
    if (!xml) {
      CallOutcome out;
      out.error = local_error(xml.error().message);
      out.error->cls = ErrorClass::permanent;
      out.error->level = ErrorLevel::control;
      return finish(std::move(out), "permanent");
    }
    // A write is treated as one that may not run twice even with uniqueid:
    // what Intacct answers to a replayed controlid is unconfirmed
    // (PROTOCOL.md §10.1), so a write cut off after sending is ambiguous.
    CallContext context{is_write_request(req), false};
    context.sent = true;
    const auto started = SteadyClock::now();
    hub_->transport().post(
        url, std::move(*xml), hub_->options().call_timeout,
        [self = shared_from_this(), step, context, started,
         functions = std::move(req.functions)](TransportResult result) mutable {
          Answer a = read_answer(std::move(result), context);
          const auto ms = std::chrono::duration_cast<milliseconds>(SteadyClock::now() - started);
          boost::asio::post(self->hub_->strand(), [self, step, a = std::move(a),
                                                   functions = std::move(functions), ms]() mutable {
            ((*self).*step)(std::move(a), std::move(functions), ms.count());
          });
        });
  }

  static bool is_write_request(const Request& req) {
    for (const auto& f : req.functions) {
      if (is_write(f.call)) return true;
    }
    return false;
  }

  void on_reply(Answer a, std::vector<Function> sent, std::int64_t duration_ms) {
    log_request(sent, a, duration_ms);
    account(sent, a, first_function_, duration_ms);
    if (a.error && a.retry_unsent && !resent_) {
      resent_ = true;
      return send();
    }
    if (a.error && a.error->invalid_session && !relogged_) {
      relogged_ = true;
      hub_->redis().eval(drop_session_script(), {session_key()}, {session_id_},
                         [](boost::system::error_code, redis::Reply) {});
      return need_session(session_id_);
    }
    CallOutcome out;
    if (a.error) {
      out.response = std::move(a.response);
      out.error = std::move(a.error);
      return fail(std::move(out), /*counted=*/true);
    }
    if (a.response) {
      touch_session(*a.response);
      hub_->add_budget(t_, api_transactions(sent, *a.response));
    }
    std::string label = a.error ? outcome_label(*a.error) : std::string("success");
    out.response = std::move(a.response);
    out.error = std::move(a.error);
    finish(std::move(out), label, /*counted=*/true);
  }

  // A request-wide failure; rejected credentials open the circuit first.
  void fail(CallOutcome out, bool counted = false) {
    std::string label = outcome_label(*out.error);
    if (!out.error->bad_credentials) return finish(std::move(out), label, counted);
    out.circuit_open = true;
    const IntacctError why = *out.error;
    hub_->open_circuit(t_, why,
                       [self = shared_from_this(), out = std::move(out), label, counted]() mutable {
                         self->finish(std::move(out), label, counted);
                       });
  }

  void touch_session(const Response& response) {
    const auto now = hub_->clock().now_ms();
    auto expires = session_expiry_ms(response, now, expires_ms_);
    if (!expires || *expires < expires_ms_ + kTouchStepMs) return;
    expires_ms_ = *expires;
    hub_->redis().eval(touch_session_script(), {session_key()},
                       {session_id_, std::to_string(*expires),
                        std::to_string(std::max<std::int64_t>(1, *expires - now + kSessionKeepMs))},
                       [](boost::system::error_code, redis::Reply) {});
  }

  // ---- accounting -----------------------------------------------------------------

  // Per function: its own result when the request ran, else the request's.
  void account(const std::vector<Function>& sent, const Answer& a, std::string_view histogram_fn,
               std::int64_t duration_ms) {
    hub_->observe(histogram_fn, static_cast<double>(duration_ms) / 1000.0);
    for (const auto& f : sent) {
      std::string label;
      if (a.error) {
        label = outcome_label(*a.error);
      } else if (const FunctionResult* r =
                     a.response ? a.response->result(f.control_id) : nullptr) {
        auto e = result_error(*a.response, *r);
        label = e ? std::string(to_string(e->cls)) : std::string("success");
      } else {
        label = "permanent";  // no result for a function that was sent
      }
      hub_->count(*t_, function_name(f.call), label);
    }
  }

  void log_request(const std::vector<Function>& sent, const Answer& a, std::int64_t duration_ms) {
    std::string names, ids;
    for (const auto& f : sent) {
      if (!names.empty()) names += ',';
      if (!ids.empty()) ids += ',';
      names += function_name(f.call);
      ids += f.control_id;
    }
    LogLine line;
    line.str("tenant", t_->access.tenant)
        .str("entity", t_->entity_key)
        .str("functions", names)
        .str("control_ids", ids)
        .num("http_status", a.http_status)
        .str("outcome", a.error ? outcome_label(*a.error) : std::string("success"))
        .num("duration_ms", duration_ms);
    const std::vector<ErrorDetail>* errors = a.error ? &a.error->errors : nullptr;
    if (!errors && a.response) {
      for (const auto& r : a.response->results) {
        if (!r.errors.empty()) {
          errors = &r.errors;
          break;
        }
      }
    }
    if (errors && !errors->empty() && !errors->front().errorno.empty()) {
      line.str("errorno", errors->front().errorno);
    }
    if (a.error) line.str("error", shorten(a.error->summary(), 400));
    hub_->log().info("intacct request", line);
  }

  void finish(CallOutcome out, std::string_view label, bool counted = false) {
    if (finished_) return;
    finished_ = true;
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
    if (call_.done) call_.done(std::move(out));
    hub_->finished(t_);
  }

  std::shared_ptr<HubCore> hub_;
  std::shared_ptr<TenantState> t_;
  PendingCall call_;
  boost::asio::steady_timer timer_;
  std::minstd_rand rng_;
  bool any_write_ = false;
  std::string first_function_;
  std::string slot_token_;
  bool slot_maybe_held_ = false;
  SteadyClock::time_point slot_deadline_;
  bool probing_ = false;
  std::string session_id_, endpoint_;  // session_id_ is a secret: never logged
  std::int64_t expires_ms_ = 0;
  std::string stale_id_, lock_token_;
  bool lock_held_ = false;
  SteadyClock::time_point login_deadline_;
  bool resent_ = false, relogged_ = false, finished_ = false;
};

}  // namespace

void start_call(std::shared_ptr<HubCore> hub, std::shared_ptr<TenantState> tenant,
                PendingCall call) {
  std::make_shared<CallOp>(std::move(hub), std::move(tenant), std::move(call))->start();
}

}  // namespace isync::intacct::detail

namespace isync::intacct {

void Client::read(std::string object, std::vector<std::string> recordnos,
                  std::function<void(ReadOutcome)> done) {
  Function f{make_ulid(hub_->clock().now_ms()), Read{object, std::move(recordnos), {}, {}}};
  std::string control_id = f.control_id;
  std::vector<Function> functions;
  functions.push_back(std::move(f));
  call(std::move(functions), false,
       [object = std::move(object), control_id, done = std::move(done)](CallOutcome c) {
         ReadOutcome out;
         out.circuit_open = c.circuit_open;
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
       });
}

}  // namespace isync::intacct
