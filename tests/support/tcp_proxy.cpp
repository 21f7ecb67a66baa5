#include "tests/support/tcp_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

namespace isync::testing {

namespace {

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  return addr;
}

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

TcpProxy::TcpProxy(std::uint16_t upstream_port) : upstream_port_(upstream_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("proxy: socket failed");
  // Port 0, held for the proxy's life: no other process can take it.
  sockaddr_in addr = loopback(0);
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("proxy: cannot listen on loopback");
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { run(); });
}

TcpProxy::~TcpProxy() {
  stop_ = true;
  thread_.join();
  for (auto& p : pairs_) {
    ::close(p.client);
    ::close(p.upstream);
  }
  ::close(listen_fd_);
}

void TcpProxy::cut(std::string needle, Cut how) {
  std::lock_guard lock(mu_);
  needle_ = std::move(needle);
  how_ = how;
}

void TcpProxy::run() {
  while (!stop_) {
    std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
    for (const auto& p : pairs_) {
      // A pair being cut no longer reads its client: nothing more is relayed.
      fds.push_back({p.cutting ? -1 : p.client, POLLIN, 0});
      fds.push_back({p.upstream, POLLIN, 0});
    }
    if (::poll(fds.data(), fds.size(), 50) <= 0) continue;
    std::vector<Pair> kept;
    for (std::size_t i = 0; i < pairs_.size(); ++i) {
      Pair& p = pairs_[i];
      bool alive = true;
      if (fds[1 + 2 * i].revents != 0) alive = from_client(p);
      if (alive && fds[2 + 2 * i].revents != 0) alive = from_upstream(p);
      if (alive) {
        kept.push_back(std::move(p));
      } else {
        ::close(p.client);
        ::close(p.upstream);
      }
    }
    pairs_ = std::move(kept);
    if (fds[0].revents != 0) {
      const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      const int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr = loopback(upstream_port_);
      if (upstream < 0 ||
          ::connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(client);
        if (upstream >= 0) ::close(upstream);
        continue;
      }
      pairs_.push_back(Pair{client, upstream, {}, false});
    }
  }
}

bool TcpProxy::from_client(Pair& p) {
  char buf[64 * 1024];
  const ssize_t n = ::recv(p.client, buf, sizeof buf, 0);
  if (n <= 0) return false;
  const std::string data(buf, static_cast<std::size_t>(n));
  {
    std::lock_guard lock(mu_);
    if (!needle_.empty() && (p.tail + data).find(needle_) != std::string::npos) {
      needle_.clear();  // one cut per arming
      if (how_ == Cut::before_forwarding) {
        ++cuts_;
        return false;
      }
      p.cutting = true;
    } else if (!needle_.empty()) {
      const std::string seen = p.tail + data;
      p.tail = seen.substr(seen.size() - std::min(seen.size(), needle_.size() - 1));
    }
  }
  return write_all(p.upstream, data.data(), data.size());
}

bool TcpProxy::from_upstream(Pair& p) {
  char buf[64 * 1024];
  const ssize_t n = ::recv(p.upstream, buf, sizeof buf, 0);
  if (n <= 0) return false;
  if (p.cutting) {
    // The server has answered the matched request: it ran. Drop the answer.
    ++cuts_;
    return false;
  }
  return write_all(p.client, buf, static_cast<std::size_t>(n));
}

}  // namespace isync::testing
