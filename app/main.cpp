// intacct-sync: serve | check-config | encrypt-secret | status | reconcile | events |
// records. Wiring lives in service.cpp; this file only parses the command line.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <iterator>
#include <string>

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

int serve(const std::string& path) {
  auto cfg = load_config(path);
  if (!cfg) {
    std::cerr << "intacct-sync: " << cfg.error().message << "\n";
    return isync::app::kExitRefused;
  }
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
  auto* serve_cmd = cli.add_subcommand("serve", "run the service until SIGTERM/SIGINT");
  serve_cmd->add_option("--config", config_path, "TOML config file (empty: built-in defaults)");

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
  reconcile_cmd->add_flag("--allow-mass-delete", reconcile_args.allow_mass_delete,
                          "tombstone even when more records look gone than the guard allows");
  reconcile_cmd->footer(
      "Exit codes: 0 succeeded; 1 failed or partial (or Redis unreachable); 2 bad config or "
      "arguments; 3 the mirror's index is being built (try later); 4 a run of the tenant is "
      "already running. With several tenants, the highest code.");

  isync::app::detail::EventsCommands events_cmds;
  isync::app::detail::add_events_commands(cli, events_cmds);

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
  if (*serve_cmd) return serve(config_path);
  if (*check_cmd) return check_config(check_path);
  if (*enc_cmd) return encrypt_secret(new_key);
  if (*status_cmd) return status(status_path, status_json);
  if (*reconcile_cmd) return reconcile(reconcile_path, reconcile_args);
  if (!events_cmds.args.verb.empty()) return events(events_cmds.config_path, events_cmds.args);
  return 1;
}
