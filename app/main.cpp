// intacct-sync: serve | check-config | encrypt-secret | status | reconcile | events |
// records | debug. Wiring lives in service.cpp; this file only parses the command line.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>

#include "app/debug_cli.hpp"
#include "app/events_commands.hpp"
#include "app/service.hpp"
#include "config/config.hpp"

#ifndef ISYNC_VERSION
#define ISYNC_VERSION "0.0.0"
#endif

namespace {

isync::Result<isync::config::Config> load_config(const std::string& path) {
  return isync::config::load(path, isync::config::process_environment());
}

constexpr const char* kLogLevelHelp =
    "trace, debug, info, warning or error; wins over INTACCT_SYNC_LOG_LEVEL and [log] level";

// --log-level as given (empty = not given). The level, or a message saying
// what is accepted. It wins over INTACCT_SYNC_LOG_LEVEL, which wins over the
// config file's [log] level (load() applies that one).
isync::Result<std::optional<isync::Level>> log_level_flag(const std::string& text) {
  if (text.empty()) return std::optional<isync::Level>();
  auto level = isync::config::parse_log_level(text);
  if (!level) {
    return isync::Error{"bad_args", "--log-level: expected one of " +
                                        std::string(isync::config::kLogLevels) + ", got \"" + text +
                                        "\""};
  }
  return std::optional<isync::Level>(*level);
}

int serve(const std::string& path, std::optional<isync::Level> level) {
  auto cfg = load_config(path);
  if (!cfg) {
    std::cerr << "intacct-sync: " << cfg.error().message << "\n";
    return isync::app::kExitRefused;
  }
  if (level) cfg->log.level = *level;
  isync::Log log(cfg->log.level);
  for (const auto& w : cfg->warnings) log.warn(w);
  return isync::app::serve(*cfg, log);
}

int check_config(const std::string& path) {
  auto cfg = load_config(path);
  if (!cfg) {
    std::cerr << "intacct-sync: " << cfg.error().message << "\n";
    return isync::app::kExitRefused;
  }
  for (const auto& w : cfg->warnings) std::cerr << "warning: " << w << "\n";
  std::cout << isync::config::render(*cfg);
  return 0;
}

int encrypt_secret(bool new_key) {
  if (new_key) {
    std::cout << isync::config::generate_master_key() << "\n";
    return 0;
  }
  auto env = isync::config::process_environment();
  auto key = env.find("INTACCT_SYNC_MASTER_KEY");
  if (key == env.end()) {
    std::cerr << "intacct-sync: INTACCT_SYNC_MASTER_KEY is not set (make one with "
                 "`intacct-sync encrypt-secret --new-key`)\n";
    return 1;
  }
  std::string secret((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (!secret.empty() && secret.back() == '\n') secret.pop_back();
  auto enc = isync::config::encrypt_secret(secret, key->second);
  if (!enc) {
    std::cerr << "intacct-sync: " << enc.error().message << "\n";
    return 1;
  }
  std::cout << *enc << "\n";
  return 0;
}

int status(const std::string& path, bool json) {
  auto cfg = load_config(path);
  if (!cfg) {
    std::cerr << "intacct-sync: " << cfg.error().message << "\n";
    return isync::app::kExitRefused;
  }
  return isync::app::status(*cfg, json, std::cout, std::cerr);
}

int reconcile(const std::string& path, const isync::app::ReconcileArgs& args) {
  auto cfg = load_config(path);
  if (!cfg) {
    std::cerr << "intacct-sync: " << cfg.error().message << "\n";
    return isync::app::kReconcileBadConfig;
  }
  return isync::app::reconcile(*cfg, args, std::cout, std::cerr, ::isatty(STDOUT_FILENO) == 1);
}

int events(const std::string& path, const isync::app::EventsArgs& args) {
  auto cfg = load_config(path);
  if (!cfg) {
    std::cerr << "intacct-sync: " << cfg.error().message << "\n";
    return isync::app::kEventsError;
  }
  return isync::app::events(*cfg, args, std::cout, std::cerr, ::isatty(STDOUT_FILENO) == 1);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"intacct-sync: Sage Intacct smart events -> durable Redis queue -> AR mirror"};
  cli.set_version_flag("--version", std::string("intacct-sync ") + ISYNC_VERSION);
  cli.require_subcommand(1);

  std::string config_path;
  std::string serve_level, reconcile_level;
  auto* serve_cmd = cli.add_subcommand("serve", "run the service until SIGTERM/SIGINT");
  serve_cmd->add_option("--config", config_path, "TOML config file (empty: built-in defaults)");
  serve_cmd->add_option("--log-level", serve_level, kLogLevelHelp);

  std::string check_path;
  auto* check_cmd =
      cli.add_subcommand("check-config", "print the effective config (secrets as ***)");
  check_cmd->add_option("--config", check_path, "TOML config file")->required();

  bool new_key = false;
  auto* enc_cmd = cli.add_subcommand(
      "encrypt-secret", "read a secret on stdin, print enc:… under INTACCT_SYNC_MASTER_KEY");
  enc_cmd->add_flag("--new-key", new_key, "print a fresh random master key instead");

  std::string status_path;
  bool status_json = false;
  auto* status_cmd = cli.add_subcommand(
      "status",
      "per tenant: queue figures, Intacct circuit and calls this month, unsettled payments "
      "(read from Redis)");
  status_cmd->add_option("--config", status_path, "TOML config file (empty: built-in defaults)");
  status_cmd->add_flag("--json", status_json, "print the JSON of GET /v1/admin/status");

  std::string reconcile_path;
  isync::app::ReconcileArgs reconcile_args;
  auto* reconcile_cmd = cli.add_subcommand(
      "reconcile",
      "make the mirror equal to Intacct now (the daily reconciliation), with progress and a "
      "report");
  reconcile_cmd->add_option("--config", reconcile_path,
                            "TOML config file (empty: built-in defaults)");
  reconcile_cmd->add_option("--tenant", reconcile_args.tenant,
                            "one tenant (default: every tenant with Intacct credentials)");
  reconcile_cmd
      ->add_option("--objects", reconcile_args.objects,
                   "customers,invoices,payments (default: all three)")
      ->delimiter(',');
  reconcile_cmd->add_flag("--dry-run", reconcile_args.dry_run,
                          "report the drift (with the first 20 keys of each kind), change nothing");
  reconcile_cmd->add_flag("--json", reconcile_args.json, "print each final report as JSON");
  reconcile_cmd->add_option("--log-level", reconcile_level, kLogLevelHelp);
  reconcile_cmd->add_flag("--allow-mass-delete", reconcile_args.allow_mass_delete,
                          "tombstone even when more records look gone than the guard allows");
  reconcile_cmd->footer(
      "Exit codes: 0 succeeded; 1 failed or partial (or Redis unreachable); 2 bad config or "
      "arguments; 3 the mirror's index is being built (try later); 4 a run of the tenant is "
      "already running. With several tenants, the highest code.");

  isync::app::detail::EventsCommands events_cmds;
  isync::app::detail::add_events_commands(cli, events_cmds);

  isync::app::detail::DebugCommands debug_cmds;
  isync::app::detail::add_debug_commands(cli, debug_cmds);

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = cli.exit(e);
    // reconcile documents 2 for bad arguments (CLI11's own codes are others).
    const std::string command = argc > 1 ? argv[1] : "";
    if (rc != 0 && command == "reconcile") return isync::app::kReconcileBadConfig;
    // events and records document 1 for bad arguments.
    if (rc != 0 && (command == "events" || command == "records")) return isync::app::kEventsError;
    return rc;
  }
  // An invalid --log-level is refused before anything else, with the exit
  // code each command gives bad arguments.
  if (*serve_cmd) {
    auto level = log_level_flag(serve_level);
    if (!level) {
      std::cerr << "intacct-sync: " << level.error().message << "\n";
      return isync::app::kExitRefused;
    }
    return serve(config_path, *level);
  }
  if (*check_cmd) return check_config(check_path);
  if (*debug_cmds.script_cmd)
    return isync::app::detail::debug_script(debug_cmds, std::cout, std::cerr);
  if (*enc_cmd) return encrypt_secret(new_key);
  if (*status_cmd) return status(status_path, status_json);
  if (*reconcile_cmd) {
    auto level = log_level_flag(reconcile_level);
    if (!level) {
      std::cerr << "intacct-sync: " << level.error().message << "\n";
      return isync::app::kReconcileBadConfig;
    }
    reconcile_args.log_level = *level;
    return reconcile(reconcile_path, reconcile_args);
  }
  if (!events_cmds.args.verb.empty()) {
    auto level = log_level_flag(events_cmds.log_level);
    if (!level) {
      std::cerr << "intacct-sync: " << level.error().message << "\n";
      return isync::app::kEventsError;
    }
    events_cmds.args.log_level = *level;
    return events(events_cmds.config_path, events_cmds.args);
  }
  return 1;
}
