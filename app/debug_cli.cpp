#include "app/debug_cli.hpp"

#include <ostream>

#include "handlers/detail/mirror_lua.hpp"
#include "queue/detail/scripts.hpp"

namespace isync::app::detail {

const std::vector<NamedScript>& debug_scripts() {
  static const std::vector<NamedScript> scripts{
      {"accept", "dedup key SET NX + XADD of the envelope (one dedup key)",
       &queue::detail::accept_script},
      {"accept-any", "the same with several dedup keys", &queue::detail::accept_any_script},
      {"move", "XACK + XDEL an entry and file its event as retrying, parked or dead",
       &queue::detail::move_script},
      {"release", "move due retrying/parked events back onto the stream",
       &queue::detail::release_script},
      {"apply", "apply one event to the mirror, XACK + XDEL its entry",
       &handlers::detail::apply_script},
      {"apply-batch", "apply several events to the mirror, one XACK + XDEL per stream",
       &handlers::detail::apply_batch_script},
  };
  return scripts;
}

namespace {

std::string names() {
  std::string out;
  for (const auto& s : debug_scripts()) {
    if (!out.empty()) out += ", ";
    out += s.name;
  }
  return out;
}

}  // namespace

void add_debug_commands(CLI::App& cli, DebugCommands& c) {
  auto* debug = cli.add_subcommand("debug", "inspect the binary (for benchmarks and debugging)");
  debug->require_subcommand(1);
  c.script_cmd = debug->add_subcommand(
      "script", "print the exact text of one of the binary's Lua scripts: " + names());
  c.script_cmd->add_option("name", c.name, "the script's name")->required();
  c.script_cmd->add_flag("--sha", c.sha, "print its SHA-1 (as EVALSHA takes it) instead");
}

int debug_script(const DebugCommands& c, std::ostream& out, std::ostream& err) {
  for (const auto& s : debug_scripts()) {
    if (s.name != c.name) continue;
    const auto& script = s.get();
    if (c.sha) {
      out << script.sha << "\n";
    } else {
      out << script.body;
    }
    out.flush();
    return 0;
  }
  err << "intacct-sync: no script named \"" << c.name << "\" (known: " << names() << ")\n";
  return 1;
}

}  // namespace isync::app::detail
