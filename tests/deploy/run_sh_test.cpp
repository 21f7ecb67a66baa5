// deploy/run.sh, the README's first command, run as a user runs it: the
// printed walk-through's first three blocks are run exactly as printed, then
// the demo is stopped and nothing of it is left running.
//
// It runs the binaries of the tree it was built in (ISYNC_BUILD_DIR and
// --no-build: it never builds), with its own data directory and ports from
// the tests' free-port picker, so a developer's running demo (var/, 6379,
// 8080-8091) is never touched.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/process.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using isync::testing::Child;
using isync::testing::eventually;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A block of the walk-through: the commands under one heading (lines
// indented two spaces begin a command, deeper ones continue it).
using Block = std::vector<std::string>;

std::vector<Block> printed_blocks(const std::string& out) {
  std::vector<Block> blocks;
  bool in_block = false;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("    ") && in_block && !blocks.back().empty()) {
      blocks.back().back() += "\n" + line;
    } else if (line.starts_with("  ") && !line.starts_with("   ")) {
      if (!in_block) blocks.emplace_back();
      in_block = true;
      blocks.back().push_back(line);
    } else {
      in_block = false;
    }
  }
  return blocks;
}

// Runs `command` with bash from the repository root; stdout and stderr.
std::string run(const std::string& command) {
  std::string script = "cd '" + std::string(ISYNC_SOURCE_DIR) + "' && " + command + " 2>&1";
  std::FILE* p = ::popen(
      ("bash -c " + std::string("'") + std::regex_replace(script, std::regex("'"), "'\\''") + "'")
          .c_str(),
      "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  ::pclose(p);
  return out;
}

std::string run_block(const Block& block) {
  std::string all;
  for (const auto& c : block) all += run(c) + "\n";
  return all;
}

// Processes whose command line mentions `needle`.
std::vector<std::string> processes_with(const std::string& needle) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = read_file(entry.path() / "cmdline");
    for (auto& c : cmdline) c = c == '\0' ? ' ' : c;
    if (cmdline.find(needle) != std::string::npos) found.push_back(name + ": " + cmdline);
  }
  return found;
}

}  // namespace

TEST_CASE("run.sh starts the demo, its first three printed blocks work, and stop leaves nothing") {
  char tmpl[] = "/tmp/isync-demo-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::string var = tmpl;
  const std::string port_base = std::to_string(isync::testing::free_port());
  const std::vector<std::string> env = {"ISYNC_VAR_DIR=" + var,
                                        "ISYNC_BUILD_DIR=" + std::string(ISYNC_BUILD_DIR),
                                        "ISYNC_PORT_BASE=" + port_base};
  const std::string out_path = var + "/run.out";
  {
    Child demo("/bin/bash", {std::string(ISYNC_SOURCE_DIR) + "/deploy/run.sh", "--no-build"}, env,
               var + "/run.err", out_path);

    // The walk-through is printed once Redis and the sandbox are up.
    std::vector<Block> blocks;
    REQUIRE_MESSAGE(eventually(
                        [&] {
                          blocks = printed_blocks(read_file(out_path));
                          return blocks.size() >= 3;
                        },
                        60s),
                    read_file(var + "/run.err"));
    std::smatch m;
    const std::string first = blocks[0].at(0);
    REQUIRE(std::regex_search(first, m, std::regex(R"(127\.0\.0\.1:(\d+)/v1/intacct/demo)")));
    const std::string public_port = m[1];
    CHECK(std::stoi(public_port) >= std::stoi(port_base));
    REQUIRE_MESSAGE(
        eventually(
            [&] {
              return run("curl -sf http://127.0.0.1:" + public_port + "/readyz").find("ok") !=
                     std::string::npos;
            },
            60s),
        read_file(var + "/run.err"));

    // 1. the smart event.
    std::string posted = run_block(blocks[0]);
    CHECK_MESSAGE(posted.find("HTTP/1.1 202") != std::string::npos, posted);

    // 2. invoice 42 from the mirror, once a worker has applied it.
    std::string invoice;
    CHECK_MESSAGE(eventually(
                      [&] {
                        invoice = run_block(blocks[1]);
                        return invoice.find(R"("RECORDID":"INV-0042")") != std::string::npos;
                      },
                      10s),
                  invoice);

    // 3. CUSTOMER 1 renamed in the sandbox, read back from the mirror.
    REQUIRE(blocks[2].size() == 2);
    std::string renamed = run_block(blocks[2]);
    CHECK_MESSAGE(eventually(
                      [&] {
                        if (renamed.find("Renamed Customer") != std::string::npos) return true;
                        renamed = run(blocks[2][1]);
                        return false;
                      },
                      10s),
                  renamed);

    demo.signal(SIGTERM);
    auto code = demo.wait_exit(30s);
    CHECK(code.has_value());
  }
  // Redis is a daemon that outlives Ctrl-C; run.sh stop ends it.
  std::string stopped = run("ISYNC_VAR_DIR='" + var + "' ./deploy/run.sh stop");
  CHECK_MESSAGE(stopped.find("stopping the local redis-server") != std::string::npos, stopped);
  std::vector<std::string> left;
  const bool none_left = eventually(
      [&] {
        left = processes_with(var);
        return left.empty();
      },
      10s);
  const std::string first_left = none_left ? std::string() : left.front();
  CHECK_MESSAGE(none_left, first_left);
  std::error_code ec;
  fs::remove_all(var, ec);
}
