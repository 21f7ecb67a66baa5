#include "bench/common/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace isync::bench {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::uint16_t free_port() {
  asio::io_context ioc;
  tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
  auto until = Clock::now() + limit;
  while (Clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

bool probe(std::uint16_t port, const std::string& raw, std::string_view expect) {
  try {
    asio::io_context ioc;
    tcp::socket s(ioc);
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    asio::write(s, asio::buffer(raw));
    std::array<char, 8192> buf{};
    auto n = s.read_some(asio::buffer(buf));
    return std::string_view(buf.data(), n).find(expect) != std::string_view::npos;
  } catch (const std::exception&) {
    return false;
  }
}

namespace {

// posix_spawnp with stdout to `out_fd_path` (or a pipe when empty: `pipe_fd`
// gets its read end) and stderr to `err_path` ("" = inherited).
pid_t spawn(std::vector<std::string> args, const std::vector<std::string>& extra_env,
            const std::string& out_path, const std::string& err_path, int* pipe_fd) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp, argv;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  int fds[2] = {-1, -1};
  if (pipe_fd) {
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
  } else {
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
  }
  if (!err_path.empty()) {
    if (err_path == out_path) {
      posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    } else {
      posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err_path.c_str(),
                                       O_WRONLY | O_CREAT | O_TRUNC, 0600);
    }
  }
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (pipe_fd) {
    ::close(fds[1]);
    if (rc != 0) ::close(fds[0]);
    *pipe_fd = fds[0];
  }
  if (rc != 0) throw std::runtime_error("cannot start " + args[0]);
  return pid;
}

}  // namespace

Child::Child(std::vector<std::string> args, const std::string& log_path,
             const std::vector<std::string>& extra_env) {
  pid_ = spawn(std::move(args), extra_env, log_path, log_path, nullptr);
}

Child::~Child() { stop(); }

void Child::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 300; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(100ms);
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

bool Child::running() { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }

RunResult run(const std::vector<std::string>& args, std::chrono::seconds limit) {
  RunResult r;
  int fd = -1;
  pid_t pid = spawn(args, {}, "", "", &fd);
  auto until = Clock::now() + limit;
  std::array<char, 65536> buf{};
  ::fcntl(fd, F_SETFL, O_NONBLOCK);
  int status = 0;
  bool exited = false;
  while (true) {
    auto n = ::read(fd, buf.data(), buf.size());
    if (n > 0) {
      r.out.append(buf.data(), static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) break;  // the child closed its stdout
    if (Clock::now() > until) {
      ::kill(pid, SIGKILL);
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  ::close(fd);
  while (!exited) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
    } else if (Clock::now() > until) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      exited = true;
    } else {
      std::this_thread::sleep_for(5ms);
    }
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

namespace {

// kB of a /proc/<pid>/status line ("VmHWM:", "VmRSS:").
std::uint64_t status_kib(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::stoull(line.substr(key.size()));
  }
  return 0;
}

}  // namespace

std::uint64_t peak_rss_kib(pid_t pid) { return status_kib(pid, "VmHWM:"); }

std::uint64_t rss_kib(pid_t pid) { return status_kib(pid, "VmRSS:"); }

void reset_peak_rss(pid_t pid) {
  std::ofstream out("/proc/" + std::to_string(pid) + "/clear_refs");
  out << "5";
}

double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(f);  // utime, stime
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string shell_line(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& a : args) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty() && a.find_first_not_of(
                                   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX"
                                   "YZ0123456789_-./:=,+@%") == std::string::npos;
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) {
      if (c == '\'')
        out += "'\\''";
      else
        out += c;
    }
    out += '\'';
  }
  return out;
}

}  // namespace isync::bench
