#include "app/events_commands.hpp"

namespace isync::app::detail {

namespace {

constexpr const char* kExitCodes =
    "Exit codes: 0 done; 1 error (Redis unreachable, bad config or arguments); 2 not found; "
    "3 refused (invalid_state, payment_unsettled, payment_in_progress, payment_abandoned, "
    "payment_may_be_posted; the message says why); 130 interrupted while following a job (it "
    "goes on in the serve processes).";

CLI::App* verb(CLI::App& parent, EventsCommands& c, const std::string& name,
               const std::string& verb_id, const std::string& what) {
  auto* cmd = parent.add_subcommand(name, what);
  cmd->add_option("--config", c.config_path, "TOML config file (empty: built-in defaults)");
  cmd->add_flag("--json", c.args.json, "print the admin API's JSON");
  cmd->add_option("--log-level", c.log_level,
                  "trace, debug, info, warning or error (default: warning, or [log] level / "
                  "INTACCT_SYNC_LOG_LEVEL when higher)");
  cmd->footer(kExitCodes);
  c.verbs.push_back(cmd);
  cmd->callback([&c, verb_id] { c.args.verb = verb_id; });
  return cmd;
}

void filters(CLI::App* cmd, EventsArgs& a, bool paging) {
  cmd->add_option("--tenant", a.tenant, "one tenant (a job needs one)");
  cmd->add_option("--state", a.state, "pending, retrying, parked, dead, done or discarded");
  cmd->add_option("--object", a.object, "CUSTOMER, ARINVOICE or ARPYMT");
  cmd->add_option("--key", a.key, "record key (RECORDNO; a Stripe payment id); needs --object");
  cmd->add_option("--error", a.error, "the last failure's code or Intacct errorno");
  cmd->add_option("--since", a.since,
                  "last change at or after: RFC 3339 (2026-12-01T10:00:00Z) or epoch ms");
  cmd->add_option("--until", a.until, "last change at or before: RFC 3339 or epoch ms");
  if (paging) {
    cmd->add_option("--limit", a.limit, "events per page, 1..1000 (default 50)");
    cmd->add_option("--cursor", a.cursor, "the next page (printed under the list)");
  }
}

}  // namespace

void add_events_commands(CLI::App& cli, EventsCommands& c) {
  EventsArgs& a = c.args;
  auto* events = cli.add_subcommand(
      "events", "find failed events and why; replay or discard them (read from Redis)");
  events->require_subcommand(1);
  events->footer(kExitCodes);

  auto* list = verb(*events, c, "list", "list", "failed events, newest first, by filter");
  filters(list, a, true);

  auto* show = verb(*events, c, "show", "show",
                    "one event: its state, every attempt (errorno, description, correction), "
                    "the envelope, the raw payload, the payment ledger");
  show->add_option("ID", a.ids, "the event id")->required()->expected(1);
  show->add_option("--tenant", a.tenant, "the event's tenant (default: search every tenant)");

  for (const std::string name : {"replay", "discard"}) {
    const bool replay = name == "replay";
    auto* cmd = verb(
        *events, c, name, name,
        replay ? "put events back on the queue with a fresh retry budget (by id, or every event "
                 "a filter matches: a job, followed here)"
               : "give up on events, with a reason (by id, or by filter: a job, followed here)");
    cmd->add_option("ID", a.ids, "event ids (up to 1000)");
    cmd->add_flag("--filter", a.filter,
                  "act on every event the filter options match (--tenant required)");
    filters(cmd, a, false);
    cmd->add_flag("--dry-run", a.dry_run, "say how many match, show 5, change nothing");
    cmd->add_option("--actor", a.actor, "who acts (default: the OS user)");
    auto* reason = cmd->add_option(
        "--reason", a.reason,
        replay ? "why (recorded with the event)" : "why (required; recorded with the event)");
    if (replay) {
      cmd->add_option("--set", a.set,
                      "INVOICE=… or CUSTOMER=…: correct one dead payment before its replay");
    } else {
      reason->required();
      cmd->add_flag("--settled-by-hand", a.settled_by_hand,
                    "the payment was settled in Intacct by hand (needed for an unsettled one)");
    }
  }

  auto* jobs = verb(*events, c, "jobs", "jobs", "bulk jobs and their progress");
  jobs->add_option("--tenant", a.tenant, "one tenant (default: every tenant)");
  auto* cancel = verb(*events, c, "cancel", "cancel", "cancel a running job");
  cancel->add_option("JOB", a.ids, "the job id")->required()->expected(1);

  auto* records = cli.add_subcommand("records", "read the mirror (from Redis)");
  records->require_subcommand(1);
  auto* rshow =
      verb(*records, c, "show", "records-show", "one mirror record with its audit, newest first");
  rshow->add_option("OBJECT", a.record_object, "CUSTOMER, ARINVOICE or ARPYMT")->required();
  rshow->add_option("KEY", a.record_key, "the record's RECORDNO")->required();
  rshow->add_option("--tenant", a.tenant, "the tenant")->required();
}

std::string selected(const EventsCommands& c) { return c.args.verb; }

}  // namespace isync::app::detail
