#include "sandbox/server.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <pugixml.hpp>

#include "sandbox/detail/server_hub.hpp"
#include "sandbox/detail/server_session.hpp"

namespace isync::sandbox {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::ip::tcp;

namespace detail {

namespace {

constexpr std::string_view kGatewayPath = "/ia/xml/xmlgw.phtml";
constexpr std::size_t kMaxLoggedFunctions = 20;
constexpr std::chrono::milliseconds kStopPoll{20};

std::string_view listener_name(ListenerKind kind) {
  return kind == ListenerKind::gateway ? "gateway" : "control";
}

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

// ---- Session ---------------------------------------------------------------

Session::Session(tcp::socket socket, std::shared_ptr<Hub> hub, ListenerKind kind)
    : stream_(std::move(socket)),
      hub_(std::move(hub)),
      kind_(kind),
      delay_timer_(stream_.get_executor()) {}

Session::~Session() { hub_->remove_session(this); }

void Session::start() {
  hub_->add_session(this, weak_from_this());
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
}

void Session::drain() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    if (!self->busy_) self->close();
  });
}

void Session::force_close() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] { self->close(); });
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  delay_timer_.cancel();
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
}

void Session::do_read() {
  busy_ = false;
  if (closed_) return;
  if (hub_->stopping()) return close();
  const auto& o = hub_->options();
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(o.header_limit));
  parser_->body_limit(kind_ == ListenerKind::gateway ? o.gateway_body_limit : o.control_body_limit);
  stream_.expires_after(o.read_timeout);
  http::async_read(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
}

void Session::on_read(beast::error_code ec) {
  started_ = std::chrono::steady_clock::now();
  if (ec) {
    // End of stream, an idle or stalled client, a close by stop(): no answer.
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || closed_ || !parser_->got_some()) {
      return close();
    }
    busy_ = true;
    close_after_ = true;
    log_method_ = "-";
    log_path_ = "-";
    auto limit = kind_ == ListenerKind::gateway ? hub_->options().gateway_body_limit
                                                : hub_->options().control_body_limit;
    if (ec == http::error::body_limit) {
      return respond(error_answer(413, "payload_too_large",
                                  "the body is larger than " + std::to_string(limit) + " bytes"));
    }
    if (ec == http::error::header_limit) {
      return respond(error_answer(431, "header_too_large",
                                  "the request header is larger than " +
                                      std::to_string(hub_->options().header_limit) + " bytes"));
    }
    return respond(error_answer(400, "malformed_request", "the request is not valid HTTP/1.1"));
  }
  busy_ = true;
  const auto& req = parser_->get();
  close_after_ = !req.keep_alive();
  log_method_ = std::string(req.method_string().substr(0, 16));
  log_path_ = shorten(split_target(req.target()).path, 128);
  respond(hub_->handle(kind_, req));
}

void Session::respond(Answer answer) {
  if (hub_->stopping()) close_after_ = true;
  response_ = {};
  response_.version(11);
  response_.result(answer.status);
  response_.set(http::field::server, "intacct-sandbox");
  if (!answer.body.empty() || answer.status != 204) {
    response_.set(http::field::content_type, answer.content_type);
  }
  if (!answer.allow.empty()) response_.set(http::field::allow, answer.allow);
  response_.keep_alive(!close_after_);
  response_.body() = std::move(answer.body);
  response_.prepare_payload();
  log_note_ = std::move(answer.note);
  if (answer.delay.count() <= 0) return do_write();
  // Injected latency: a timer, never a sleep on an io thread.
  delay_timer_.expires_after(answer.delay);
  delay_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->closed_) return self->close();
    self->do_write();
  });
}

void Session::do_write() {
  stream_.expires_after(hub_->options().write_timeout);
  http::async_write(
      stream_, response_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
}

void Session::on_write(beast::error_code ec) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  started_)
                .count();
  LogLine line;
  if (kind_ == ListenerKind::gateway) {
    line.str("functions", log_note_.empty() ? "-" : log_note_);
  } else {
    line.str("method", log_method_).str("path", log_path_);
  }
  line.num("status", response_.result_int()).num("ms", static_cast<std::int64_t>(ms));
  if (ec) line.str("error", ec.message());
  hub_->log().info(kind_ == ListenerKind::gateway ? "gateway request" : "control request", line);
  if (ec || close_after_) return close();
  do_read();
}

// ---- Listener --------------------------------------------------------------

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(std::shared_ptr<Hub> hub, ListenerKind kind)
      : hub_(std::move(hub)),
        kind_(kind),
        acceptor_(make_strand_executor(hub_->executor())),
        retry_timer_(acceptor_.get_executor()) {}

  Result<std::uint16_t> open(const std::string& address, std::uint16_t port) {
    boost::system::error_code ec;
    std::string what =
        std::string(listener_name(kind_)) + " listener " + address + ":" + std::to_string(port);
    auto addr = asio::ip::make_address(address, ec);
    if (ec) return make_error("invalid_config", what + ": not an IP address");
    tcp::endpoint ep(addr, port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return make_error("listen_failed", what + ": " + ec.message());
    auto bound = acceptor_.local_endpoint(ec);
    if (ec) return make_error("listen_failed", what + ": " + ec.message());
    return bound.port();
  }

  void run() {
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] { self->do_accept(); });
  }

  void close() {
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
      boost::system::error_code ec;
      self->acceptor_.close(ec);
      self->retry_timer_.cancel();
    });
  }

 private:
  void do_accept() {
    if (!acceptor_.is_open()) return;
    acceptor_.async_accept(
        make_strand_executor(hub_->executor()),
        [self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
          self->on_accept(ec, std::move(socket));
        });
  }

  void on_accept(boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // Out of descriptors and the like: wait a little instead of spinning.
      hub_->log().warn("accept failed",
                       LogLine().str("listener", listener_name(kind_)).str("error", ec.message()));
      retry_timer_.expires_after(std::chrono::milliseconds(100));
      retry_timer_.async_wait([self = shared_from_this()](boost::system::error_code e) {
        if (!e) self->do_accept();
      });
      return;
    }
    if (hub_->stopping()) {
      boost::system::error_code ignored;
      socket.close(ignored);
    } else {
      std::make_shared<Session>(std::move(socket), hub_, kind_)->start();
    }
    do_accept();
  }

  std::shared_ptr<Hub> hub_;
  ListenerKind kind_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
};

}  // namespace detail

// ---- Server ----------------------------------------------------------------

struct Server::Impl {
  std::shared_ptr<detail::Hub> hub;
  std::shared_ptr<detail::Listener> gateway;
  std::shared_ptr<detail::Listener> control;
  std::uint16_t gateway_port = 0;
  std::uint16_t control_port = 0;
};

Server::Server(asio::any_io_executor ex, Company& company, ServerOptions options, Log& log)
    : impl_(std::make_shared<Impl>()) {
  impl_->hub = std::make_shared<detail::Hub>(ex, company, std::move(options), log);
}

Server::~Server() {
  if (impl_->gateway) impl_->gateway->close();
  if (impl_->control) impl_->control->close();
  impl_->hub->detach();
}

Result<void> Server::start() {
  auto& hub = impl_->hub;
  const auto& o = hub->options();
  if (auto r = hub->poster().prepare(); !r) return r;
  if (auto r = hub->trigger_poster().prepare(); !r) {
    return make_error(r.error().code, "triggers URL: " + r.error().message);
  }
  hub->push().mode.store(o.push);
  hub->push().bare.store(o.triggers.bare);
  auto gw = std::make_shared<detail::Listener>(hub, detail::ListenerKind::gateway);
  auto ctl = std::make_shared<detail::Listener>(hub, detail::ListenerKind::control);
  auto g = gw->open(o.gateway_address, o.gateway_port);
  if (!g) return g.error();
  auto c = ctl->open(o.control_address, o.control_port);
  if (!c) return c.error();
  impl_->gateway_port = *g;
  impl_->control_port = *c;
  impl_->gateway = gw;
  impl_->control = ctl;

  // The listener outlives the Server inside the company: hold the poster
  // weakly so a late change after the Server is gone does nothing.
  std::weak_ptr<detail::Poster> weak = hub->poster_ptr();
  std::weak_ptr<detail::Poster> weak_trigger = hub->trigger_poster_ptr();
  std::shared_ptr<detail::PushSwitch> push = hub->push_ptr();
  Company* company = &hub->company();
  company->on_change([weak, weak_trigger, push, company](const Change& change) {
    const PushMode mode = push->mode.load();
    if (mode != PushMode::smart_events) {
      if (auto trigger = weak_trigger.lock()) trigger->enqueue(change);
    }
    if (mode == PushMode::triggers) return;
    auto poster = weak.lock();
    if (!poster) return;
    if (company->take_event_drop(change)) return poster->count_fault_drop(change);
    poster->enqueue(change);
  });
  hub->start_run_due();
  gw->run();
  ctl->run();
  hub->log().info(
      "listening",
      LogLine()
          .str("gateway", o.gateway_address)
          .num("gateway_port", *g)
          .str("control", o.control_address)
          .num("control_port", *c)
          .str("events", o.events.url.empty() ? std::string("-")
                                              : detail::parse_event_url(o.events.url)->shown)
          .str("triggers", o.triggers.url.empty() ? std::string("-")
                                                  : detail::parse_event_url(o.triggers.url)->shown)
          .str("push", push_mode_name(o.push)));
  return {};
}

std::uint16_t Server::gateway_port() const { return impl_->gateway_port; }
std::uint16_t Server::control_port() const { return impl_->control_port; }

PosterStats Server::poster_stats() const { return impl_->hub->poster().stats(); }
PosterStats Server::trigger_stats() const { return impl_->hub->trigger_poster().stats(); }

std::string_view push_mode_name(PushMode mode) {
  switch (mode) {
    case PushMode::triggers:
      return "triggers";
    case PushMode::both:
      return "both";
    case PushMode::smart_events:
      break;
  }
  return "smart-events";
}

std::optional<PushMode> parse_push_mode(std::string_view text) {
  if (text == "smart-events") return PushMode::smart_events;
  if (text == "triggers") return PushMode::triggers;
  if (text == "both") return PushMode::both;
  return std::nullopt;
}

void Server::stop(std::function<void()> done) {
  if (impl_->gateway) impl_->gateway->close();
  if (impl_->control) impl_->control->close();
  impl_->hub->stop(std::move(done));
}

}  // namespace isync::sandbox
