#include "intacct/detail/transport_state.hpp"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <cerrno>

namespace isync::intacct::detail {

namespace asio = boost::asio;

bool Connection::peer_gone() {
  auto& socket = tcp().socket();
  if (!socket.is_open()) return true;
  char byte = 0;
  auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
  return true;  // 0 = orderly close; > 0 = bytes nobody asked for
}

void Connection::close() {
  boost::system::error_code ignored;
  tcp().socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  tcp().close();
}

TransportState::TransportState(asio::any_io_executor executor, TransportOptions options, Log& log)
    : executor_(std::move(executor)),
      options_(std::move(options)),
      log_(log),
      tls_(asio::ssl::context::tls_client),
      sweep_strand_(make_strand_executor(executor_)),
      sweep_timer_(sweep_strand_) {
  // TLS 1.2 is the oldest version still considered safe, and the one
  // Intacct's gateway requires at least.
  SSL_CTX_set_min_proto_version(tls_.native_handle(), TLS1_2_VERSION);
  tls_.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression);
  boost::system::error_code ec;
  tls_.set_verify_mode(asio::ssl::verify_peer, ec);
  if (options_.ca_file.empty()) {
    tls_.set_default_verify_paths(ec);
    if (ec) tls_setup_error_ = "cannot load the system's trust store: " + ec.message();
  } else {
    tls_.load_verify_file(options_.ca_file, ec);
    if (ec) tls_setup_error_ = "cannot load ca_file: " + ec.message();
  }
}

TransportState::~TransportState() = default;

std::uint64_t TransportState::register_call(std::function<void()> abort) {
  std::lock_guard lock(mu_);
  if (shut_down_) return 0;
  auto id = next_call_id_++;
  calls_.emplace(id, std::move(abort));
  return id;
}

void TransportState::unregister_call(std::uint64_t id) {
  std::lock_guard lock(mu_);
  calls_.erase(id);
}

std::shared_ptr<Connection> TransportState::take_idle(const std::string& key) {
  std::vector<std::shared_ptr<Connection>> dead;
  std::shared_ptr<Connection> found;
  {
    std::lock_guard lock(mu_);
    auto it = idle_.find(key);
    if (it == idle_.end()) return nullptr;
    auto& stack = it->second;
    auto oldest_fit = SteadyClock::now() - options_.idle_timeout;
    while (!stack.empty() && !found) {
      auto c = std::move(stack.back());
      stack.pop_back();
      --idle_count_;
      // peer_gone() only peeks at the socket; no operation is pending on an
      // idle connection, so this thread may look at it.
      if (c->idle_since <= oldest_fit || c->peer_gone()) {
        dead.push_back(std::move(c));
      } else {
        found = std::move(c);
      }
    }
    if (stack.empty()) idle_.erase(it);
  }
  for (auto& c : dead) retire(std::move(c));
  return found;
}

void TransportState::give_back(std::shared_ptr<Connection> connection) {
  std::shared_ptr<Connection> evicted;
  bool arm = false;
  SteadyClock::time_point at;
  {
    std::lock_guard lock(mu_);
    if (shut_down_ || options_.max_idle_per_host == 0) {
      evicted = std::move(connection);
    } else {
      connection->idle_since = SteadyClock::now();
      auto& stack = idle_[connection->pool_key];
      stack.push_back(std::move(connection));
      ++idle_count_;
      if (stack.size() > options_.max_idle_per_host) {
        // The oldest is the likeliest to be closed by the server soon.
        evicted = std::move(stack.front());
        stack.erase(stack.begin());
        --idle_count_;
      }
      if (!sweep_at_) {
        at = SteadyClock::now() + options_.idle_timeout;
        sweep_at_ = at;
        arm = true;
      }
    }
  }
  if (evicted) retire(std::move(evicted));
  if (arm) {
    asio::post(sweep_strand_, [weak = weak_from_this(), at] {
      if (auto self = weak.lock()) self->arm_sweep(at);
    });
  }
}

void TransportState::retire(std::shared_ptr<Connection> connection) {
  auto strand = connection->strand;
  asio::post(strand, [c = std::move(connection)] { c->close(); });
}

std::size_t TransportState::idle() const {
  std::lock_guard lock(mu_);
  return idle_count_;
}

bool TransportState::is_shut_down() const {
  std::lock_guard lock(mu_);
  return shut_down_;
}

void TransportState::arm_sweep(SteadyClock::time_point at) {
  sweep_timer_.expires_at(at);
  sweep_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (ec) return;  // cancelled by shutdown or by the state's destruction
    if (auto self = weak.lock()) self->sweep();
  });
}

void TransportState::sweep() {
  std::vector<std::shared_ptr<Connection>> expired;
  std::optional<SteadyClock::time_point> next;
  bool rearm = false;
  {
    std::lock_guard lock(mu_);
    auto now = SteadyClock::now();
    for (auto it = idle_.begin(); it != idle_.end();) {
      auto& stack = it->second;
      // Oldest first: expired ones form a prefix.
      std::size_t n = 0;
      while (n < stack.size() && stack[n]->idle_since + options_.idle_timeout <= now) ++n;
      for (std::size_t i = 0; i < n; ++i) expired.push_back(std::move(stack[i]));
      stack.erase(stack.begin(), stack.begin() + static_cast<std::ptrdiff_t>(n));
      idle_count_ -= n;
      if (!stack.empty()) {
        auto due = stack.front()->idle_since + options_.idle_timeout;
        if (!next || due < *next) next = due;
      }
      it = stack.empty() ? idle_.erase(it) : std::next(it);
    }
    rearm = next.has_value() && !shut_down_;
    sweep_at_ = rearm ? next : std::nullopt;
  }
  for (auto& c : expired) retire(std::move(c));
  if (rearm) arm_sweep(*next);
}

void TransportState::shutdown() {
  std::map<std::uint64_t, std::function<void()>> calls;
  std::map<std::string, std::vector<std::shared_ptr<Connection>>> idle;
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return;
    shut_down_ = true;
    calls.swap(calls_);
    idle.swap(idle_);
    idle_count_ = 0;
    sweep_at_.reset();
  }
  for (auto& [id, abort] : calls) abort();
  for (auto& [key, stack] : idle) {
    for (auto& c : stack) retire(std::move(c));
  }
  asio::post(sweep_strand_, [self = shared_from_this()] { self->sweep_timer_.cancel(); });
}

}  // namespace isync::intacct::detail
