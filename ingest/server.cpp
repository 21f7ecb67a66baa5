#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include "console/console.hpp"
#include "ingest/detail/server_state.hpp"
#include "ingest/detail/session.hpp"
#include "ingest/ingest.hpp"

namespace isync::ingest {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace detail {

std::string_view listener_name(ListenerKind kind) {
  return kind == ListenerKind::public_listener ? "public" : "admin";
}

ServerState::ServerState(asio::any_io_executor ex, Options options,
                         std::vector<std::shared_ptr<queue::Producer>> producers,
                         std::shared_ptr<handlers::MirrorReader> mirror, Metrics& metrics,
                         Clock& clock, Log& log)
    : ex_(ex),
      options_(std::move(options)),
      console_key_(options_.console_key.empty() ? console::session_key(options_.admin_token)
                                                : options_.console_key),
      producers_(std::move(producers)),
      mirror_(std::move(mirror)),
      metrics_(metrics),
      clock_(clock),
      log_(log),
      admin_throttle_(options_.admin_auth_failures, options_.admin_auth_window),
      strand_(asio::make_strand(ex)),
      drain_timer_(strand_) {}

Result<void> ServerState::prepare() {
  if (producers_.empty()) return make_error("invalid_config", "ingest needs at least one producer");
  for (const auto& t : options_.tenants) {
    if (!valid_tenant_id(t.id)) {
      return make_error("invalid_config",
                        "tenant id \"" + t.id.substr(0, 64) + "\" is not [a-z0-9_-]{1,64}");
    }
    TenantAuth auth{t.token,           t.read_token,        {},          t.stripe_secrets,
                    t.trigger_secrets, t.trigger_client_id, t.company_id};
    for (const auto& c : t.allow_cidrs) {
      auto cidr = Cidr::parse(c);
      if (!cidr) {
        return make_error("invalid_config",
                          "tenant " + t.id + " allow_cidrs: " + cidr.error().message);
      }
      auth.allow.push_back(*cidr);
    }
    if (!tenants_.emplace(t.id, std::move(auth)).second) {
      return make_error("invalid_config", "tenant \"" + t.id + "\" is configured twice");
    }
  }
  for (const auto& c : options_.trusted_proxies) {
    auto cidr = Cidr::parse(c);
    if (!cidr) return make_error("invalid_config", "trusted_proxies: " + cidr.error().message);
    trusted_.push_back(*cidr);
  }
  return {};
}

const TenantAuth* ServerState::tenant(const std::string& id) const {
  auto it = tenants_.find(id);
  return it == tenants_.end() ? nullptr : &it->second;
}

queue::Producer& ServerState::producer() {
  auto i = next_producer_.fetch_add(1, std::memory_order_relaxed);
  return *producers_[i % producers_.size()];
}

void ServerState::probe_writable(std::function<void(bool ok, std::string why)> done) {
  // The probes complete on their connections' strands, possibly at once.
  struct Round {
    std::mutex mu;
    std::size_t left = 0;
    bool ok = true;
    std::string why;
    std::function<void(bool, std::string)> done;
  };
  auto round = std::make_shared<Round>();
  round->left = producers_.size();
  round->done = std::move(done);
  for (auto& p : producers_) {
    p->probe_writable([round](bool ok, std::string why) {
      std::unique_lock lock(round->mu);
      if (!ok && round->ok) {
        round->ok = false;
        round->why = std::move(why);
      }
      if (--round->left > 0) return;
      lock.unlock();
      round->done(round->ok, std::move(round->why));
    });
  }
}

bool ServerState::admit() {
  auto n = connections_.fetch_add(1);
  if (n >= options_.max_connections) {
    connections_.fetch_sub(1);
    return false;
  }
  return true;
}

void ServerState::release() { connections_.fetch_sub(1); }

void ServerState::add_session(Session* s, std::weak_ptr<Session> w) {
  std::lock_guard lock(mu_);
  sessions_.emplace(s, std::move(w));
}

void ServerState::remove_session(Session* s) {
  bool last = false;
  {
    std::lock_guard lock(mu_);
    sessions_.erase(s);
    last = draining_.load() && sessions_.empty() && !drain_done_;
  }
  if (last) {
    asio::post(strand_, [self = shared_from_this()] { self->finish_drain(false); });
  }
}

void ServerState::drain(std::function<void()> drained) {
  std::vector<std::shared_ptr<Session>> live;
  {
    // draining_ and drained_ change together, so a session leaving at this
    // moment either is still listed here or sees the callback in place.
    std::lock_guard lock(mu_);
    draining_.store(true);
    drained_ = std::move(drained);
    for (auto& entry : sessions_) {
      if (auto s = entry.second.lock()) live.push_back(std::move(s));
    }
  }
  asio::post(strand_, [self = shared_from_this()] {
    bool empty = false;
    {
      std::lock_guard lock(self->mu_);
      if (self->drain_done_) return;
      empty = self->sessions_.empty();
    }
    if (empty) return self->finish_drain(false);
    self->drain_timer_.expires_after(self->options_.drain_timeout);
    self->drain_timer_.async_wait([self](boost::system::error_code ec) {
      if (!ec) self->finish_drain(true);
    });
  });
  for (auto& s : live) s->drain();
}

// Runs on strand_.
void ServerState::finish_drain(bool timed_out) {
  std::function<void()> drained;
  std::vector<std::shared_ptr<Session>> left;
  {
    std::lock_guard lock(mu_);
    if (drain_done_) return;
    drain_done_ = true;
    drained = std::move(drained_);
    for (auto& entry : sessions_) {
      if (auto s = entry.second.lock()) left.push_back(std::move(s));
    }
  }
  drain_timer_.cancel();
  if (timed_out) {
    log_.warn("drain timeout: closing connections with requests in flight",
              LogLine().num("connections", static_cast<std::int64_t>(left.size())));
  }
  for (auto& s : left) s->force_close();
  if (drained) asio::post(ex_, std::move(drained));
}

ServerState::RequestMetrics ServerState::request_metrics(ListenerKind listener,
                                                         std::string_view route, unsigned status) {
  std::string l(listener_name(listener));
  std::string r(route);
  RequestMetrics m;
  m.requests = &metrics_.counter(
      "isync_http_requests_total", "HTTP requests answered, by listener, route and status",
      {{"listener", l}, {"route", r}, {"status", std::to_string(status)}});
  m.seconds = &metrics_.histogram("isync_http_request_seconds",
                                  "Seconds from request header read to response written, by route",
                                  {{"listener", l}, {"route", r}});
  return m;
}

// Accepts connections for one listener on its own strand.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(std::shared_ptr<ServerState> state, ListenerKind kind)
      : state_(std::move(state)),
        kind_(kind),
        acceptor_(make_strand_executor(state_->executor())),
        retry_timer_(acceptor_.get_executor()) {}

  Result<std::uint16_t> open(const std::string& address, std::uint16_t port) {
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(address, ec);
    std::string what =
        std::string(listener_name(kind_)) + " listener " + address + ":" + std::to_string(port);
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
        make_strand_executor(state_->executor()),
        [self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
          self->on_accept(ec, std::move(socket));
        });
  }

  void on_accept(boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // Out of descriptors and the like: wait a little instead of spinning.
      state_->log().warn(
          "accept failed",
          LogLine().str("listener", listener_name(kind_)).str("error", ec.message()));
      retry_timer_.expires_after(std::chrono::milliseconds(100));
      retry_timer_.async_wait([self = shared_from_this()](boost::system::error_code e) {
        if (!e) self->do_accept();
      });
      return;
    }
    if (state_->draining() || !state_->admit()) {
      state_->metrics()
          .counter("isync_http_connections_refused_total",
                   "Connections closed at once (over max_connections or draining)",
                   {{"listener", std::string(listener_name(kind_))}})
          .inc();
      boost::system::error_code ignored;
      socket.close(ignored);
    } else {
      std::make_shared<Session>(std::move(socket), state_, kind_)->start();
    }
    do_accept();
  }

  std::shared_ptr<ServerState> state_;
  ListenerKind kind_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
};

}  // namespace detail

struct Server::Impl {
  std::shared_ptr<detail::ServerState> state;
  std::shared_ptr<detail::Listener> public_listener;
  std::shared_ptr<detail::Listener> admin_listener;
  std::uint16_t public_port = 0;
  std::uint16_t admin_port = 0;
  bool started = false;
};

Server::Server(asio::any_io_executor ex, Options options,
               std::vector<std::shared_ptr<queue::Producer>> producers,
               std::shared_ptr<handlers::MirrorReader> mirror, Metrics& metrics, Clock& clock,
               Log& log)
    : impl_(std::make_shared<Impl>()) {
  impl_->state = std::make_shared<detail::ServerState>(ex, std::move(options), std::move(producers),
                                                       std::move(mirror), metrics, clock, log);
}

Server::~Server() {
  if (impl_->public_listener) impl_->public_listener->close();
  if (impl_->admin_listener) impl_->admin_listener->close();
}

Result<void> Server::start() {
  auto& st = impl_->state;
  if (auto r = st->prepare(); !r) return r;
  auto pub = std::make_shared<detail::Listener>(st, detail::ListenerKind::public_listener);
  auto adm = std::make_shared<detail::Listener>(st, detail::ListenerKind::admin_listener);
  const Options& o = st->options();
  auto p = pub->open(o.public_address, o.public_port);
  if (!p) return p.error();
  auto a = adm->open(o.admin_address, o.admin_port);
  if (!a) return a.error();
  impl_->public_port = *p;
  impl_->admin_port = *a;
  impl_->public_listener = pub;
  impl_->admin_listener = adm;
  pub->run();
  adm->run();
  st->log().info("listening", LogLine()
                                  .str("public", o.public_address)
                                  .num("public_port", *p)
                                  .str("admin", o.admin_address)
                                  .num("admin_port", *a));
  return {};
}

std::uint16_t Server::public_port() const { return impl_->public_port; }
std::uint16_t Server::admin_port() const { return impl_->admin_port; }

void Server::stop(std::function<void()> drained) {
  if (impl_->public_listener) impl_->public_listener->close();
  if (impl_->admin_listener) impl_->admin_listener->close();
  impl_->state->drain(std::move(drained));
}

}  // namespace isync::ingest
