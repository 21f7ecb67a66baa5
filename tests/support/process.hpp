// Test support for the executables: a child process with its output in
// files, and a blocking HTTP/1.1 client for loopback requests.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/redis_server.hpp"

extern char** environ;

namespace isync::testing {

namespace asio = boost::asio;
namespace http = boost::beast::http;

// A binary run as a child process, with extra environment variables
// (NAME=value); stderr goes to a file (appended), and stdout too when
// `stdout_path` is given (else it is inherited). Killed (SIGKILL) on
// destruction if it is still running.
class Child {
 public:
  Child(const std::string& binary, std::vector<std::string> args,
        const std::vector<std::string>& extra_env, const std::string& log_path,
        const std::string& stdout_path = {})
      : log_path_(log_path) {
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
    for (const auto& e : extra_env) env_strings.push_back(e);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    args.insert(args.begin(), binary);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_path.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (!stdout_path.empty()) {
      posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path.c_str(),
                                       O_WRONLY | O_CREAT | O_TRUNC, 0600);
    }
    int rc = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    REQUIRE(rc == 0);
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  void signal(int sig) { ::kill(pid_, sig); }

  // Exit code, or -signal when killed by a signal; nullopt if still running
  // after `deadline`.
  std::optional<int> wait_exit(std::chrono::milliseconds deadline) {
    std::optional<int> code;
    eventually(
        [&] {
          int status = 0;
          if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
          pid_ = -1;
          code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
          return true;
        },
        deadline);
    return code;
  }

  std::string log() const {
    std::ifstream in(log_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  std::string log_path_;
  pid_t pid_ = -1;
};

// Waits (up to `deadline`) until `port_file` holds "<gateway> <control>", as
// `intacct-sandbox serve --port-file` writes it once both listeners are bound.
inline bool read_sandbox_ports(const std::string& port_file, std::uint16_t& gateway,
                               std::uint16_t& control,
                               std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
  return eventually(
      [&] {
        std::ifstream in(port_file);
        return static_cast<bool>(in >> gateway >> control) && control != 0;
      },
      deadline);
}

struct Response {
  int status = 0;  // 0 = connection error
  std::string body;
};

// A blocking keep-alive HTTP/1.1 client with a receive deadline; reconnects
// after any error.
class HttpClient {
 public:
  explicit HttpClient(std::uint16_t port) : port_(port) {}

  Response request(http::verb method, const std::string& target, const std::string& body = {},
                   const std::string& content_type = {}, const std::string& bearer = {}) {
    try {
      if (!socket_) connect();
      http::request<http::string_body> req{method, target, 11};
      req.set(http::field::host, "127.0.0.1");
      if (!content_type.empty()) req.set(http::field::content_type, content_type);
      if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
      req.body() = body;
      req.prepare_payload();
      http::write(*socket_, req);
      boost::beast::flat_buffer buf;
      http::response<http::string_body> res;
      http::read(*socket_, buf, res);
      if (!res.keep_alive()) socket_.reset();
      return {static_cast<int>(res.result_int()), res.body()};
    } catch (const std::exception&) {
      socket_.reset();
      return {0, {}};
    }
  }

 private:
  void connect() {
    socket_.emplace(ioc_);
    socket_->connect({asio::ip::make_address("127.0.0.1"), port_});
    timeval tv{10, 0};
    ::setsockopt(socket_->native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  std::uint16_t port_;
  asio::io_context ioc_;
  std::optional<asio::ip::tcp::socket> socket_;
};

}  // namespace isync::testing
