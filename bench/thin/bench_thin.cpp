// bench-thin: the thin-event path end to end. A change is made in the
// intacct-sandbox company through its control API; the bench then posts the
// thin smart event Intacct would post (object, action, recordno,
// whenmodified) to intacct-sync, whose workers read the record back from the
// sandbox's XML gateway into the mirror. The bench delivers the events itself
// (the sandbox has no events URL) so that it can redeliver them and hold some
// back to arrive out of order, as Intacct's HTTP post does.
//
// It starts its own redis-server (AOF, appendfsync always), the sandbox with a
// demo company and the service; makes the changes at a fixed rate; waits for
// the queue to drain; checks that every changed record holds its last change
// in the mirror; and prints the Intacct reads the events cost and the
// change-to-mirror latency taken from the mirror's audit trail.
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/json.hpp"

extern char** environ;

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::ip::tcp;
using Steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr const char* kTenant = "bench";
constexpr const char* kSenderId = "intacct-sync-bench";
constexpr const char* kCompanyId = "BENCH-CO";
constexpr const char* kUserId = "ws_bench";
constexpr auto kRequestTimeout = 10s;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// A random hex token for the secrets the three processes share; never printed.
std::string random_token() {
  std::random_device rd;
  std::string out;
  for (int i = 0; i < 24; ++i) {
    char buf[3];
    std::snprintf(buf, sizeof buf, "%02x", rd() & 0xff);
    out += buf;
  }
  return out;
}

std::string form_encode(std::string_view s) {
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else if (c == ' ') {
      out += '+';
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", u);
      out += buf;
    }
  }
  return out;
}

// "MM/DD/YYYY HH:MM:SS" (UTC) -> epoch seconds.
std::optional<std::int64_t> parse_whenmodified(const std::string& s) {
  std::tm tm{};
  if (std::sscanf(s.c_str(), "%d/%d/%d %d:%d:%d", &tm.tm_mon, &tm.tm_mday, &tm.tm_year, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec) != 6)
    return std::nullopt;
  tm.tm_mon -= 1;
  tm.tm_year -= 1900;
  return static_cast<std::int64_t>(timegm(&tm));
}

// "YYYY-MM-DDTHH:MM:SS.mmmZ" -> epoch milliseconds.
std::optional<std::int64_t> parse_iso_ms(const std::string& s) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
    return std::nullopt;
  tm.tm_mon -= 1;
  tm.tm_year -= 1900;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000 + ms;
}

// ---- child processes ----------------------------------------------------------------

std::uint16_t free_port() {
  asio::io_context ioc;
  tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

// A process with its output in a log file; stopped with SIGTERM (then
// SIGKILL after 30 s) when destroyed.
class Process {
 public:
  Process(std::vector<std::string> args, const std::string& log_path,
          const std::vector<std::string>& extra_env = {}) {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> envp, argv;
    for (auto& s : env) envp.push_back(s.data());
    envp.push_back(nullptr);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    int rc = posix_spawnp(&pid_, argv[0], &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot start " + args[0]);
  }
  ~Process() { stop(); }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 300; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(100ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  bool running() { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  pid_t pid_ = -1;
};

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
  auto until = Steady::now() + limit;
  while (Steady::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

// ---- HTTP and Redis clients ---------------------------------------------------------

struct Response {
  int status = 0;  // 0: no answer (connect, write or read failed, or timed out)
  std::string body;
};

// One keep-alive connection to 127.0.0.1:port; one request at a time, each
// with a deadline over write and read.
class HttpClient {
 public:
  explicit HttpClient(std::uint16_t port) : port_(port) {}

  Response request(http::verb method, const std::string& target, const std::string& body = {},
                   const std::string& content_type = {}, const std::string& bearer = {}) {
    // A reused connection the server closed while idle fails at once: one
    // more try on a fresh connection.
    for (int attempt = 0; attempt < 2; ++attempt) {
      const bool reused = stream_.has_value();
      auto r = once(method, target, body, content_type, bearer);
      if (r.status != 0 || !reused) return r;
    }
    return {};
  }

 private:
  Response once(http::verb method, const std::string& target, const std::string& body,
                const std::string& content_type, const std::string& bearer) {
    boost::system::error_code ec;
    if (!stream_) {
      stream_.emplace(ioc_);
      stream_->socket().connect({asio::ip::make_address("127.0.0.1"), port_}, ec);
      if (ec) {
        stream_.reset();
        return {};
      }
      stream_->socket().set_option(tcp::no_delay(true));
    }
    http::request<http::string_body> req(method, target, 11);
    req.set(http::field::host, "127.0.0.1");
    if (!content_type.empty()) req.set(http::field::content_type, content_type);
    if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
    req.body() = body;
    req.prepare_payload();
    req.keep_alive(true);
    http::response<http::string_body> res;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    bool ok = false;
    stream_->expires_after(kRequestTimeout);
    http::async_write(*stream_, req, [&](boost::system::error_code wec, std::size_t) {
      if (wec) return;
      http::async_read(*stream_, buffer_, parser,
                       [&](boost::system::error_code rec, std::size_t) { ok = !rec; });
    });
    ioc_.restart();
    ioc_.run();
    if (!ok) {
      stream_.reset();
      buffer_.clear();
      return {};
    }
    res = parser.release();
    if (!res.keep_alive()) {
      stream_.reset();
      buffer_.clear();
    }
    return {static_cast<int>(res.result_int()), std::move(res.body())};
  }

  std::uint16_t port_;
  asio::io_context ioc_;
  std::optional<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
};

class Redis {
 public:
  explicit Redis(std::uint16_t port) {
    timeval tv{5, 0};
    ctx_ = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (ctx_ == nullptr || ctx_->err) throw std::runtime_error("cannot connect to redis-server");
    redisSetTimeout(ctx_, tv);
  }
  ~Redis() {
    if (ctx_) redisFree(ctx_);
  }
  Redis(const Redis&) = delete;
  Redis& operator=(const Redis&) = delete;

  struct Reply {
    int type = REDIS_REPLY_NIL;
    long long integer = 0;
    std::string str;
    std::vector<Reply> elements;
  };

  Reply cmd(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(ctx_, static_cast<int>(args.size()), argv.data(), lens.data()));
    if (r == nullptr) throw std::runtime_error("redis-server did not answer " + args.front());
    Reply out = convert(r);
    freeReplyObject(r);
    if (out.type == REDIS_REPLY_ERROR)
      throw std::runtime_error("redis-server answered " + args.front() + ": " + out.str);
    return out;
  }

 private:
  static Reply convert(const redisReply* r) {
    Reply out;
    out.type = r->type;
    out.integer = r->integer;
    if (r->str) out.str.assign(r->str, r->len);
    for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
    return out;
  }
  redisContext* ctx_ = nullptr;
};

// A null document when the text does not parse.
rapidjson::Document parse_json(const std::string& text) {
  auto d = isync::json::parse(text, isync::json::kTrusted);
  return d ? std::move(*d) : rapidjson::Document();
}

std::string json_string(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject() || !obj.HasMember(name) || !obj[name].IsString()) return {};
  return {obj[name].GetString(), obj[name].GetStringLength()};
}

// ---- the run ------------------------------------------------------------------------

struct Options {
  std::string service_binary, sandbox_binary, workdir = "var/bench-thin";
  int deliveries = 10000;
  double redeliver = 0.30;  // share of all deliveries that are redeliveries
  double late = 0.10;       // share of first deliveries held back
  double rate = 300;        // changes per second
  std::uint64_t seed = 1;
  int post_threads = 8;
  int workers = 4;
  int concurrency = 2;        // tenant.concurrency: Intacct calls in flight
  int read_batch_window = 0;  // ms; 0 = the service's default
  bool read_at_once = false;  // intacct.read_after_settle = false
  int customers = 500, invoices = 2000;
  int drain_seconds = 120;
};

struct Target {
  std::string object;  // CUSTOMER | ARINVOICE
  std::int64_t recordno = 0;
};

// Which field a change sets: unique per change, so the mirror shows which
// change it holds.
const char* changed_field(const std::string& object) {
  return object == "CUSTOMER" ? "NAME" : "DOCNUMBER";
}

struct Change {
  std::size_t target = 0;
  std::string value;
  bool late = false;
  bool redelivered = false;
  // Filled by the change thread.
  bool made = false;
  std::int64_t t_ms = 0;  // system clock just before the PATCH was sent
  std::string whenmodified;
  std::int64_t version = 0;
  std::string body;
  // Filled by the first delivery.
  int status = 0;
  bool duplicate = false;
  std::string event_id;
};

struct Task {
  Steady::time_point due;
  std::size_t change = 0;
  bool redelivery = false;
  bool operator>(const Task& o) const { return due > o.due; }
};

struct Counts {
  std::int64_t deliveries = 0, accepted = 0, errors = 0;
  std::int64_t first_duplicate = 0;  // a first delivery answered "duplicate":true
  std::int64_t redeliveries = 0, redelivery_duplicate = 0;
  std::int64_t late = 0;
  std::int64_t patch_errors = 0;
};

class Driver {
 public:
  Driver(const Options& o, std::vector<Target> targets, std::uint16_t control_port,
         std::uint16_t public_port, std::string tenant_token)
      : o_(o),
        targets_(std::move(targets)),
        control_port_(control_port),
        public_port_(public_port),
        tenant_token_(std::move(tenant_token)) {}

  void plan() {
    std::mt19937_64 rng(o_.seed);
    const auto redeliveries =
        static_cast<std::size_t>(static_cast<double>(o_.deliveries) * o_.redeliver + 0.5);
    const auto distinct = static_cast<std::size_t>(o_.deliveries) - redeliveries;
    changes_.resize(distinct);
    std::uniform_int_distribution<std::size_t> pick(0, targets_.size() - 1);
    for (std::size_t i = 0; i < distinct; ++i) {
      changes_[i].target = pick(rng);
      const auto& t = targets_[changes_[i].target];
      changes_[i].value = (t.object == "CUSTOMER" ? "Bench customer " : "BENCH-") +
                          std::to_string(o_.seed) + "-" + std::to_string(i + 1);
    }
    std::vector<std::size_t> order(distinct);
    for (std::size_t i = 0; i < distinct; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t i = 0; i < std::min(redeliveries, distinct); ++i)
      changes_[order[i]].redelivered = true;
    std::shuffle(order.begin(), order.end(), rng);
    const auto late = static_cast<std::size_t>(static_cast<double>(distinct) * o_.late + 0.5);
    for (std::size_t i = 0; i < std::min(late, distinct); ++i) changes_[order[i]].late = true;
    // Delays drawn up front too, so a seed fixes the whole plan.
    late_delay_.resize(distinct);
    redelivery_delay_.resize(distinct);
    std::uniform_int_distribution<int> late_ms(500, 3000), again_ms(0, 3000);
    for (std::size_t i = 0; i < distinct; ++i) {
      late_delay_[i] = std::chrono::milliseconds(late_ms(rng));
      redelivery_delay_[i] = std::chrono::milliseconds(again_ms(rng));
    }
  }

  // Makes the changes at the rate and delivers their events; returns when
  // every delivery got its answer.
  void run() {
    start_ = Steady::now();
    std::vector<std::thread> posters;
    for (int i = 0; i < o_.post_threads; ++i) posters.emplace_back([this] { post_loop(); });
    change_loop();
    {
      std::lock_guard lock(mu_);
      changes_done_ = true;
    }
    cv_.notify_all();
    for (auto& t : posters) t.join();
    elapsed_ = std::chrono::duration<double>(Steady::now() - start_).count();
    change_elapsed_ = std::chrono::duration<double>(changes_end_ - start_).count();
  }

  const std::vector<Change>& changes() const { return changes_; }
  const std::vector<Target>& targets() const { return targets_; }
  const Counts& counts() const { return counts_; }
  double elapsed() const { return elapsed_; }
  double change_elapsed() const { return change_elapsed_; }

 private:
  void change_loop() {
    HttpClient control(control_port_);
    for (std::size_t i = 0; i < changes_.size(); ++i) {
      auto due = start_ + std::chrono::nanoseconds(
                              static_cast<std::int64_t>(static_cast<double>(i) * 1e9 / o_.rate));
      std::this_thread::sleep_until(due);
      auto& c = changes_[i];
      const auto& t = targets_[c.target];
      std::string fields =
          std::string("{\"fields\":{\"") + changed_field(t.object) + "\":\"" + c.value + "\"}}";
      c.t_ms = now_ms();
      auto r = control.request(http::verb::patch,
                               "/v1/records/" + t.object + "/" + std::to_string(t.recordno), fields,
                               "application/json");
      auto doc = parse_json(r.body);
      std::string wm;
      if (r.status == 200 && doc.IsObject() && doc.HasMember("fields"))
        wm = json_string(doc["fields"], "WHENMODIFIED");
      auto version = parse_whenmodified(wm);
      if (!version) {
        std::lock_guard lock(mu_);
        ++counts_.patch_errors;
        if (counts_.patch_errors <= 3)
          std::fprintf(stderr, "PATCH %s %lld answered %d: %.200s\n", t.object.c_str(),
                       static_cast<long long>(t.recordno), r.status, r.body.c_str());
        continue;
      }
      c.whenmodified = wm;
      c.version = *version;
      c.body = "object=" + t.object + "&action=set&recordno=" + std::to_string(t.recordno) +
               "&whenmodified=" + form_encode(wm);
      c.made = true;
      {
        std::lock_guard lock(mu_);
        auto when = Steady::now();
        if (c.late) {
          when += late_delay_[i];
          ++counts_.late;
        }
        tasks_.push({when, i, false});
      }
      cv_.notify_one();
    }
    changes_end_ = Steady::now();
  }

  void post_loop() {
    HttpClient client(public_port_);
    const std::string target =
        std::string("/v1/intacct/") + kTenant + "/events?token=" + tenant_token_;
    std::unique_lock lock(mu_);
    while (true) {
      if (tasks_.empty()) {
        if (changes_done_ && in_flight_ == 0) break;
        cv_.wait_for(lock, 50ms);
        continue;
      }
      auto due = tasks_.top().due;
      if (Steady::now() < due) {
        cv_.wait_until(lock, due);
        continue;
      }
      Task task = tasks_.top();
      tasks_.pop();
      ++in_flight_;
      std::string body = changes_[task.change].body;
      lock.unlock();
      auto r = client.request(http::verb::post, target, body, "application/x-www-form-urlencoded");
      auto doc = parse_json(r.body);
      const bool dup = r.status == 202 && doc.IsObject() && doc.HasMember("duplicate") &&
                       doc["duplicate"].IsBool() && doc["duplicate"].GetBool();
      lock.lock();
      --in_flight_;
      ++counts_.deliveries;
      if (r.status == 202) {
        ++counts_.accepted;
      } else {
        ++counts_.errors;
        if (counts_.errors <= 3)
          std::fprintf(stderr, "POST answered %d: %.200s\n", r.status, r.body.c_str());
      }
      auto& c = changes_[task.change];
      if (task.redelivery) {
        ++counts_.redeliveries;
        if (dup) ++counts_.redelivery_duplicate;
      } else {
        c.status = r.status;
        c.duplicate = dup;
        c.event_id = json_string(doc, "event_id");
        if (dup) ++counts_.first_duplicate;
        if (c.redelivered) {
          tasks_.push({Steady::now() + redelivery_delay_[task.change], task.change, true});
          cv_.notify_one();
        }
      }
      if (tasks_.empty() && changes_done_ && in_flight_ == 0) cv_.notify_all();
    }
  }

  const Options& o_;
  std::vector<Target> targets_;
  std::uint16_t control_port_, public_port_;
  std::string tenant_token_;
  std::vector<Change> changes_;
  std::vector<std::chrono::milliseconds> late_delay_, redelivery_delay_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<Task, std::vector<Task>, std::greater<>> tasks_;
  bool changes_done_ = false;
  int in_flight_ = 0;
  Counts counts_;
  Steady::time_point start_, changes_end_;
  double elapsed_ = 0, change_elapsed_ = 0;
};

// Every record of `object` in the sandbox (paged through the control API);
// draft invoices are left out, since the mirror does not keep drafts.
std::vector<Target> list_records(HttpClient& control, const std::string& object) {
  std::vector<Target> out;
  std::int64_t after = 0;
  for (int page = 0; page < 1000; ++page) {
    auto r = control.request(http::verb::get, "/v1/records/" + object + "?after=" +
                                                  std::to_string(after) + "&limit=1000");
    if (r.status != 200)
      throw std::runtime_error("listing " + object + " answered " + std::to_string(r.status) +
                               ": " + r.body);
    auto doc = parse_json(r.body);
    if (!doc.IsObject() || !doc.HasMember("records") || !doc["records"].IsArray())
      throw std::runtime_error("listing " + object + ": unexpected answer");
    const auto& records = doc["records"];
    if (records.Empty()) break;
    for (const auto& rec : records.GetArray()) {
      after = rec["recordno"].GetInt64();
      if (object == "ARINVOICE" && json_string(rec["fields"], "STATE") == "Draft") continue;
      out.push_back({object, after});
    }
  }
  return out;
}

// `name{labels} value` lines of one metric, summed by one label.
std::map<std::string, double> metric_by(const std::string& text, const std::string& name,
                                        const std::string& label) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + "{", 0) != 0) continue;
    auto close = line.find('}');
    if (close == std::string::npos) continue;
    std::string labels = line.substr(name.size() + 1, close - name.size() - 1);
    auto at = labels.find(label + "=\"");
    if (at == std::string::npos) continue;
    auto start = at + label.size() + 2;
    auto value = labels.substr(start, labels.find('"', start) - start);
    out[value] += std::stod(line.substr(close + 1));
  }
  return out;
}

std::string rkey(const std::string& suffix) {
  return std::string("isync:{") + kTenant + "}:" + suffix;
}

struct QueueState {
  long long stream = 0, pending = 0, retry = 0, parked = 0, dead = 0;
  long long recheck = 0;  // records whose (deferred) read is still due
  bool drained() const { return stream == 0 && pending == 0 && retry == 0 && recheck == 0; }
};

QueueState queue_state(Redis& redis) {
  QueueState q;
  q.stream = redis.cmd({"XLEN", rkey("events")}).integer;
  try {
    auto p = redis.cmd({"XPENDING", rkey("events"), "isync-workers"});
    if (!p.elements.empty()) q.pending = p.elements[0].integer;
  } catch (const std::exception&) {
    q.pending = 0;  // no group yet: nothing was ever read
  }
  q.retry = redis.cmd({"ZCARD", rkey("retry")}).integer;
  q.recheck = redis.cmd({"ZCARD", rkey("recheck")}).integer;
  q.parked = redis.cmd({"ZCARD", rkey("parked")}).integer;
  q.dead = redis.cmd({"ZCARD", rkey("dead")}).integer;
  return q;
}

struct AuditEntry {
  std::int64_t at_ms = 0;
  std::int64_t version = 0;
  std::string event_id, result;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"bench-thin: thin smart events from sandbox changes to the mirror"};
  Options o;
#ifdef INTACCT_SYNC_BINARY
  o.service_binary = INTACCT_SYNC_BINARY;
#else
  o.service_binary = "intacct-sync";
#endif
#ifdef INTACCT_SANDBOX_BINARY
  o.sandbox_binary = INTACCT_SANDBOX_BINARY;
#else
  o.sandbox_binary = "intacct-sandbox";
#endif
  cli.add_option("--binary", o.service_binary, "the intacct-sync executable");
  cli.add_option("--sandbox-binary", o.sandbox_binary, "the intacct-sandbox executable");
  cli.add_option("--workdir", o.workdir, "Redis data and logs (ordinary disk, not tmpfs)");
  cli.add_option("--deliveries", o.deliveries, "event posts in total, redeliveries included")
      ->check(CLI::Range(10, 1'000'000));
  cli.add_option("--redeliver", o.redeliver, "share of the deliveries that redeliver an event")
      ->check(CLI::Range(0.0, 0.9));
  cli.add_option("--late", o.late, "share of first deliveries held back 0.5-3 s")
      ->check(CLI::Range(0.0, 1.0));
  cli.add_option("--rate", o.rate, "changes per second")->check(CLI::Range(1.0, 5000.0));
  cli.add_option("--seed", o.seed, "seed of the plan (records, values, chaos)");
  cli.add_option("--post-threads", o.post_threads, "threads posting events")
      ->check(CLI::Range(1, 64));
  cli.add_option("--workers", o.workers, "queue.workers of the service")->check(CLI::Range(1, 64));
  cli.add_option("--concurrency", o.concurrency, "tenant.concurrency: Intacct calls in flight")
      ->check(CLI::Range(1, 64));
  cli.add_flag("--read-at-once", o.read_at_once,
               "intacct.read_after_settle = false: read at once, again after the second settles");
  cli.add_option("--read-batch-window-ms", o.read_batch_window,
                 "intacct.read_batch_window of the service; 0 = its default")
      ->check(CLI::Range(0, 10000));
  cli.add_option("--customers", o.customers, "demo customers")->check(CLI::Range(1, 100000));
  cli.add_option("--invoices", o.invoices, "demo invoices")->check(CLI::Range(0, 1000000));
  cli.add_option("--drain-seconds", o.drain_seconds, "longest wait for the queue to drain")
      ->check(CLI::Range(1, 3600));
  CLI11_PARSE(cli, argc, argv);

  try {
    std::filesystem::remove_all(o.workdir + "/redis");
    std::filesystem::create_directories(o.workdir + "/redis");
    const std::string workdir = std::filesystem::canonical(o.workdir).string();

    const std::string tenant_token = random_token(), admin_token = random_token(),
                      sender_password = random_token(), user_password = random_token();

    const auto redis_port = free_port();
    Process redis_server(
        {"redis-server", "--port", std::to_string(redis_port), "--bind", "127.0.0.1", "--dir",
         workdir + "/redis", "--save", "", "--appendonly", "yes", "--appendfsync", "always",
         "--maxmemory-policy", "noeviction", "--daemonize", "no"},
        workdir + "/redis.log");
    std::unique_ptr<Redis> redis;
    wait_until(
        [&] {
          try {
            redis = std::make_unique<Redis>(redis_port);
            return redis->cmd({"PING"}).str == "PONG";
          } catch (const std::exception&) {
            redis.reset();
            return false;
          }
        },
        10s);
    if (!redis)
      throw std::runtime_error("redis-server did not start; see " + workdir + "/redis.log");

    const std::string ports_file = workdir + "/sandbox.ports";
    std::filesystem::remove(ports_file);
    Process sandbox({o.sandbox_binary,   "serve",
                     "--gateway-listen", "127.0.0.1:0",
                     "--control-listen", "127.0.0.1:0",
                     "--sender-id",      kSenderId,
                     "--company-id",     kCompanyId,
                     "--user-id",        kUserId,
                     "--demo-customers", std::to_string(o.customers),
                     "--demo-invoices",  std::to_string(o.invoices),
                     "--seed",           std::to_string(o.seed),
                     "--port-file",      ports_file},
                    workdir + "/sandbox.log",
                    {"INTACCT_SANDBOX_SENDER_PASSWORD=" + sender_password,
                     "INTACCT_SANDBOX_USER_PASSWORD=" + user_password});
    std::uint16_t gateway_port = 0, control_port = 0;
    if (!wait_until(
            [&] {
              std::ifstream in(ports_file);
              return static_cast<bool>(in >> gateway_port >> control_port) && control_port != 0;
            },
            20s))
      throw std::runtime_error("intacct-sandbox did not start; see " + workdir + "/sandbox.log");

    const auto public_port = free_port(), admin_port = free_port();
    const std::string config = workdir + "/bench-thin.toml";
    {
      std::ofstream out(config);
      out << "[server]\npublic_listen = \"127.0.0.1:" << public_port
          << "\"\nadmin_listen = \"127.0.0.1:" << admin_port << "\"\n"
          << "[redis]\nurl = \"redis://127.0.0.1:" << redis_port << "/0\"\n"
          << "[queue]\nworkers = " << o.workers << "\n"
          << "[intacct]\nendpoint = \"http://127.0.0.1:" << gateway_port
          << "/ia/xml/xmlgw.phtml\"\nsender_id = \"" << kSenderId << "\"\n"
          << "sender_password = \"env:BENCH_SENDER_PASSWORD\"\n";
      if (o.read_batch_window > 0)
        out << "read_batch_window = \"" << o.read_batch_window << "ms\"\n";
      if (o.read_at_once) out << "read_after_settle = false\n";
      out << "[admin]\ntoken = \"env:BENCH_ADMIN_TOKEN\"\n"
          << "[log]\nlevel = \"warn\"\n"
          << "[[tenant]]\nid = \"" << kTenant << "\"\ntoken = \"env:BENCH_TENANT_TOKEN\"\n"
          << "company_id = \"" << kCompanyId << "\"\nuser_id = \"" << kUserId << "\"\n"
          << "user_password = \"env:BENCH_USER_PASSWORD\"\n"
          << "concurrency = " << o.concurrency << "\n";
    }
    Process service(
        {o.service_binary, "serve", "--config", config}, workdir + "/service.log",
        {"BENCH_ADMIN_TOKEN=" + admin_token, "BENCH_TENANT_TOKEN=" + tenant_token,
         "BENCH_SENDER_PASSWORD=" + sender_password, "BENCH_USER_PASSWORD=" + user_password});
    if (!wait_until(
            [&] {
              return HttpClient(public_port).request(http::verb::get, "/healthz").status == 200;
            },
            20s))
      throw std::runtime_error("intacct-sync did not start; see " + workdir + "/service.log");

    HttpClient control(control_port);
    std::vector<Target> targets = list_records(control, "CUSTOMER");
    auto invoices = list_records(control, "ARINVOICE");
    targets.insert(targets.end(), invoices.begin(), invoices.end());
    if (targets.empty()) throw std::runtime_error("the sandbox company has no records");

    Driver driver(o, targets, control_port, public_port, tenant_token);
    driver.plan();
    std::printf(
        "bench-thin: %d deliveries (%.0f%% redeliveries, %.0f%% of first deliveries late) at "
        "%.0f changes/s over %zu records (%d customers, %zu posted invoices); queue.workers %d, "
        "tenant concurrency %d\n",
        o.deliveries, o.redeliver * 100, o.late * 100, o.rate, targets.size(), o.customers,
        invoices.size(), o.workers, o.concurrency);
    std::fflush(stdout);
    driver.run();
    const auto& counts = driver.counts();
    std::printf(
        "changes made in %.1f s (%.0f/s), last delivery answered after %.1f s\n",
        driver.change_elapsed(),
        static_cast<double>(driver.changes().size()) / std::max(driver.change_elapsed(), 1e-9),
        driver.elapsed());
    std::fflush(stdout);

    // ---- drain ----
    const auto drain_start = Steady::now();
    QueueState q;
    const bool drained = wait_until(
        [&] {
          q = queue_state(*redis);
          return q.drained();
        },
        std::chrono::seconds(o.drain_seconds));
    const double drain_s = std::chrono::duration<double>(Steady::now() - drain_start).count();
    if (!drained)
      std::printf(
          "QUEUE NOT DRAINED after %d s: stream %lld, pending %lld, retrying %lld, reads due "
          "%lld\n",
          o.drain_seconds, q.stream, q.pending, q.retry, q.recheck);

    // ---- verify ----
    // The last change of every record, and each record's changes in order.
    const auto& changes = driver.changes();
    std::map<std::size_t, std::vector<std::size_t>> by_target;
    std::int64_t made = 0;
    for (std::size_t i = 0; i < changes.size(); ++i) {
      if (!changes[i].made) continue;
      ++made;
      by_target[changes[i].target].push_back(i);
    }
    std::map<std::string, std::size_t> change_of_value;
    for (std::size_t i = 0; i < changes.size(); ++i) change_of_value[changes[i].value] = i;

    std::int64_t mismatches = 0, mismatch_same_second = 0, mismatch_dup = 0;
    std::vector<std::string> mismatch_lines;
    // Latency: the first audit entry that shows the change (see below).
    // All changes seen; then split: own event delivered on time, first
    // delivery held back, and same-second changes whose event was answered as
    // a duplicate of the earlier change's (they are seen only when a read
    // made after them, or a later change, lands).
    std::vector<double> latency_ms, latency_on_time_ms, latency_late_ms, latency_dup_ms;
    std::int64_t dup_changes = 0, dup_not_seen = 0;
    std::int64_t not_seen = 0, same_second_changes = 0;
    // One line per change, for a closer look: changes.tsv in the workdir.
    std::ofstream tsv(workdir + "/changes.tsv");
    tsv << "change\tobject\trecordno\tt_ms\tversion\tlate\tduplicate\tevent_id\tseen_at_ms\t"
           "seen_version\tseen_event_id\tlatency_ms\n";
    for (const auto& [ti, idx] : by_target) {
      const auto& t = driver.targets()[ti];
      const std::string rec = rkey("rec:" + t.object + ":" + std::to_string(t.recordno));
      auto f = redis->cmd({"HGET", rec, "f"});
      auto v = redis->cmd({"HGET", rec, "v"});
      const auto& last = changes[idx.back()];
      std::string held;
      if (f.type == REDIS_REPLY_STRING)
        held = json_string(parse_json(f.str), changed_field(t.object));
      if (held != last.value) {
        ++mismatches;
        const bool same_second =
            idx.size() >= 2 && changes[idx[idx.size() - 2]].version == last.version;
        if (same_second) ++mismatch_same_second;
        if (last.duplicate) ++mismatch_dup;
        if (mismatch_lines.size() < 5) {
          auto it = change_of_value.find(held);
          std::string which = it == change_of_value.end()
                                  ? "no change of the bench"
                                  : "change #" + std::to_string(it->second + 1) + " of version " +
                                        std::to_string(changes[it->second].version);
          mismatch_lines.push_back(
              "  " + t.object + " " + std::to_string(t.recordno) + ": last change #" +
              std::to_string(idx.back() + 1) + " (version " + std::to_string(last.version) +
              (last.duplicate ? ", its event answered duplicate" : "") +
              (same_second ? ", same second as the change before it" : "") +
              "), mirror holds version " + (v.type == REDIS_REPLY_STRING ? v.str : "none") +
              " with " + which);
        }
      }

      // Audit entries, oldest first.
      auto list = redis->cmd(
          {"LRANGE", rkey("audit:" + t.object + ":" + std::to_string(t.recordno)), "0", "-1"});
      std::vector<AuditEntry> audit;
      for (auto it = list.elements.rbegin(); it != list.elements.rend(); ++it) {
        auto d = parse_json(it->str);
        if (!d.IsObject()) continue;
        AuditEntry e;
        auto at = parse_iso_ms(json_string(d, "at"));
        if (!at || !d.HasMember("version") || !d["version"].IsInt64()) continue;
        e.at_ms = *at;
        e.version = d["version"].GetInt64();
        e.event_id = json_string(d, "event_id");
        e.result = json_string(d, "result");
        audit.push_back(std::move(e));
      }
      // Change-to-mirror latency of change c (version V = its WHENMODIFIED in
      // epoch seconds, t = system time just before its PATCH was sent): the
      // "at" of the first audit entry with version >= V and at >= t, minus t.
      // Entries are written only when the mirror's fields change, and a read
      // brings the record as it is when read, so an entry at a version > V,
      // or at V when c is the record's first change in that second, shows c
      // or a later state. WHENMODIFIED has whole seconds: when an earlier
      // change of the same record has the same second, an entry at V applied
      // after t may come from a read made before c. For those changes
      // (counted below) the latency is a lower bound, and whether their value
      // landed is told only by the final check (when it is the last change).
      for (std::size_t k = 0; k < idx.size(); ++k) {
        const auto& c = changes[idx[k]];
        if (k > 0 && changes[idx[k - 1]].version == c.version) ++same_second_changes;
        auto hit = std::find_if(audit.begin(), audit.end(), [&](const AuditEntry& e) {
          return e.version >= c.version && e.at_ms >= c.t_ms;
        });
        tsv << idx[k] + 1 << '\t' << t.object << '\t' << t.recordno << '\t' << c.t_ms << '\t'
            << c.version << '\t' << c.late << '\t' << c.duplicate << '\t' << c.event_id;
        if (hit == audit.end()) {
          tsv << "\t\t\t\t\n";
        } else {
          tsv << '\t' << hit->at_ms << '\t' << hit->version << '\t' << hit->event_id << '\t'
              << hit->at_ms - c.t_ms << '\n';
        }
        if (c.duplicate) ++dup_changes;
        if (hit == audit.end()) {
          ++not_seen;
          if (c.duplicate) ++dup_not_seen;
        } else {
          latency_ms.push_back(static_cast<double>(hit->at_ms - c.t_ms));
          auto& group = c.duplicate ? latency_dup_ms
                        : c.late    ? latency_late_ms
                                    : latency_on_time_ms;
          group.push_back(latency_ms.back());
        }
      }
    }

    // ---- figures ----
    auto stats = parse_json(control.request(http::verb::get, "/v1/stats").body);
    auto call_count = [&](const char* fn) -> long long {
      if (!stats.IsObject() || !stats.HasMember("calls_by_function")) return 0;
      const auto& calls = stats["calls_by_function"];
      return calls.HasMember(fn) && calls[fn].IsInt64() ? calls[fn].GetInt64() : 0;
    };
    const long long read_calls = call_count("read");
    const long long records_read =
        stats.IsObject() && stats.HasMember("records_read") ? stats["records_read"].GetInt64() : 0;
    const long long gateway_requests =
        stats.IsObject() && stats.HasMember("requests") ? stats["requests"].GetInt64() : 0;
    auto metrics = HttpClient(admin_port).request(http::verb::get, "/metrics", {}, {}, admin_token);
    // Reads made for an event at once, and reads made once the record's
    // second had settled (deferred reads and rechecks): both count.
    auto reads = metric_by(metrics.body, "isync_mirror_intacct_reads_total", "result");
    for (const auto& [k, val] : metric_by(metrics.body, "isync_mirror_rechecks_total", "result"))
      reads[k] += val;
    auto decisions = metric_by(metrics.body, "isync_mirror_changes_total", "decision");
    auto outcomes = metric_by(metrics.body, "isync_events_handled_total", "outcome");
    q = queue_state(*redis);

    auto ll = [](std::int64_t v) { return static_cast<long long>(v); };
    auto per = [](double a, double b) { return b > 0 ? a / b : 0.0; };
    const double deliveries = static_cast<double>(counts.deliveries);
    std::printf("\n");
    std::printf("deliveries                   %lld (202: %lld, errors or other statuses: %lld)\n",
                ll(counts.deliveries), ll(counts.accepted), ll(counts.errors));
    std::printf("distinct changes             %lld (PATCH failures: %lld) over %zu records\n",
                ll(made), ll(counts.patch_errors), by_target.size());
    std::printf("redeliveries                 %lld (answered \"duplicate\":true: %lld)\n",
                ll(counts.redeliveries), ll(counts.redelivery_duplicate));
    std::printf("late first deliveries        %lld (held back 0.5-3 s)\n", ll(counts.late));
    std::printf(
        "first deliveries answered duplicate  %lld (same record, same WHENMODIFIED second as an "
        "earlier change: the same thin body)\n",
        ll(counts.first_duplicate));
    std::printf("changes in the same second as the record's previous change  %lld\n",
                ll(same_second_changes));
    std::printf("queue drained                %s in %.1f s after the last delivery\n",
                drained ? "yes" : "NO", drain_s);
    std::printf(
        "sandbox read calls           %lld, records read %lld (gateway requests %lld, "
        "getAPISession %lld)\n",
        read_calls, records_read, gateway_requests, call_count("getAPISession"));
    std::printf(
        "records read per delivery    %.3f; per distinct change %.3f; records per read "
        "call %.1f\n",
        per(static_cast<double>(records_read), deliveries),
        per(static_cast<double>(records_read), static_cast<double>(made)),
        per(static_cast<double>(records_read), static_cast<double>(read_calls)));
    std::printf(
        "reads by result (isync_mirror_intacct_reads_total + isync_mirror_rechecks_total):");
    for (const char* r : {"applied", "unchanged", "shared", "gone", "failed", "retry", "held"})
      std::printf(" %s %.0f", r, reads.count(r) ? reads[r] : 0.0);
    std::printf(
        "\nrecords read that changed nothing  %.0f (records read - applied - gone; \"unchanged\" "
        "also counts events that shared one record of a read)",
        static_cast<double>(records_read) - (reads.count("applied") ? reads["applied"] : 0.0) -
            (reads.count("gone") ? reads["gone"] : 0.0));
    std::printf("\nisync_mirror_changes_total:");
    for (const auto& [k, val] : decisions) std::printf(" %s %.0f", k.c_str(), val);
    std::printf("\nisync_events_handled_total:");
    for (const auto& [k, val] : outcomes) std::printf(" %s %.0f", k.c_str(), val);
    std::printf("\n");
    auto print_latency = [](const char* label, const std::vector<double>& v) {
      std::printf("%-29sp50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms (%zu changes)\n", label,
                  percentile(v, 0.50), percentile(v, 0.90), percentile(v, 0.99),
                  v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()), v.size());
    };
    print_latency("change-to-mirror latency", latency_ms);
    print_latency("  own event, on time", latency_on_time_ms);
    print_latency("  first delivery late", latency_late_ms);
    print_latency("  same-second duplicates", latency_dup_ms);
    std::printf("changes never seen in the audit  %lld (same-second duplicates: %lld of %lld)\n",
                ll(not_seen), ll(dup_not_seen), ll(dup_changes));
    std::printf(
        "mirror mismatches            %lld of %zu records (last change same second as the "
        "one before: %lld; its event answered duplicate: %lld)\n",
        ll(mismatches), by_target.size(), ll(mismatch_same_second), ll(mismatch_dup));
    for (const auto& line : mismatch_lines) std::printf("%s\n", line.c_str());
    std::printf("dead letters                 %lld (parked %lld)\n", q.dead, q.parked);
    std::printf(
        "\nreproduce: ./bench/thin/run.sh --deliveries %d --redeliver %.2f --late %.2f --rate %.0f "
        "--seed %llu --workers %d --concurrency %d%s%s\n",
        o.deliveries, o.redeliver, o.late, o.rate, static_cast<unsigned long long>(o.seed),
        o.workers, o.concurrency, o.read_at_once ? " --read-at-once" : "",
        o.read_batch_window > 0
            ? (" --read-batch-window-ms " + std::to_string(o.read_batch_window)).c_str()
            : "");
    service.stop();
    sandbox.stop();
    redis_server.stop();
    const bool ok = counts.errors == 0 && mismatches == 0 && q.dead == 0 && drained;
    return ok ? 0 : 3;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-thin: %s\n", e.what());
    return 1;
  }
}
