// `intacct-sandbox serve` (see detail/serve_command.hpp): the flags checked
// and turned into the server's and the company's options, the state loaded or
// seeded, the server run on its io threads while this thread saves the state,
// and the drain on a signal. The command line itself is in main.cpp.
#include "sandbox/detail/serve_command.hpp"

#include <sys/stat.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sandbox/detail/control_client.hpp"
#include "sandbox/sandbox.hpp"
#include "sandbox/server.hpp"

namespace isync::sandbox::detail {

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using isync::Error;
using isync::make_error;
using isync::Result;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr std::chrono::seconds kSaveEvery{60};
constexpr std::chrono::seconds kStopMargin{5};

// Result<std::string> needs the value spelled out: an Error is also
// constructible from a string.
Result<std::string> ok_text(std::string s) {
  return Result<std::string>(boost::system::in_place_value, std::move(s));
}

int usage_error(const std::string& message) {
  std::cerr << "intacct-sandbox: " << message << "\n";
  return kExitUsage;
}

// --X-file F, else the environment variable, else an error naming both.
Result<std::string> secret_from(const std::string& file, const char* env, const std::string& what,
                                const std::string& flag) {
  if (!file.empty()) return read_value_file(file, what);
  if (const char* v = std::getenv(env); v && *v) return ok_text(v);
  return make_error("config", what + " is not given: use " + flag + " FILE or set " + env);
}

// "2h", "90m", "30s", "7200" -> seconds.
Result<std::chrono::seconds> parse_duration(const std::string& text) {
  if (text.empty()) return make_error("usage", "empty duration");
  std::size_t digits = text.find_first_not_of("0123456789");
  std::string unit = digits == std::string::npos ? "s" : text.substr(digits);
  std::string number = text.substr(0, digits);
  long long mult = unit == "s"   ? 1
                   : unit == "m" ? 60
                   : unit == "h" ? 3600
                   : unit == "d" ? 86400
                                 : 0;
  if (number.empty() || number.size() > 9 || mult == 0) {
    return make_error("usage", "duration \"" + text + "\" is not N[s|m|h|d], e.g. 2h");
  }
  auto secs = std::stoll(number) * mult;
  if (secs <= 0) return make_error("usage", "duration \"" + text + "\" must be positive");
  return std::chrono::seconds(secs);
}

// Port 0 asks for a free port. The gateway's port must be known before the
// company is built (getAPISession answers with the endpoint URL), so it is
// picked here: bound, read and released, then bound again by the server.
Result<std::uint16_t> pick_port(const std::string& host, std::uint16_t port) {
  if (port != 0) return port;
  asio::io_context ioc;
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return make_error("usage", "\"" + host + "\" is not an IP address");
  tcp::acceptor a(ioc);
  a.open(addr.is_v4() ? tcp::v4() : tcp::v6(), ec);
  if (!ec) a.bind(tcp::endpoint(addr, 0), ec);
  if (ec)
    return make_error("listen_failed", "cannot find a free port on " + host + ": " + ec.message());
  return a.local_endpoint().port();
}

// Writes `text` to `path` through a temporary file and a rename, so a reader
// never sees half a file. Mode 0600: state files hold session ids.
Result<void> write_file_atomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc | std::ios::binary);
    if (!out) return make_error("io", "cannot write " + tmp);
    out << text;
    out.flush();
    if (!out) return make_error("io", "cannot write " + tmp);
  }
  ::chmod(tmp.c_str(), 0600);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return make_error("io", "cannot rename " + tmp + " to " + path + ": " + ec.message());
  return {};
}

}  // namespace

int serve(const ServeArgs& args) {
  isync::Log log(isync::Level::info);
  auto fail = [&](const std::string& message) {
    log.error(message);
    return kExitFailed;
  };
  auto gw = parse_listen(args.gateway_listen);
  if (!gw) return usage_error("--gateway-listen: " + gw.error().message);
  auto ctl = parse_listen(args.control_listen);
  if (!ctl) return usage_error("--control-listen: " + ctl.error().message);
  auto duration = parse_duration(args.session_duration);
  if (!duration) return usage_error("--session-duration: " + duration.error().message);
  auto sender_password = secret_from(args.sender_password_file, "INTACCT_SANDBOX_SENDER_PASSWORD",
                                     "sender password", "--sender-password-file");
  if (!sender_password) return usage_error(sender_password.error().message);
  auto user_password = secret_from(args.user_password_file, "INTACCT_SANDBOX_USER_PASSWORD",
                                   "user password", "--user-password-file");
  if (!user_password) return usage_error(user_password.error().message);

  isync::sandbox::ServerOptions so;
  so.gateway_address = gw->first;
  so.control_address = ctl->first;
  auto gw_port = pick_port(gw->first, gw->second);
  if (!gw_port) return fail(gw_port.error().message);
  so.gateway_port = *gw_port;
  so.control_port = ctl->second;
  if (!args.control_token_file.empty()) {
    auto t = read_value_file(args.control_token_file, "control token");
    if (!t) return usage_error(t.error().message);
    so.control_token = isync::Secret(*t);
  }
  so.events.url = args.events_url;
  if (!args.events_url_file.empty()) {
    auto u = read_value_file(args.events_url_file, "events URL");
    if (!u) return usage_error(u.error().message);
    so.events.url = *u;
  }
  if (!args.events_token_file.empty()) {
    auto t = read_value_file(args.events_token_file, "events token");
    if (!t) return usage_error(t.error().message);
    so.events.bearer_token = isync::Secret(*t);
  }
  so.events.snapshot = args.events_snapshot;
  auto push = isync::sandbox::parse_push_mode(args.push);
  if (!push) return usage_error("--push: expected smart-events, triggers or both");
  so.push = *push;
  so.triggers.url = args.triggers_url;
  if (!args.triggers_url_file.empty()) {
    auto u = read_value_file(args.triggers_url_file, "triggers URL");
    if (!u) return usage_error(u.error().message);
    so.triggers.url = *u;
  }
  auto trigger_secret = secret_from(args.trigger_secret_file, "INTACCT_SANDBOX_TRIGGER_SECRET",
                                    "trigger client secret", "--trigger-secret-file");
  if (trigger_secret) {
    so.triggers.client_secret = isync::Secret(*trigger_secret);
  } else if (!so.triggers.url.empty()) {
    return usage_error(trigger_secret.error().message);
  }
  if (!args.trigger_client_id.empty()) so.triggers.client_id = args.trigger_client_id;
  so.triggers.company = args.trigger_company.empty() ? args.company_id : args.trigger_company;
  so.triggers.bare = args.trigger_token == "bare";
  so.triggers.idempotency_header = args.trigger_idempotency_header;
  so.triggers.retry_scale = args.trigger_retry_scale;
  so.triggers.snapshot = args.events_snapshot;

  isync::sandbox::Options co;
  co.credentials = {args.sender_id, *sender_password, args.company_id, args.user_id,
                    *user_password};
  std::string host = gw->first.find(':') != std::string::npos ? "[" + gw->first + "]" : gw->first;
  co.endpoint_url =
      args.endpoint_url.empty()
          ? "http://" + host + ":" + std::to_string(so.gateway_port) + "/ia/xml/xmlgw.phtml"
          : args.endpoint_url;
  co.session_duration = *duration;
  co.payment_batch_required = args.payment_batch_required;
  co.unique_payment_numbers = args.unique_payment_numbers;
  co.seed = args.seed;

  isync::SystemClock clock;
  isync::sandbox::Company company(co, clock);
  if (!args.state_file.empty() && std::filesystem::exists(args.state_file)) {
    auto text = read_value_file(args.state_file, "state");
    if (!text) return fail(text.error().message);
    if (auto r = company.load_snapshot_json(*text); !r) {
      return fail("state file " + args.state_file + ": " + r.error().message);
    }
    log.info("state loaded", isync::LogLine().str("state_file", args.state_file));
  } else {
    company.seed_demo(args.demo_customers, args.demo_invoices, args.seed);
  }
  if (so.events.url.empty()) {
    log.warn("no --events-url: changes are not posted as smart events (counted as dropped)");
  }
  auto save_state = [&] {
    if (args.state_file.empty()) return;
    if (auto r = write_file_atomically(args.state_file, company.snapshot_json()); !r) {
      log.error("cannot save the state", isync::LogLine().str("error", r.error().message));
    }
  };

  asio::io_context ioc;
  auto guard = asio::make_work_guard(ioc);
  isync::sandbox::Server server(ioc.get_executor(), company, so, log);
  if (auto r = server.start(); !r) return fail(r.error().message);
  if (!args.port_file.empty()) {
    auto ports =
        std::to_string(server.gateway_port()) + " " + std::to_string(server.control_port()) + "\n";
    if (auto r = write_file_atomically(args.port_file, ports); !r) return fail(r.error().message);
  }

  std::mutex mu;
  std::condition_variable cv;
  bool stop_requested = false;
  bool stopped = false;
  asio::signal_set signals(ioc, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    log.info("stopping", isync::LogLine().num("signal", signo));
    std::lock_guard lock(mu);
    stop_requested = true;
    cv.notify_all();
  });
  std::vector<std::thread> threads;
  for (int i = 0; i < std::max(1, args.threads); ++i) threads.emplace_back([&] { ioc.run(); });

  // This thread saves the state (blocking file I/O stays off the io threads).
  {
    std::unique_lock lock(mu);
    while (!stop_requested) {
      if (!cv.wait_for(lock, kSaveEvery, [&] { return stop_requested; })) {
        lock.unlock();
        save_state();
        lock.lock();
      }
    }
  }
  server.stop([&] {
    std::lock_guard lock(mu);
    stopped = true;
    cv.notify_all();
  });
  {
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, so.drain_timeout + kStopMargin, [&] { return stopped; })) {
      log.warn("stop: drain did not finish in time");
    }
  }
  auto events = server.poster_stats();
  auto triggers = server.trigger_stats();
  save_state();
  signals.cancel();
  guard.reset();
  ioc.stop();
  for (auto& t : threads) t.join();
  log.info("stopped", isync::LogLine()
                          .num("events_posted", events.posted)
                          .num("events_failed", events.failed)
                          .num("events_dropped", events.dropped)
                          .num("events_unsent", events.queued)
                          .num("triggers_posted", triggers.posted)
                          .num("triggers_failed", triggers.failed)
                          .num("triggers_retried", triggers.retried)
                          .num("triggers_unsent", triggers.queued));
  return kExitOk;
}

}  // namespace isync::sandbox::detail
