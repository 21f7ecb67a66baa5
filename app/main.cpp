// intacct-sync: serve | check-config | encrypt-secret | status. Wiring lives in
// service.cpp; this file only parses the command line.
#include <CLI/CLI.hpp>
#include <iostream>
#include <iterator>
#include <string>

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

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e);
  }
  if (*serve_cmd) return serve(config_path);
  if (*check_cmd) return check_config(check_path);
  if (*enc_cmd) return encrypt_secret(new_key);
  if (*status_cmd) return status(status_path, status_json);
  return 1;
}
