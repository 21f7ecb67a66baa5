// intacct-sandbox: serve | ctl. `serve` runs the in-memory Intacct company
// behind its XML gateway, control API and smart-event poster (server.hpp,
// serve_command.cpp); `ctl` is a small client of the control API
// (ctl_command.cpp). This file holds the command line and its dispatch.
#include <CLI/CLI.hpp>
#include <string>

#include "sandbox/detail/ctl_command.hpp"
#include "sandbox/detail/serve_command.hpp"

namespace {

constexpr int kExitUsage = 2;

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"intacct-sandbox: an in-memory Sage Intacct company behind the XML gateway"};
  cli.require_subcommand(1);

  isync::sandbox::detail::ServeArgs s;
  auto* serve_cmd = cli.add_subcommand("serve", "run the sandbox until SIGTERM/SIGINT");
  serve_cmd
      ->add_option("--gateway-listen", s.gateway_listen, "XML gateway HOST:PORT (0 = free port)")
      ->capture_default_str();
  serve_cmd->add_option("--control-listen", s.control_listen, "control API HOST:PORT")
      ->capture_default_str();
  serve_cmd->add_option("--sender-id", s.sender_id, "Web Services sender id")->required();
  serve_cmd->add_option("--sender-password-file", s.sender_password_file,
                        "file holding the sender password (or INTACCT_SANDBOX_SENDER_PASSWORD)");
  serve_cmd->add_option("--company-id", s.company_id, "company id")->required();
  serve_cmd->add_option("--user-id", s.user_id, "Web Services user id")->required();
  serve_cmd->add_option("--user-password-file", s.user_password_file,
                        "file holding the user password (or INTACCT_SANDBOX_USER_PASSWORD)");
  serve_cmd->add_option("--session-duration", s.session_duration, "session lifetime, e.g. 2h, 30m")
      ->capture_default_str();
  serve_cmd->add_option("--endpoint-url", s.endpoint_url,
                        "endpoint URL getAPISession returns (default: the gateway's own)");
  serve_cmd->add_option("--demo-customers", s.demo_customers, "customers seeded")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  serve_cmd->add_option("--demo-invoices", s.demo_invoices, "invoices seeded")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  serve_cmd->add_option("--seed", s.seed, "demo data and random faults seed")
      ->capture_default_str();
  auto* url_opt = serve_cmd->add_option("--events-url", s.events_url,
                                        "smart-event HTTP post URL (http only; may carry ?token=)");
  serve_cmd->add_option("--events-url-file", s.events_url_file, "file holding the events URL")
      ->excludes(url_opt);
  serve_cmd->add_option("--events-token-file", s.events_token_file,
                        "file holding a token sent as Authorization: Bearer");
  serve_cmd->add_flag("--events-snapshot", s.events_snapshot,
                      "post every field of the record too, not only the README template");
  serve_cmd
      ->add_option("--push", s.push,
                   "which webhooks a change posts: smart-events, triggers or both (also at run "
                   "time: ctl push)")
      ->check(CLI::IsMember({"smart-events", "triggers", "both"}))
      ->capture_default_str();
  auto* turl_opt = serve_cmd->add_option(
      "--triggers-url", s.triggers_url,
      "Platform Trigger webhook URL (http only), e.g. http://HOST:PORT/v1/intacct/T/triggers");
  serve_cmd->add_option("--triggers-url-file", s.triggers_url_file, "file holding the triggers URL")
      ->excludes(turl_opt);
  serve_cmd->add_option("--trigger-secret-file", s.trigger_secret_file,
                        "file holding the OAuth client secret that signs triggers (or "
                        "INTACCT_SANDBOX_TRIGGER_SECRET)");
  serve_cmd->add_option("--trigger-client-id", s.trigger_client_id,
                        "OAuth client id: the token's tenant_id and the envelope's clientId");
  serve_cmd->add_option("--trigger-company", s.trigger_company,
                        "the template's \"company\" (default: --company-id)");
  serve_cmd
      ->add_option("--trigger-token", s.trigger_token,
                   "X-IA-Sage-Signature: the base64 envelope, or the bare JWT")
      ->check(CLI::IsMember({"envelope", "bare"}))
      ->capture_default_str();
  serve_cmd
      ->add_option("--trigger-idempotency-header", s.trigger_idempotency_header,
                   "header carrying the idempotency key")
      ->capture_default_str();
  serve_cmd
      ->add_option("--trigger-retry-scale", s.trigger_retry_scale,
                   "Intacct's retry delays (10 s, 30 s, 90 s) times this; tests use 0.01")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  serve_cmd->add_option("--control-token-file", s.control_token_file,
                        "file holding a Bearer token the control API requires");
  serve_cmd->add_option("--state-file", s.state_file,
                        "load at start if present (else seed); saved every 60 s and at exit");
  serve_cmd->add_option("--port-file", s.port_file,
                        "write \"GATEWAY_PORT CONTROL_PORT\" here once listening");
  serve_cmd->add_flag("--payment-batch-required", s.payment_batch_required,
                      "ARPYMT creates need PRBATCH");
  serve_cmd->add_flag("--unique-payment-numbers", s.unique_payment_numbers,
                      "refuse an ARPYMT whose DOCNUMBER another live payment of the customer has");
  serve_cmd->add_option("--threads", s.threads, "io threads")->check(CLI::Range(1, 64));

  isync::sandbox::detail::CtlCommand ctl(cli);

  try {
    cli.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {
    cli.exit(e);
    return kExitUsage;
  }
  if (*serve_cmd) return isync::sandbox::detail::serve(s);
  if (ctl.chosen()) return ctl.run();
  return kExitUsage;
}