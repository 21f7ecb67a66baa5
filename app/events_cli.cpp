// intacct-sync events list|show|replay|discard|jobs|cancel and records show:
// the on-call verbs, against Redis through oncall::Engine, in this process.
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <future>
#include <memory>
#include <optional>
#include <thread>

#include "app/events_text.hpp"
#include "app/service.hpp"
#include "app/wiring.hpp"
#include "handlers/handlers.hpp"
#include "oncall/http.hpp"
#include "oncall/oncall.hpp"

namespace isync::app {

namespace asio = boost::asio;

namespace {

constexpr std::chrono::seconds kPlainEvery{5};
constexpr std::chrono::milliseconds kPollEvery{500};

int code_of(const Error& e) {
  if (e.code == "not_found") return kEventsNotFound;
  if (e.code == "invalid_state" || e.code.rfind("payment_", 0) == 0) return kEventsRefused;
  return kEventsError;
}

std::string os_user() {
  for (const char* name : {"USER", "LOGNAME"}) {
    if (const char* v = std::getenv(name); v != nullptr && *v != '\0') return v;
  }
  if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr && pw->pw_name != nullptr) {
    return pw->pw_name;
  }
  return "uid:" + std::to_string(::geteuid());
}

// "CUSTOMER" or "customers" → "customers" (the mirror's collection); "" else.
std::string collection_of(const std::string& object) {
  if (object == "CUSTOMER" || object == "customers") return "customers";
  if (object == "ARINVOICE" || object == "invoices") return "invoices";
  if (object == "ARPYMT" || object == "payments") return "payments";
  return {};
}

// The filter options as the list's query would take them.
Result<oncall::ListQuery> list_query(const EventsArgs& a, const std::vector<std::string>& tenants,
                                     bool paging) {
  oncall::ListQuery q;
  const std::pair<const char*, const std::string*> given[] = {
      {"tenant", &a.tenant}, {"state", &a.state}, {"object", &a.object}, {"key", &a.key},
      {"error", &a.error},   {"since", &a.since}, {"until", &a.until},   {"cursor", &a.cursor}};
  for (const auto& [name, value] : given) {
    if (value->empty()) continue;
    if (!paging && std::string_view(name) == "cursor") continue;
    if (auto r = oncall::set_list_field(q, name, *value, tenants); !r) return r.error();
  }
  if (paging && a.limit != 0) {
    if (auto r = oncall::set_list_field(q, "limit", std::to_string(a.limit), tenants); !r) {
      return r.error();
    }
  }
  if (auto r = oncall::check_list_query(q); !r) return r.error();
  return q;
}

Result<oncall::ActionRequest> action_request(const EventsArgs& a,
                                             const std::vector<std::string>& tenants) {
  oncall::ActionRequest r;
  r.action = a.verb == "replay" ? oncall::Action::replay : oncall::Action::discard;
  const bool filter_options = !a.tenant.empty() || !a.state.empty() || !a.object.empty() ||
                              !a.key.empty() || !a.error.empty() || !a.since.empty() ||
                              !a.until.empty();
  if (a.filter) {
    if (!a.ids.empty()) return Error{"usage", "give event ids or --filter, not both"};
    if (a.tenant.empty())
      return Error{"usage", "--filter needs --tenant (a job belongs to one tenant)"};
    auto q = list_query(a, tenants, false);
    if (!q) return q.error();
    r.tenant = q->tenant;
    r.filter = q->filter;
  } else {
    if (a.ids.empty())
      return Error{"usage", "give one or more event ids, or --filter with --tenant"};
    if (filter_options) {
      return Error{"usage",
                   "--tenant, --state, --object, --key, --error, --since and --until "
                   "select events with --filter; add --filter or drop them"};
    }
    for (const auto& id : a.ids) {
      if (!oncall::plausible_id(id)) return Error{"usage", "\"" + id + "\" is not an event id"};
    }
    r.ids = a.ids;
  }
  for (const auto& s : a.set) {
    auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Error{"usage", "--set takes FIELD=VALUE (INVOICE=… or CUSTOMER=…), not \"" + s + "\""};
    }
    std::string field = s.substr(0, eq);
    for (auto& c : field) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    r.set.emplace_back(std::move(field), s.substr(eq + 1));
  }
  r.dry_run = a.dry_run;
  r.settled_by_hand = a.settled_by_hand;
  r.reason = a.reason;
  r.actor = a.actor.empty() ? os_user() : a.actor;
  if (auto ok = oncall::check_action(r, tenants); !ok) return ok.error();
  return r;
}

// A connection and an engine on one io thread, for the length of a command.
class Rig {
 public:
  Rig(const config::Config& cfg, const redis::Endpoint& endpoint, std::vector<std::string> tenants,
      Log& log)
      : tenants_(std::move(tenants)), log_(log), guard_(asio::make_work_guard(ioc_)) {
    auto options = detail::redis_options(cfg, "isync-events-cli");
    limit_ = options.connect_timeout + 3 * options.command_timeout;
    conn_ = redis::Connection::create(ioc_.get_executor(), endpoint, options);
    conn_->start();
    engine_ =
        std::make_unique<oncall::Engine>(conn_, tenants_, detail::oncall_options(cfg), clock_);
    io_ = std::thread([this] { ioc_.run(); });
  }
  ~Rig() {
    asio::post(ioc_, [this] {
      conn_->close();
      guard_.reset();
    });
    auto joined = std::async(std::launch::async, [this] { io_.join(); });
    if (joined.wait_for(std::chrono::seconds(10)) != std::future_status::ready) ioc_.stop();
    joined.wait();
  }
  Rig(const Rig&) = delete;
  Rig& operator=(const Rig&) = delete;

  bool connect() {
    const auto by = std::chrono::steady_clock::now() + limit_;
    while (!conn_->connected() && std::chrono::steady_clock::now() < by) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return conn_->connected();
  }

  // Runs `start` on the io thread and waits for its answer, at most a few
  // Redis deadlines; nullopt when none came.
  template <class T>
  std::optional<Result<T>> ask(std::function<void(std::function<void(Result<T>)>)> start) {
    auto promise = std::make_shared<std::promise<Result<T>>>();
    auto future = promise->get_future();
    asio::post(ioc_, [start = std::move(start), promise] {
      start([promise](Result<T> r) { promise->set_value(std::move(r)); });
    });
    if (future.wait_for(4 * limit_) != std::future_status::ready) return std::nullopt;
    return future.get();
  }

  asio::io_context& ioc() { return ioc_; }
  oncall::Engine& engine() { return *engine_; }
  const std::shared_ptr<redis::Connection>& conn() const { return conn_; }
  const std::vector<std::string>& tenants() const { return tenants_; }
  std::chrono::milliseconds limit() const { return limit_; }
  Clock& clock() { return clock_; }
  Log& log() { return log_; }

 private:
  std::vector<std::string> tenants_;
  Log& log_;
  SystemClock clock_;
  asio::io_context ioc_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::chrono::milliseconds limit_{0};
  std::shared_ptr<redis::Connection> conn_;
  std::unique_ptr<oncall::Engine> engine_;
  std::thread io_;
};

// Prints the error of a call, or that none came in time; returns the exit code.
template <class T>
int failed(const std::optional<Result<T>>& r, const config::Config& cfg, std::ostream& err) {
  if (!r) {
    err << "intacct-sync: Redis at " << cfg.redis.display_url << " did not answer in time\n";
    return kEventsError;
  }
  err << "intacct-sync: " << r->error().message << "\n";
  return code_of(r->error());
}

// Steps the job in this process and prints its progress until it ends or
// Ctrl-C.
int follow(Rig& rig, const config::Config& cfg, const std::string& job_id, bool json,
           std::ostream& out, std::ostream& err, bool terminal) {
  std::ostream& progress = json ? err : out;
  oncall::JobRunner::Settings settings;
  settings.tick = std::chrono::milliseconds(200);
  settings.sweep_every = std::chrono::milliseconds(0);
  settings.only_job = job_id;
  oncall::JobRunner runner(rig.ioc().get_executor(), rig.conn(), rig.tenants(),
                           detail::oncall_options(cfg), settings, rig.clock(), rig.log());
  std::atomic<bool> interrupted{false};
  asio::signal_set signals(rig.ioc(), SIGINT, SIGTERM);
  asio::post(rig.ioc(), [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int) {
      if (!ec) interrupted = true;
    });
    runner.start();
  });

  std::optional<oncall::Job> last;
  int code = kEventsOk;
  auto last_plain = std::chrono::steady_clock::now() - kPlainEvery;
  while (!interrupted) {
    auto r = rig.ask<oncall::Job>([&](auto done) { rig.engine().job(job_id, std::move(done)); });
    if (r && *r) {
      last = **r;
      if (last->state != "running") {
        if (terminal && !json) out << "\r\x1b[2K" << std::flush;
        break;
      }
      const auto now = std::chrono::steady_clock::now();
      if (terminal && !json) {
        out << "\r\x1b[2K" << detail::job_progress(*last) << std::flush;
      } else if (now - last_plain >= kPlainEvery) {
        progress << detail::job_progress(*last) << "\n" << std::flush;
        last_plain = now;
      }
    } else if (r) {
      err << "intacct-sync: job " << job_id << ": " << r->error().message << "\n";
    }
    for (auto waited = std::chrono::milliseconds(0); waited < kPollEvery && !interrupted;
         waited += std::chrono::milliseconds(50)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  // Stop stepping (a step in flight finishes) and the signal wait.
  auto stopped = std::make_shared<std::promise<void>>();
  asio::post(rig.ioc(), [&, stopped] {
    signals.cancel();
    runner.stop([stopped] { stopped->set_value(); });
  });
  stopped->get_future().wait_for(std::chrono::seconds(10));

  if (interrupted) {
    if (terminal && !json) out << "\n";
    err << "intacct-sync: stopped following job " << job_id
        << "; it goes on in the serve processes (see it: intacct-sync events jobs"
        << (last ? " --tenant " + last->tenant : std::string()) << "; stop it: intacct-sync events "
        << "cancel " << job_id << ")\n";
    code = kEventsInterrupted;
  } else if (last && last->state != "done") {
    err << "intacct-sync: job " << job_id << " was " << last->state << "\n";
    code = kEventsRefused;
  }
  if (last) out << (json ? oncall::to_json(*last) + "\n" : detail::job_text(*last));
  return code;
}

int act(Rig& rig, const config::Config& cfg, oncall::ActionRequest request, bool json,
        std::ostream& out, std::ostream& err, bool terminal) {
  const auto action = request.action;
  auto r = rig.ask<oncall::ActionAnswer>(
      [&](auto done) { rig.engine().act(std::move(request), std::move(done)); });
  if (!r || !*r) return failed(r, cfg, err);
  const auto& answer = **r;
  if (answer.job_id.empty()) {
    out << (json ? oncall::to_json(answer, action) + "\n" : detail::answer_text(answer, action));
    return kEventsOk;
  }
  if (!json) out << detail::answer_text(answer, action) << std::flush;
  return follow(rig, cfg, answer.job_id, json, out, err, terminal);
}

int run(Rig& rig, const config::Config& cfg, const EventsArgs& a, std::ostream& out,
        std::ostream& err, bool terminal) {
  auto& engine = rig.engine();
  if (a.verb == "list") {
    auto q = list_query(a, rig.tenants(), true);
    auto r = rig.ask<queue::EventPage>([&](auto done) {
      engine.list(q->tenant, q->filter, q->limit, q->cursor, std::move(done));
    });
    if (!r || !*r) return failed(r, cfg, err);
    out << (a.json ? oncall::to_json(**r) + "\n" : detail::page_text(**r));
    return kEventsOk;
  }
  if (a.verb == "show") {
    auto r = rig.ask<oncall::EventDetail>(
        [&](auto done) { engine.show(a.tenant, a.ids.front(), std::move(done)); });
    if (!r || !*r) return failed(r, cfg, err);
    out << (a.json ? oncall::to_json(**r) + "\n" : detail::detail_text(**r));
    return kEventsOk;
  }
  if (a.verb == "replay" || a.verb == "discard") {
    return act(rig, cfg, *action_request(a, rig.tenants()), a.json, out, err, terminal);
  }
  if (a.verb == "jobs") {
    auto r = rig.ask<std::vector<oncall::Job>>(
        [&](auto done) { engine.jobs(a.tenant, std::move(done)); });
    if (!r || !*r) return failed(r, cfg, err);
    out << (a.json ? oncall::to_json(**r) + "\n" : detail::jobs_text(**r));
    return kEventsOk;
  }
  if (a.verb == "cancel") {
    auto r =
        rig.ask<oncall::Job>([&](auto done) { engine.cancel(a.ids.front(), std::move(done)); });
    if (!r || !*r) return failed(r, cfg, err);
    out << (a.json ? oncall::to_json(**r) + "\n" : detail::job_text(**r));
    return kEventsOk;
  }
  // records-show
  auto reader = std::make_shared<handlers::MirrorReader>(rig.conn());
  const std::string collection = collection_of(a.record_object);
  auto r = rig.ask<std::string>(
      [&](auto done) { reader->get(a.tenant, collection, a.record_key, std::move(done)); });
  if (!r || !*r) {
    if (r && !*r && r->error().code == "not_found") {
      err << "intacct-sync: tenant " << a.tenant << " has no " << a.record_object << " "
          << a.record_key << " in the mirror\n";
      return kEventsNotFound;
    }
    return failed(r, cfg, err);
  }
  out << (a.json ? **r + "\n" : detail::record_text(**r));
  return kEventsOk;
}

// The arguments' checks that need no Redis; an error message, or "".
std::string check_args(const EventsArgs& a, const std::vector<std::string>& tenants) {
  if (!a.tenant.empty() && std::find(tenants.begin(), tenants.end(), a.tenant) == tenants.end()) {
    return "--tenant: no tenant \"" + a.tenant + "\" is configured";
  }
  if (a.verb == "list") {
    auto q = list_query(a, tenants, true);
    return q ? std::string() : q.error().message;
  }
  if (a.verb == "show" || a.verb == "cancel") {
    if (a.ids.size() != 1 || !oncall::plausible_id(a.ids.front())) {
      return a.verb == "show" ? "give one event id" : "give one job id";
    }
    return {};
  }
  if (a.verb == "replay" || a.verb == "discard") {
    auto r = action_request(a, tenants);
    return r ? std::string() : r.error().message;
  }
  if (a.verb == "records-show") {
    if (collection_of(a.record_object).empty()) {
      return "OBJECT must be CUSTOMER, ARINVOICE or ARPYMT (or customers, invoices, payments)";
    }
    if (a.tenant.empty()) return "--tenant is required";
    if (a.record_key.empty()) return "give the record's KEY (its RECORDNO)";
  }
  return {};
}

}  // namespace

int events(const config::Config& cfg, const EventsArgs& args, std::ostream& out, std::ostream& err,
           bool terminal) {
  std::vector<std::string> tenants;
  for (const auto& t : cfg.tenants) tenants.push_back(t.id);
  if (auto problem = check_args(args, tenants); !problem.empty()) {
    err << "intacct-sync: " << problem << "\n";
    return kEventsError;
  }
  auto endpoint = redis::parse_url(cfg.redis.url.reveal());
  if (!endpoint) {
    err << "intacct-sync: redis.url is not a valid redis:// URL (" << cfg.redis.display_url
        << ")\n";
    return kEventsError;
  }
  Log log(args.log_level ? *args.log_level : std::max(cfg.log.level, Level::warn));
  Rig rig(cfg, *endpoint, tenants, log);
  if (!rig.connect()) {
    err << "intacct-sync: cannot reach Redis at " << cfg.redis.display_url << " within "
        << rig.limit().count() << " ms; is it running?\n";
    return kEventsError;
  }
  return run(rig, cfg, args, out, err, terminal);
}

}  // namespace isync::app
