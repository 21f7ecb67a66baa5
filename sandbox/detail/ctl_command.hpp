// `intacct-sandbox ctl …`: the command line of the control API's client
// (add, set, delete, get, list, faults, settings, dropped-events,
// expire-sessions, stats). Each subcommand sends one request with a 10 s
// deadline and prints the answer's body (`add`: the new RECORDNO).
//
// Exit codes: 0 done, 1 the request failed (unreachable, or an HTTP status
// ≥ 300: its message goes to stderr), 2 usage.
#pragma once

#include <memory>

namespace CLI {
class App;
}

namespace isync::sandbox::detail {

class CtlCommand {
 public:
  // Adds the `ctl` subcommand and its own subcommands to `cli`.
  explicit CtlCommand(CLI::App& cli);
  ~CtlCommand();
  CtlCommand(const CtlCommand&) = delete;
  CtlCommand& operator=(const CtlCommand&) = delete;

  bool chosen() const;  // after parsing: `ctl` was given
  int run() const;      // REQUIRES: chosen()

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace isync::sandbox::detail
