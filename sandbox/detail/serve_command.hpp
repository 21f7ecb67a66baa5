// `intacct-sandbox serve`: the options of the command line, and the run
// itself: the in-memory company behind its XML gateway, control API and
// posters (server.hpp), until SIGTERM or SIGINT. The state file is loaded at
// start, saved every minute (off the io threads) and at exit.
//
// Exit codes: 0 stopped, 1 failed (the reason is logged), 2 usage (the reason
// goes to stderr).
#pragma once

#include <cstdint>
#include <string>

namespace isync::sandbox::detail {

struct ServeArgs {
  std::string gateway_listen = "127.0.0.1:8090";
  std::string control_listen = "127.0.0.1:8091";
  std::string sender_id, sender_password_file, company_id, user_id, user_password_file;
  std::string session_duration = "2h";
  std::string endpoint_url;
  int demo_customers = 500;
  int demo_invoices = 2000;
  std::uint64_t seed = 1;
  std::string events_url, events_url_file, events_token_file, control_token_file;
  bool events_snapshot = false;
  std::string push = "smart-events";
  std::string triggers_url, triggers_url_file, trigger_secret_file, trigger_client_id;
  std::string trigger_company;  // default: --company-id
  std::string trigger_token = "envelope";
  std::string trigger_idempotency_header = "X-IdempotencyKey";
  double trigger_retry_scale = 1.0;
  std::string state_file, port_file;
  bool payment_batch_required = false;
  bool unique_payment_numbers = false;
  int threads = 2;
};

// Runs the sandbox until SIGTERM or SIGINT; returns the exit code.
int serve(const ServeArgs& args);

}  // namespace isync::sandbox::detail
