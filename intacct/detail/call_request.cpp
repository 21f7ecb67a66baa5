// The call's gateway request: building and posting it, reading the reply,
// the retries of the request itself (a resend when nothing reached Intacct,
// one new login for a stale session), accounting and the log line. Part of
// CallOp (detail/call_op.hpp).
#include "intacct/detail/call_op.hpp"
#include "intacct/detail/client_scripts.hpp"

namespace isync::intacct::detail {
namespace {

using std::chrono::milliseconds;

bool is_write_request(const Request& req) {
  for (const auto& f : req.functions) {
    if (is_write(f.call)) return true;
  }
  return false;
}

}  // namespace

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

void CallOp::send() {
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

void CallOp::post(Request req, const std::string& url, Step step) {
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
  ++requests_;
  if (step == &CallOp::on_login) ++logins_;
  hub_->transport().post(
      url, std::move(*xml), hub_->options().call_timeout,
      [self = shared_from_this(), step, context, started, control_id = req.control_id,
       functions = std::move(req.functions)](TransportResult result) mutable {
        Answer a = read_answer(std::move(result), context);
        a.control_id = control_id;
        const auto ms = std::chrono::duration_cast<milliseconds>(SteadyClock::now() - started);
        boost::asio::post(self->hub_->strand(), [self, step, a = std::move(a),
                                                 functions = std::move(functions), ms]() mutable {
          ((*self).*step)(std::move(a), std::move(functions), ms.count());
        });
      });
}

void CallOp::on_reply(Answer a, std::vector<Function> sent, std::int64_t duration_ms) {
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

// ---- accounting -----------------------------------------------------------------

void CallOp::account(const std::vector<Function>& sent, const Answer& a,
                     std::string_view histogram_fn, std::int64_t duration_ms) {
  hub_->observe(histogram_fn, static_cast<double>(duration_ms) / 1000.0);
  for (const auto& f : sent) {
    std::string label;
    if (a.error) {
      label = outcome_label(*a.error);
    } else if (const FunctionResult* r = a.response ? a.response->result(f.control_id) : nullptr) {
      auto e = result_error(*a.response, *r);
      label = e ? std::string(to_string(e->cls)) : std::string("success");
    } else {
      label = "permanent";  // no result for a function that was sent
    }
    hub_->count(*t_, function_name(f.call), label);
  }
}

void CallOp::log_request(const std::vector<Function>& sent, const Answer& a,
                         std::int64_t duration_ms) {
  std::string names, ids;
  for (const auto& f : sent) {
    if (!names.empty()) names += ',';
    if (!ids.empty()) ids += ',';
    names += function_name(f.call);
    ids += f.control_id;
  }
  // The outcome: the request's failure, else the first function's that
  // failed (as the metrics count it), else success.
  std::optional<IntacctError> failed = a.error;
  if (!failed && a.response) {
    for (const auto& r : a.response->results) {
      if (auto e = result_error(*a.response, r)) {
        failed = std::move(e);
        break;
      }
    }
  }
  std::string outcome = "success";
  if (failed) outcome = a.error ? outcome_label(*failed) : std::string(to_string(failed->cls));
  LogLine line;
  line.str("tenant", t_->access.tenant)
      .str("entity", t_->entity_key)
      .str("functions", names)
      .str("control_id", a.control_id)
      .str("control_ids", ids)
      .num("http_status", a.http_status)
      .str("outcome", outcome)
      .num("duration_ms", duration_ms);
  if (call_.options.background) line.str("priority", "background");
  if (failed) {
    if (!failed->errors.empty() && !failed->errors.front().errorno.empty()) {
      line.str("errorno", failed->errors.front().errorno);
    }
    line.str("error", shorten(failed->summary(), 400));
  }
  hub_->log().info("intacct request", line);
}

void CallOp::log_unsent(std::string_view label, const CallOutcome& out) {
  std::string names, ids;
  for (const auto& f : call_.functions) {
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
      .str("outcome", label)
      .num("duration_ms",
           std::chrono::duration_cast<milliseconds>(SteadyClock::now() - started_).count());
  if (call_.options.background) line.str("priority", "background");
  if (out.error) line.str("error", shorten(out.error->summary(), 400));
  hub_->log().info("intacct call not sent", line);
}

}  // namespace isync::intacct::detail
