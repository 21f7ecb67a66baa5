// The Hub: the state the sandbox's listeners and connections share (see
// detail/server_hub.hpp). It routes a request to the XML gateway or the
// control API, runs the company's due work on a timer, and stops in order:
// connections first, then the posters, under one deadline. The connections
// are in server_session.cpp, the listeners and the Server in server.cpp.
#include "sandbox/detail/server_hub.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <pugixml.hpp>

#include "sandbox/detail/server_session.hpp"

namespace isync::sandbox::detail {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

constexpr std::string_view kGatewayPath = "/ia/xml/xmlgw.phtml";
constexpr std::size_t kMaxLoggedFunctions = 20;
constexpr std::chrono::milliseconds kStopPoll{20};

// The function element names of a gateway request ("getAPISession,read"),
// for the log line; element names only, so no credential can leak.
std::string gateway_functions(std::string_view body) {
  pugi::xml_document doc;
  if (!doc.load_buffer(body.data(), body.size(), pugi::parse_minimal)) return "-";
  std::string out;
  std::size_t n = 0;
  for (auto fn : doc.child("request").child("operation").child("content").children("function")) {
    for (auto call : fn.children()) {
      if (call.type() != pugi::node_element) continue;
      if (++n > kMaxLoggedFunctions) return out + ",...";
      if (!out.empty()) out += ',';
      out += call.name();
    }
  }
  return out.empty() ? "-" : out;
}

// The trigger poster's connection settings: the smart events' own, to the
// triggers URL, without the smart events' Bearer token.
EventOptions trigger_event_options(const ServerOptions& o) {
  EventOptions e = o.events;
  e.url = o.triggers.url;
  e.bearer_token = Secret();
  e.snapshot = o.triggers.snapshot;
  return e;
}

Answer text_answer(unsigned status, std::string body) {
  Answer a;
  a.status = status;
  a.content_type = "text/plain";
  a.body = std::move(body);
  return a;
}

}  // namespace

// ---- Hub -------------------------------------------------------------------

Hub::Hub(asio::any_io_executor ex, Company& company, ServerOptions options, Log& log)
    : ex_(ex),
      company_(company),
      options_(std::move(options)),
      log_(log),
      push_(std::make_shared<PushSwitch>()),
      poster_(
          std::make_shared<Poster>(ex, options_.events, smart_event_format(options_.events), log)),
      trigger_poster_(std::make_shared<Poster>(ex, trigger_event_options(options_),
                                               trigger_format(options_.triggers, push_), log)),
      control_{company, [p = poster_] { return p->stats(); }, options_.control_token,
               [p = trigger_poster_] { return p->stats(); }, push_},
      strand_(make_strand_executor(ex)),
      run_due_timer_(strand_),
      stop_timer_(strand_) {}

Answer Hub::handle(ListenerKind kind, const HttpRequest& request) {
  return kind == ListenerKind::gateway ? gateway(request) : handle_control(control_, request);
}

Answer Hub::gateway(const HttpRequest& request) {
  auto target = split_target(request.target());
  if (target.path != kGatewayPath) {
    return text_answer(404, "no such page; the XML gateway is POST " + std::string(kGatewayPath));
  }
  if (request.method() != http::verb::post) {
    auto a = text_answer(405, "the XML gateway takes POST only");
    a.allow = "POST";
    return a;
  }
  Reply reply = company_.handle_gateway(request.body(), request[http::field::content_type]);
  Answer a;
  a.status = static_cast<unsigned>(reply.status);
  a.content_type = std::move(reply.content_type);
  a.body = std::move(reply.body);
  a.delay = reply.delay;
  a.note = gateway_functions(request.body());
  return a;
}

void Hub::add_session(Session* s, std::weak_ptr<Session> w) {
  std::lock_guard lock(mu_);
  sessions_.emplace(s, std::move(w));
}

void Hub::remove_session(Session* s) {
  std::lock_guard lock(mu_);
  sessions_.erase(s);
}

void Hub::start_run_due() {
  asio::dispatch(strand_, [self = shared_from_this()] { self->schedule_run_due(); });
}

// On strand_.
void Hub::schedule_run_due() {
  if (stopping_.load()) return;
  run_due_timer_.expires_after(options_.run_due_interval);
  run_due_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec) return;
    {
      std::lock_guard lock(self->company_mu_);
      if (self->detached_) return;
      self->company_.run_due();
    }
    self->schedule_run_due();
  });
}

void Hub::detach() {
  std::lock_guard lock(company_mu_);
  detached_ = true;
  stopping_.store(true);
}

void Hub::stop(std::function<void()> done) {
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mu_);
    stopping_.store(true);
    done_ = std::move(done);
    for (auto& [ptr, weak] : sessions_) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->drain();
  auto deadline = std::chrono::steady_clock::now() + options_.drain_timeout;
  asio::post(strand_, [self = shared_from_this(), deadline] {
    self->run_due_timer_.cancel();
    self->poll_stop(deadline, false);
  });
}

// On strand_: first the connections finish their answers, then the poster
// sends what they queued; each step bounded by the one deadline.
void Hub::poll_stop(std::chrono::steady_clock::time_point deadline, bool sessions_done) {
  bool late = std::chrono::steady_clock::now() >= deadline;
  if (!sessions_done) {
    std::vector<std::shared_ptr<Session>> left;
    {
      std::lock_guard lock(mu_);
      for (auto& [ptr, weak] : sessions_) {
        if (auto s = weak.lock()) left.push_back(std::move(s));
      }
    }
    if (!left.empty() && !late) {
      stop_timer_.expires_after(kStopPoll);
      stop_timer_.async_wait([self = shared_from_this(), deadline](boost::system::error_code ec) {
        if (!ec) self->poll_stop(deadline, false);
      });
      return;
    }
    if (!left.empty()) {
      log_.warn("stop: closing connections still answering",
                LogLine().num("connections", static_cast<std::int64_t>(left.size())));
      for (auto& s : left) s->force_close();
    }
    // Nothing can change the company through the listeners any more.
    poster_->stop_accepting();
    trigger_poster_->stop_accepting();
  }
  if ((!poster_->idle() || !trigger_poster_->idle()) && !late) {
    stop_timer_.expires_after(kStopPoll);
    stop_timer_.async_wait([self = shared_from_this(), deadline](boost::system::error_code ec) {
      if (!ec) self->poll_stop(deadline, true);
    });
    return;
  }
  if (!poster_->idle()) {
    log_.warn("stop: smart events left unsent", LogLine().num("queued", poster_->stats().queued));
  }
  if (!trigger_poster_->idle()) {
    log_.warn("stop: triggers left unsent (or waiting to be retried)",
              LogLine().num("queued", trigger_poster_->stats().queued));
  }
  finish_stop();
}

void Hub::finish_stop() {
  poster_->close();
  trigger_poster_->close();
  std::function<void()> done;
  {
    std::lock_guard lock(mu_);
    done = std::move(done_);
  }
  if (done) asio::post(ex_, std::move(done));
}

}  // namespace isync::sandbox::detail
