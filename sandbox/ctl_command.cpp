// `intacct-sandbox ctl`: subcommands → control API requests (see
// detail/ctl_command.hpp; routes in control.cpp).
#include "sandbox/detail/ctl_command.hpp"

#include <CLI/CLI.hpp>
#include <boost/beast/http/verb.hpp>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "sandbox/detail/control_client.hpp"

namespace isync::sandbox::detail {

namespace http = boost::beast::http;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

int usage_error(const std::string& message) {
  std::cerr << "intacct-sandbox: " << message << "\n";
  return kExitUsage;
}

}  // namespace

struct CtlCommand::Impl {
  std::string control = "http://127.0.0.1:8091";
  std::string token_file;
  std::string object, recordno;
  std::vector<std::string> words;
  int limit = 100;
  long long after = 0;
  bool silent = false;

  CLI::App* ctl = nullptr;
  CLI::App *add = nullptr, *set = nullptr, *del = nullptr, *get = nullptr, *list = nullptr;
  CLI::App *faults = nullptr, *settings = nullptr, *dropped = nullptr, *expire = nullptr,
           *stats = nullptr, *push = nullptr;

  // Sends one control request; prints the body (or, for `add`, the RECORDNO).
  int send(http::verb method, const std::string& target, const std::string& body,
           bool print_recordno) const {
    std::string token;
    if (!token_file.empty()) {
      auto t = read_value_file(token_file, "control token");
      if (!t) return usage_error(t.error().message);
      token = *t;
    } else if (const char* v = std::getenv("INTACCT_SANDBOX_CONTROL_TOKEN"); v) {
      token = v;
    }
    auto res = control_request(control, token, method, target, body);
    if (!res) {
      std::cerr << "intacct-sandbox: " << res.error().message << "\n";
      return res.error().code == "usage" ? kExitUsage : kExitFailed;
    }
    if (res->status >= 300) {
      std::cerr << "intacct-sandbox: " << error_message(res->body) << " (HTTP " << res->status
                << ")\n";
      return kExitFailed;
    }
    if (print_recordno) {
      auto r = res->body.find("\"recordno\":");
      if (r != std::string::npos) {
        std::cout << std::stoll(res->body.substr(r + 11)) << "\n";
        return kExitOk;
      }
    }
    if (!res->body.empty()) std::cout << res->body << "\n";
    return kExitOk;
  }
};

CtlCommand::CtlCommand(CLI::App& cli) : impl_(std::make_unique<Impl>()) {
  auto& c = *impl_;
  c.ctl = cli.add_subcommand("ctl", "talk to a running sandbox's control API");
  c.ctl->add_option("--control", c.control, "control API URL")->capture_default_str();
  c.ctl->add_option("--token-file", c.token_file,
                    "file holding the control token (or INTACCT_SANDBOX_CONTROL_TOKEN)");
  c.ctl->require_subcommand(1);
  const char* silent_help = "post no smart event for this write (nor for what it changes)";
  c.add = c.ctl->add_subcommand("add", "add a record; prints its RECORDNO");
  c.add->add_option("object", c.object, "CUSTOMER | ARINVOICE | ARPYMT")->required();
  c.add->add_option("fields", c.words, "FIELD=VALUE ...");
  c.add->add_flag("--silent", c.silent, silent_help);
  c.set = c.ctl->add_subcommand("set", "change fields of a record");
  c.set->add_option("object", c.object)->required();
  c.set->add_option("recordno", c.recordno)->required();
  c.set->add_option("fields", c.words, "FIELD=VALUE ...")->required();
  c.set->add_flag("--silent", c.silent, silent_help);
  c.del = c.ctl->add_subcommand("delete", "delete a record");
  c.del->add_option("object", c.object)->required();
  c.del->add_option("recordno", c.recordno)->required();
  c.del->add_flag("--silent", c.silent, silent_help);
  c.get = c.ctl->add_subcommand("get", "print a record as JSON");
  c.get->add_option("object", c.object)->required();
  c.get->add_option("recordno", c.recordno)->required();
  c.list = c.ctl->add_subcommand("list", "print records as JSON");
  c.list->add_option("object", c.object)->required();
  c.list->add_option("--limit", c.limit, "at most this many (1-1000)")->capture_default_str();
  c.list->add_option("--after", c.after, "only RECORDNOs above this")->capture_default_str();
  c.faults = c.ctl->add_subcommand("faults", "show faults, set KEY=VALUE ..., or `clear`");
  c.faults->add_option("settings", c.words,
                       "KEY=VALUE ... (deny_read_objects=ARPYMT,CUSTOMER) | clear");
  c.settings = c.ctl->add_subcommand("settings", "show settings, or set KEY=VALUE ...");
  c.settings->add_option(
      "settings", c.words,
      "payment_batch_required=true|false unique_payment_numbers=… write_clock_offset_s=SECONDS");
  c.dropped = c.ctl->add_subcommand(
      "dropped-events", "print the smart events the drop fault dropped, or `clear` the list");
  c.dropped->add_option("clear", c.words, "clear");
  c.expire = c.ctl->add_subcommand("expire-sessions", "invalidate every open session");
  c.stats = c.ctl->add_subcommand("stats", "print counters as JSON");
  c.push = c.ctl->add_subcommand(
      "push",
      "show or switch the webhooks changes post: [smart-events|triggers|both] "
      "[envelope|bare] (the trigger token in its envelope, or bare)");
  c.push->add_option("words", c.words, "a mode and/or a token form");
}

CtlCommand::~CtlCommand() = default;

bool CtlCommand::chosen() const { return static_cast<bool>(*impl_->ctl); }

int CtlCommand::run() const {
  const auto& c = *impl_;
  const auto record = "/v1/records/" + c.object;
  if (*c.add) {
    auto pairs = split_pairs(c.words);
    if (!pairs) return usage_error(pairs.error().message);
    return c.send(http::verb::post, record, fields_json(*pairs, c.silent), true);
  }
  if (*c.set) {
    auto pairs = split_pairs(c.words);
    if (!pairs) return usage_error(pairs.error().message);
    return c.send(http::verb::patch, record + "/" + c.recordno, fields_json(*pairs, c.silent),
                  false);
  }
  if (*c.del) {
    return c.send(http::verb::delete_, record + "/" + c.recordno,
                  c.silent ? R"({"silent":true})" : "", false);
  }
  if (*c.get) return c.send(http::verb::get, record + "/" + c.recordno, {}, false);
  if (*c.list) {
    return c.send(
        http::verb::get,
        record + "?after=" + std::to_string(c.after) + "&limit=" + std::to_string(c.limit), {},
        false);
  }
  if (*c.faults) {
    if (c.words.empty()) return c.send(http::verb::get, "/v1/faults", {}, false);
    if (c.words.size() == 1 && c.words[0] == "clear") {
      return c.send(http::verb::delete_, "/v1/faults", {}, false);
    }
    auto pairs = split_pairs(c.words);
    if (!pairs) return usage_error(pairs.error().message);
    auto body = faults_json(*pairs);
    if (!body) return usage_error(body.error().message);
    return c.send(http::verb::put, "/v1/faults", *body, false);
  }
  if (*c.settings) {
    if (c.words.empty()) return c.send(http::verb::get, "/v1/settings", {}, false);
    auto pairs = split_pairs(c.words);
    if (!pairs) return usage_error(pairs.error().message);
    auto body = settings_json(*pairs);
    if (!body) return usage_error(body.error().message);
    return c.send(http::verb::put, "/v1/settings", *body, false);
  }
  if (*c.dropped) {
    if (c.words.empty()) return c.send(http::verb::get, "/v1/events/dropped", {}, false);
    if (c.words.size() == 1 && c.words[0] == "clear") {
      return c.send(http::verb::delete_, "/v1/events/dropped", {}, false);
    }
    return usage_error("dropped-events takes nothing or `clear`");
  }
  if (*c.expire) return c.send(http::verb::post, "/v1/sessions/expire", {}, false);
  if (*c.stats) return c.send(http::verb::get, "/v1/stats", {}, false);
  if (*c.push) {
    if (c.words.empty()) return c.send(http::verb::get, "/v1/push", {}, false);
    std::string body;
    for (const auto& w : c.words) {
      std::string member;
      if (w == "smart-events" || w == "triggers" || w == "both") {
        member = "\"mode\":\"" + w + "\"";
      } else if (w == "envelope" || w == "bare") {
        member = "\"trigger_token\":\"" + w + "\"";
      } else {
        return usage_error(
            "push takes smart-events, triggers or both, and envelope or bare; not \"" + w + "\"");
      }
      body += (body.empty() ? "{" : ",") + member;
    }
    return c.send(http::verb::put, "/v1/push", body + "}", false);
  }
  return kExitUsage;
}

}  // namespace isync::sandbox::detail
