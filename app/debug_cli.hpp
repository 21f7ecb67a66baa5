// Internal to app/: `intacct-sync debug …`, commands for measuring and
// inspecting the binary itself (no config, no Redis).
//   debug script <name> [--sha]: the exact text of one of the Lua scripts
//   the binary sends to Redis (or its SHA-1, as EVALSHA takes it), so a
//   benchmark loads the script that runs, never a copy of it.
// Unknown or missing name: the known names on stderr, exit 1.
#pragma once

#include <CLI/CLI.hpp>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "redis/redis.hpp"

namespace isync::app::detail {

struct NamedScript {
  std::string_view name;
  std::string_view what;  // one line: what it does
  const redis::Script& (*get)();
};

// Every script `debug script` can print, in the order listed by --help.
const std::vector<NamedScript>& debug_scripts();

struct DebugCommands {
  CLI::App* script_cmd = nullptr;
  std::string name;
  bool sha = false;
};

void add_debug_commands(CLI::App& cli, DebugCommands& c);

// Prints the script's text verbatim (or its SHA-1 and a newline) on `out`.
// Returns 0, or 1 with the known names on `err`.
int debug_script(const DebugCommands& c, std::ostream& out, std::ostream& err);

}  // namespace isync::app::detail
