// The sandbox's Server (see server.hpp): its two listeners, which accept
// connections and hand each to a Session, start (posters prepared, ports
// bound, the company's changes wired to the posters) and stop; and the push
// mode's names. The shared state is in server_hub.cpp, the connections in
// server_session.cpp.
#include "sandbox/server.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>

#include "sandbox/detail/server_hub.hpp"
#include "sandbox/detail/server_session.hpp"

namespace isync::sandbox {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::ip::tcp;

namespace detail {

namespace {

std::string_view listener_name(ListenerKind kind) {
  return kind == ListenerKind::gateway ? "gateway" : "control";
}

}  // namespace

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