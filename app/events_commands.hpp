// Internal to app/: the command line of `intacct-sync events …` and
// `records show` (CLI11), kept apart from main.cpp.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "app/service.hpp"

namespace isync::app::detail {

struct EventsCommands {
  std::string config_path;
  std::string log_level;  // --log-level as given; main checks it
  EventsArgs args;
  std::vector<CLI::App*> verbs;  // each with its EventsArgs::verb in its name
};

// Adds `events` (list, show, replay, discard, jobs, cancel) and `records`
// (show) to `cli`. After parsing, selected() names the verb run, or "".
void add_events_commands(CLI::App& cli, EventsCommands& c);
std::string selected(const EventsCommands& c);

}  // namespace isync::app::detail
