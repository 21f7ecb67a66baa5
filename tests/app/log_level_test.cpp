// The log level as the operator sets it: --log-level wins over
// INTACCT_SYNC_LOG_LEVEL, which wins over [log] level, whose default is info;
// an invalid value is refused before anything starts, with the command's
// exit code for bad arguments. Runs the intacct-sync binary against a real
// redis-server.
#include <doctest/doctest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

namespace {

using isync::testing::Child;
using isync::testing::eventually;
using isync::testing::free_port;
using isync::testing::HttpClient;
using isync::testing::RedisServer;
using namespace std::chrono_literals;
namespace http = boost::beast::http;

constexpr const char* kStarted = R"("level":"info","msg":"intacct-sync started")";
// The config's literal admin token: a warning at start.
constexpr const char* kLiteralWarning =
    R"("level":"warning","msg":"admin.token is a literal secret in the config file)";

class Dir {
 public:
  explicit Dir(RedisServer& redis) : redis_(redis) {
    char tmpl[] = "/tmp/isync-loglevel-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~Dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }

  // A config with `[log] level = config_level` (none when empty).
  std::string config(const std::string& config_level) {
    const std::string file = path + "/config" + std::to_string(++n_) + ".toml";
    public_port = free_port();
    std::ofstream(file) << "[server]\npublic_listen = \"127.0.0.1:" << public_port
                        << "\"\nadmin_listen = \"127.0.0.1:" << free_port()
                        << "\"\nthreads = 1\n[redis]\nurl = \"" << redis_.url()
                        << "\"\n[queue]\nworkers = 0\n[admin]\ntoken = \"literal-admin-token\"\n"
                        << (config_level.empty() ? ""
                                                 : "[log]\nlevel = \"" + config_level + "\"\n");
    return file;
  }

  // Runs `intacct-sync serve` until ready, stops it, and gives its stderr.
  std::string serve(const std::string& config_level, std::vector<std::string> flags,
                    std::vector<std::string> env = {}) {
    const std::string cfg = config(config_level);
    std::vector<std::string> args{"serve", "--config", cfg};
    args.insert(args.end(), flags.begin(), flags.end());
    const std::string log = path + "/serve" + std::to_string(n_) + ".log";
    Child child(ISYNC_BINARY, args, env, log);
    const bool up = eventually(
        [&] { return HttpClient(public_port).request(http::verb::get, "/readyz").status == 200; },
        10s);
    child.signal(SIGTERM);
    CHECK(child.wait_exit(30s) == std::optional<int>(0));
    REQUIRE_MESSAGE(up, child.log());
    return child.log();
  }

  // Runs a command to its end: its exit code and stderr.
  std::pair<int, std::string> run(std::vector<std::string> args,
                                  std::vector<std::string> env = {}) {
    const std::string log = path + "/run" + std::to_string(++n_) + ".log";
    Child child(ISYNC_BINARY, std::move(args), env, log, path + "/stdout");
    auto code = child.wait_exit(30s);
    REQUIRE(code.has_value());
    return {*code, child.log()};
  }

  std::string path;
  std::uint16_t public_port = 0;

 private:
  RedisServer& redis_;
  int n_ = 0;
};

bool has(const std::string& log, const std::string& needle) {
  return log.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("the log level: --log-level over INTACCT_SYNC_LOG_LEVEL over [log] level over info") {
  RedisServer redis;
  Dir dir(redis);
  SUBCASE("default: info") {
    auto log = dir.serve("", {});
    CHECK(has(log, kStarted));
    CHECK(has(log, kLiteralWarning));
  }
  SUBCASE("the file's level") {
    auto log = dir.serve("error", {});
    CHECK_FALSE(has(log, kStarted));
    CHECK_FALSE(has(log, kLiteralWarning));
  }
  SUBCASE("the variable wins over the file") {
    auto log = dir.serve("error", {}, {"INTACCT_SYNC_LOG_LEVEL=info"});
    CHECK(has(log, kStarted));
  }
  SUBCASE("the flag wins over the variable and the file") {
    auto log = dir.serve("info", {"--log-level", "warning"}, {"INTACCT_SYNC_LOG_LEVEL=debug"});
    CHECK_FALSE(has(log, kStarted));
    CHECK(has(log, kLiteralWarning));
    log = dir.serve("error", {"--log-level", "debug"}, {"INTACCT_SYNC_LOG_LEVEL=error"});
    CHECK(has(log, kStarted));
  }
  SUBCASE("every documented value is taken, warn for warning too") {
    for (const char* level : {"trace", "debug", "info"}) {
      CAPTURE(level);
      CHECK(has(dir.serve("", {"--log-level", level}), kStarted));
    }
    for (const char* level : {"warning", "warn"}) {
      CAPTURE(level);
      auto log = dir.serve("", {"--log-level", level});
      CHECK_FALSE(has(log, kStarted));
      CHECK(has(log, kLiteralWarning));
    }
    CHECK_FALSE(has(dir.serve("", {"--log-level", "error"}), kLiteralWarning));
    CHECK(has(dir.serve("warning", {}), kLiteralWarning));
  }
}

TEST_CASE("an invalid log level is refused with a message naming the choices") {
  RedisServer redis;
  Dir dir(redis);
  const std::string choices = "expected one of trace, debug, info, warning, error, got \"loud\"\n";
  SUBCASE("serve --log-level: exit 2") {
    auto [code, err] = dir.run({"serve", "--config", dir.config(""), "--log-level", "loud"});
    CHECK(code == 2);
    CHECK(err == "intacct-sync: --log-level: " + choices);
  }
  SUBCASE("INTACCT_SYNC_LOG_LEVEL: exit 2") {
    auto [code, err] =
        dir.run({"serve", "--config", dir.config("")}, {"INTACCT_SYNC_LOG_LEVEL=loud"});
    CHECK(code == 2);
    CHECK(err == "intacct-sync: log.level: " + choices);
  }
  SUBCASE("[log] level: exit 2") {
    auto [code, err] = dir.run({"serve", "--config", dir.config("loud")});
    CHECK(code == 2);
    CHECK(err == "intacct-sync: log.level: " + choices);
  }
  SUBCASE("reconcile --log-level: exit 2") {
    auto [code, err] = dir.run({"reconcile", "--config", dir.config(""), "--log-level", "loud"});
    CHECK(code == 2);
    CHECK(err == "intacct-sync: --log-level: " + choices);
  }
  SUBCASE("events and records --log-level: exit 1, their code for bad arguments") {
    auto [code, err] =
        dir.run({"events", "list", "--config", dir.config(""), "--log-level", "loud"});
    CHECK(code == 1);
    CHECK(err == "intacct-sync: --log-level: " + choices);
    std::tie(code, err) = dir.run({"records", "show", "CUSTOMER", "1", "--tenant", "acme",
                                   "--config", dir.config(""), "--log-level", "LOUD"});
    CHECK(code == 1);
    CHECK(err ==
          "intacct-sync: --log-level: expected one of trace, debug, info, warning, error, "
          "got \"LOUD\"\n");
  }
}
