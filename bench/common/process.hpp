// Shared by the benchmarks (bench/*): child processes, ports, readiness
// probes and a process's RSS and CPU time. Synchronous: a benchmark's driver thread
// calls these between measurements, never while its load is running.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace isync::bench {

// A free loopback TCP port (bound then released).
std::uint16_t free_port();

// True once `pred` holds, polling every 50 ms for at most `limit`.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit);

// Sends `raw` to 127.0.0.1:port on a fresh connection and reads one chunk:
// true when it holds `expect`. Any error is false. For readiness probes
// ("GET /healthz …", or RESP "PING\r\n" to Redis).
bool probe(std::uint16_t port, const std::string& raw, std::string_view expect);

// A child process with stdout and stderr into `log_path`, the environment
// plus `extra_env` ("NAME=value"). The destructor stops it (SIGTERM, then
// SIGKILL after 30 s).
class Child {
 public:
  Child(std::vector<std::string> args, const std::string& log_path,
        const std::vector<std::string>& extra_env = {});
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  void stop();
  bool running();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

struct RunResult {
  int exit_code = -1;  // -1: killed or could not start
  std::string out;     // stdout (stderr goes to the caller's stderr)
};

// Runs a command to its end (at most `limit`, then SIGKILL): exit code and stdout.
RunResult run(const std::vector<std::string>& args, std::chrono::seconds limit);

// The process's peak resident set size (VmHWM of /proc/<pid>/status) in KiB;
// 0 when unknown. Read it before the process exits.
std::uint64_t peak_rss_kib(pid_t pid);

// The process's resident set size now (VmRSS) in KiB; 0 when unknown.
std::uint64_t rss_kib(pid_t pid);

// Resets the process's peak RSS (VmHWM) to its current RSS (/proc/<pid>/clear_refs).
void reset_peak_rss(pid_t pid);

// CPU seconds (user + system) the process has used; 0 when unknown.
double cpu_seconds(pid_t pid);

// The command line as a shell would take it (arguments with spaces or
// quotes single-quoted), for "reproduce:" lines.
std::string shell_line(const std::vector<std::string>& args);

}  // namespace isync::bench
