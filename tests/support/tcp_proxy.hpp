// Test support: a TCP proxy on 127.0.0.1 in front of a real server (a test
// redis-server), on a thread of its own with plain sockets. It relays both
// ways, and once armed cuts the first connection whose client sends a given
// string: either after the server has answered it, without relaying the
// answer (the request ran, its reply is lost), or before forwarding it (the
// client wrote it whole, the server never saw it). New connections are
// relayed as before, so a client that reconnects carries on.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace isync::testing {

class TcpProxy {
 public:
  enum class Cut {
    after_reply,       // forward, wait for the server's first reply bytes, close both sides
    before_forwarding  // close both sides without forwarding
  };

  explicit TcpProxy(std::uint16_t upstream_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  std::uint16_t port() const { return port_; }

  // Arms one cut on the first client bytes containing `needle` (matched
  // across reads). REQUIRES for after_reply: nothing else of that client is
  // awaiting an answer, so the first bytes back answer the matched request.
  void cut(std::string needle, Cut how);
  // Connections cut so far.
  int cuts() const { return cuts_.load(); }

 private:
  struct Pair {
    int client = -1;
    int upstream = -1;
    std::string tail;  // the client's last bytes, for a needle split across reads
    bool cutting = false;
  };

  void run();
  bool from_client(Pair& p);
  bool from_upstream(Pair& p);

  std::uint16_t upstream_port_;
  std::uint16_t port_ = 0;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> cuts_{0};
  std::mutex mu_;  // guards needle_ and how_
  std::string needle_;
  Cut how_ = Cut::after_reply;
  std::vector<Pair> pairs_;  // proxy thread only
  std::thread thread_;
};

}  // namespace isync::testing
