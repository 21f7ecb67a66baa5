// The XML gateway: request parsing, the control and authentication levels
// (the latter in gateway_auth.cpp), faults, transactions and uniqueid replays
// (PROTOCOL.md §1–§2), then the functions (gateway_functions.cpp).
#include "sandbox/detail/gateway.hpp"

#include <algorithm>

namespace isync::sandbox {
namespace detail {
namespace {

constexpr std::size_t kMaxFunctions = 100;  // functions per request (sandbox cap)

struct Control {
  std::string senderid, password, controlid, uniqueid, dtdversion;
};

enum class Mode {
  normal,   // run and answer
  reserve,  // land_later: validate on a scratch copy, reserve RECORDNOs
  land,     // a reserved request lands: run for real, answer nobody
};

std::string control_failure_minimal(const Failure& f) {
  pugi::xml_document doc;
  auto response = start_response(doc);
  add_text(response.append_child("control"), "status", "failure");
  add_errors(response, f);
  return to_text(doc);
}

// XL03000003: the request is not XML or not a gateway request [PROTOCOL.md §5].
std::string parse_failure(const std::string& why) {
  return control_failure_minimal(
      {"XL03000003", "XML Parse error", why, "Check the request against the 3.0 DTD.", "", {}});
}

void write_control(pugi::xml_node response, const char* status, const Control& c) {
  auto control = response.append_child("control");
  add_text(control, "status", status);
  add_text(control, "senderid", c.senderid);
  add_text(control, "controlid", c.controlid);
  add_text(control, "uniqueid", c.uniqueid);
  add_text(control, "dtdversion", c.dtdversion);
}

Failure replay_failure(const std::string& controlid) {
  // Intacct's answer to a replayed controlid is not known (PROTOCOL.md §1,
  // §10 q1). This errorno is the sandbox's own; the write is not run again.
  return {"SANDBOX_DUPLICATE_CONTROLID",
          "Duplicate function controlid",
          "A function with controlid '" + shorten(controlid, 64) +
              "' was already executed; with uniqueid=true it is not run again.",
          "Read the record back to learn the outcome of the first execution.",
          "duplicate",
          {}};
}

Failure rolled_back() {
  return {"XL03000009",
          "",
          "The entire transaction in this operation has been rolled back due to an error.",
          "",
          "",
          {}};
}

struct Request {
  pugi::xml_node operation;
  std::vector<pugi::xml_node> functions;  // the <function> elements
  bool has_write = false;
};

// Runs the functions of an authenticated operation, appending <result>s to
// `out` (nullptr-like node when nobody reads the answer). transaction="true":
// one failure restores the data; the other results become `aborted`.
void execute(CompanyState& s, const Request& req, const Control& c, WriteContext& ctx, Mode mode,
             const std::string& location_id, pugi::xml_node out,
             std::vector<std::string>& done_writes) {
  const bool transaction =
      std::string_view(req.operation.attribute("transaction").as_string()) == "true";
  std::optional<Data> backup;
  if (transaction && req.has_write) backup = ctx.data;
  const auto changes_before = ctx.changes != nullptr ? ctx.changes->size() : 0;
  FunctionRun run{s, ctx, location_id, mode != Mode::land};
  bool any_failed = false;
  std::vector<std::string> writes;
  for (const auto& function : req.functions) {
    const pugi::xml_node fn =
        function.find_child([](pugi::xml_node n) { return n.type() == pugi::node_element; });
    const std::string name = fn.name();
    const std::string cid = function.attribute("controlid").as_string();
    auto result = out.append_child("result");
    auto status = result.append_child("status");
    add_text(result, "function", name);
    add_text(result, "controlid", cid);
    if (mode != Mode::land) ++s.stats.calls_by_function[name];
    const bool write = is_write_function(name);
    std::optional<Failure> bad;
    if (write && mode != Mode::land && c.uniqueid == "true" && !cid.empty() &&
        s.was_executed(cid, ctx.now_ms)) {
      bad = replay_failure(cid);
    } else {
      bad = run_function(run, fn, result);
    }
    if (bad) {
      any_failed = true;
      status.text().set("failure");
      add_errors(result, *bad);
    } else {
      status.text().set("success");
      if (write && !cid.empty()) writes.push_back(cid);
    }
  }
  if (transaction && any_failed) {
    if (backup) ctx.data = std::move(*backup);
    if (ctx.changes != nullptr) ctx.changes->resize(changes_before);
    for (auto result : out.children("result")) {
      auto status = result.child("status");
      if (std::string_view(status.text().get()) == "failure") {
        add_error(result.child("errormessage"), rolled_back());
      } else {
        status.text().set("aborted");
        while (auto data = result.child("data")) result.remove_child(data);
        add_errors(result, rolled_back());
      }
    }
    return;
  }
  done_writes.insert(done_writes.end(), writes.begin(), writes.end());
}

// Parses and checks the request down to its functions; on failure `reply`
// holds the answer (control level) and nothing is returned.
std::optional<Request> parse_request(const pugi::xml_document& doc, Control& c, Reply& reply,
                                     const CompanyState& s) {
  const auto root = doc.child("request");
  const auto control = root.child("control");
  if (!root || !control) {
    reply.body = parse_failure("The document must be <request> with <control> and <operation>.");
    return std::nullopt;
  }
  c = {text_of(control.child("senderid")), text_of(control.child("password")),
       text_of(control.child("controlid")), text_of(control.child("uniqueid")),
       text_of(control.child("dtdversion"))};
  if (c.senderid.empty()) {
    // HTTP 401 + XMLGW_JPP0002, fixtures/http401-xmlgw-jpp0002.xml.
    pugi::xml_document out;
    auto response = start_response(out);
    add_text(response.append_child("control"), "status", "failure");
    auto error = response.append_child("errormessage").append_child("error");
    add_text(error, "errorno", "XMLGW_JPP0002");
    add_text(error, "description", "Sign-in information is incorrect. Please check your request.");
    reply.status = 401;
    reply.body = to_text(out);
    return std::nullopt;
  }
  const auto& creds = s.options.credentials;
  if (!constant_time_equal(c.senderid, creds.sender_id) ||
      !constant_time_equal(c.password, creds.sender_password)) {
    // fixtures/control-failure-invalid-sender-xl03000006.xml: no <operation>.
    pugi::xml_document out;
    auto response = start_response(out);
    write_control(response, "failure", c);
    add_errors(response,
               {"XL03000006", "", "Incorrect Intacct XML Partner ID or password.", "", "", {}});
    reply.body = to_text(out);
    return std::nullopt;
  }
  if (c.dtdversion != "3.0") {
    reply.body =
        parse_failure("dtdversion '" + shorten(c.dtdversion, 16) + "' is not supported; send 3.0.");
    return std::nullopt;
  }
  Request req;
  req.operation = root.child("operation");
  if (!req.operation || !req.operation.child("authentication") || !req.operation.child("content")) {
    reply.body = parse_failure("<operation> needs <authentication> and <content>.");
    return std::nullopt;
  }
  for (auto function : req.operation.child("content").children()) {
    if (function.type() != pugi::node_element) continue;
    const auto fn =
        function.find_child([](pugi::xml_node n) { return n.type() == pugi::node_element; });
    if (std::string_view(function.name()) != "function" || !fn || !is_known_function(fn.name())) {
      const std::string what =
          std::string_view(function.name()) != "function" ? function.name() : fn.name();
      reply.body = parse_failure("Unknown or unsupported function '" + shorten(what, 64) + "'.");
      return std::nullopt;
    }
    if (std::string_view(function.attribute("controlid").as_string()).size() > 256) {
      reply.body = parse_failure("A function controlid is longer than 256 characters.");
      return std::nullopt;
    }
    req.has_write = req.has_write || is_write_function(fn.name());
    req.functions.push_back(function);
  }
  if (req.functions.size() > kMaxFunctions) {
    reply.body = parse_failure("At most 100 functions per request.");
    return std::nullopt;
  }
  return req;
}

Reply plain(int status, std::string body, std::chrono::milliseconds delay) {
  return Reply{status, "text/plain", std::move(body), delay};
}

}  // namespace

// One gateway request, under the lock. Changes to notify are appended to `changes`.
Reply process(CompanyState& s, std::string_view body, std::vector<Change>& changes) {
  const auto now = s.now_ms();
  Reply reply;
  reply.delay = s.faults.latency;
  ++s.stats.requests;
  if (now - s.last_purge_ms >= 1000) {
    // Expired sessions and result sets go at most once a second, so a request
    // does not pay for a scan of every open one.
    s.last_purge_ms = now;
    std::erase_if(s.result_sets, [&](const auto& kv) { return kv.second.expires_ms <= now; });
    std::erase_if(s.sessions, [&](const auto& kv) { return kv.second.expires_ms <= now; });
  }
  if (s.faults.rate_limit > 0) {
    // GW-0010 [PROTOCOL.md §5]: HTTP 429 with an XML body, or a 200 control failure.
    --s.faults.rate_limit;
    s.count_fault("rate_limit");
    reply.status = s.faults.rate_limit_http ? 429 : 200;
    reply.body =
        control_failure_minimal({"GW-0010",
                                 "API rate limit exceeded",
                                 "Too many requests for this company; the request was not run.",
                                 "Please Try Again Later",
                                 "",
                                 {}});
    return reply;
  }
  if (s.take_fault(s.faults.server_error, s.faults.server_error_ratio, "server_error")) {
    return plain(503, "Service Unavailable", reply.delay);
  }
  if (body.size() > kMaxGatewayBody) {
    reply.body = parse_failure("The request is larger than 10 MiB.");
    return reply;
  }
  pugi::xml_document doc;
  const auto parsed =
      doc.load_buffer(body.data(), body.size(), pugi::parse_default, pugi::encoding_utf8);
  if (!parsed) {
    reply.body = parse_failure(std::string(parsed.description()) + " at offset " +
                               std::to_string(parsed.offset));
    return reply;
  }
  Control c;
  const auto req = parse_request(doc, c, reply, s);
  if (!req) return reply;

  pugi::xml_document out;
  auto response = start_response(out);
  write_control(response, "success", c);
  auto operation = response.append_child("operation");
  const auto location = authenticate(s, req->operation.child("authentication"), now, operation);
  if (!location) {
    reply.body = to_text(out);
    return reply;
  }
  std::vector<std::string> done_writes;
  if (req->has_write &&
      s.take_fault(s.faults.land_later, s.faults.land_later_ratio, "land_later")) {
    // Validated now on a copy, RECORDNOs reserved; the real write runs from
    // run_due() once land_delay has passed. Its controlids count as executed
    // already, as Intacct is still working on them.
    Data scratch = s.data;
    std::vector<Change> discarded;
    std::map<std::string, std::vector<std::int64_t>> assigned;
    WriteContext ctx{scratch, s.options, now, &discarded, nullptr, &assigned, nullptr};
    execute(s, *req, c, ctx, Mode::reserve, *location, operation, done_writes);
    CompanyState::Landing landing{now + s.faults.land_delay.count(), std::string(body), {}};
    for (const auto& [object, nos] : assigned) {
      landing.reserved[object].assign(nos.begin(), nos.end());
      auto& next = s.data.next_recordno[object];
      next = std::max(next, scratch.next_recordno[object]);
    }
    s.landings.push_back(std::move(landing));
    for (const auto& cid : done_writes) s.remember_executed(cid, now);
    return plain(524, "A timeout occurred", reply.delay);
  }
  WriteContext ctx{s.data, s.options, now, &changes, nullptr, nullptr, nullptr};
  execute(s, *req, c, ctx, Mode::normal, *location, operation, done_writes);
  for (const auto& cid : done_writes) s.remember_executed(cid, now);
  if (req->has_write && s.take_fault(s.faults.timeout_after_write,
                                     s.faults.timeout_after_write_ratio, "timeout_after_write")) {
    return plain(524, "A timeout occurred", reply.delay);
  }
  reply.body = to_text(out);
  return reply;
}

// A land_later request whose time has come: run its functions for real
// with the RECORDNOs reserved when it arrived. Nobody reads the answer.
void land(CompanyState& s, CompanyState::Landing& landing, std::vector<Change>& changes) {
  pugi::xml_document doc;
  if (!doc.load_buffer(landing.body.data(), landing.body.size())) return;
  Control c;
  Reply ignored;
  const auto req = parse_request(doc, c, ignored, s);
  if (!req) return;
  pugi::xml_document out;
  auto operation = out.append_child("operation");
  std::vector<std::string> done_writes;
  WriteContext ctx{s.data, s.options, s.now_ms(), &changes, &landing.reserved, nullptr, nullptr};
  execute(s, *req, c, ctx, Mode::land, "", operation, done_writes);
}

}  // namespace detail

Reply Company::handle_gateway(std::string_view body, std::string_view /*content_type*/) {
  std::vector<Change> changes;
  std::vector<std::function<void(const Change&)>> listeners;
  Reply reply;
  {
    std::lock_guard lock(state_->mu);
    reply = detail::process(*state_, body, changes);
    if (!changes.empty()) listeners = state_->listeners;
  }
  for (const auto& change : changes) {
    for (const auto& l : listeners) l(change);
  }
  return reply;
}

int Company::run_due() {
  std::vector<Change> changes;
  std::vector<std::function<void(const Change&)>> listeners;
  int landed = 0;
  {
    std::lock_guard lock(state_->mu);
    auto& s = *state_;
    const auto now = s.now_ms();
    std::stable_sort(s.landings.begin(), s.landings.end(),
                     [](const auto& a, const auto& b) { return a.due_ms < b.due_ms; });
    auto it = s.landings.begin();
    for (; it != s.landings.end() && it->due_ms <= now; ++it) {
      detail::land(s, *it, changes);
      ++landed;
    }
    s.landings.erase(s.landings.begin(), it);
    if (!changes.empty()) listeners = s.listeners;
  }
  for (const auto& change : changes) {
    for (const auto& l : listeners) l(change);
  }
  return landed;
}

}  // namespace isync::sandbox
