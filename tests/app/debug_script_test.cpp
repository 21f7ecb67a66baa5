// `intacct-sync debug script <name>`: the exact text of the Lua script the
// binary sends to Redis (what the benchmarks load), its SHA-1 with --sha,
// and an unknown name refused with the known names. Runs the binary; no Redis.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "handlers/detail/mirror_lua.hpp"
#include "queue/detail/scripts.hpp"
#include "tests/support/process.hpp"

namespace {

using namespace std::chrono_literals;

struct Ran {
  int code = -1;
  std::string out, err;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Ran run(std::vector<std::string> args) {
  char tmpl[] = "/tmp/isync-debug-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  Ran r;
  {
    isync::testing::Child child(ISYNC_BINARY, std::move(args), {}, dir + "/err", dir + "/out");
    auto code = child.wait_exit(30s);
    REQUIRE(code.has_value());
    r.code = *code;
  }
  r.out = read_file(dir + "/out");
  r.err = read_file(dir + "/err");
  std::filesystem::remove_all(dir);
  return r;
}

}  // namespace

TEST_CASE("debug script prints each script's exact text, byte for byte") {
  const std::vector<std::pair<std::string, const isync::redis::Script*>> scripts{
      {"accept", &isync::queue::detail::accept_script()},
      {"accept-any", &isync::queue::detail::accept_any_script()},
      {"move", &isync::queue::detail::move_script()},
      {"release", &isync::queue::detail::release_script()},
      {"apply", &isync::handlers::detail::apply_script()},
      {"apply-batch", &isync::handlers::detail::apply_batch_script()},
  };
  for (const auto& [name, script] : scripts) {
    CAPTURE(name);
    auto r = run({"debug", "script", name});
    CHECK(r.code == 0);
    CHECK(r.out == script->body);
    CHECK(r.err.empty());
    auto sha = run({"debug", "script", name, "--sha"});
    CHECK(sha.code == 0);
    CHECK(sha.out == script->sha + "\n");
  }
}

TEST_CASE("debug script refuses an unknown name and lists the known ones") {
  auto r = run({"debug", "script", "nope"});
  CHECK(r.code == 1);
  CHECK(r.out.empty());
  CHECK(r.err ==
        "intacct-sync: no script named \"nope\" (known: accept, accept-any, move, release, "
        "apply, apply-batch)\n");
}
