#include "bench/common/floors.hpp"

#include <stdexcept>

namespace isync::bench {

const char* const kXackXdelLua = R"lua(
local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', 1, 'STREAMS', KEYS[1], '>')
if not r then return 0 end
local id = r[1][2][1][1]
redis.call('XACK', KEYS[1], ARGV[1], id)
redis.call('XDEL', KEYS[1], id)
return 1
)lua";

namespace {

using namespace std::chrono_literals;

std::string run_name(const std::string& what, const FloorRun& run) {
  return what + " -c " + std::to_string(run.clients) + " -P " + std::to_string(run.pipeline);
}

// redis-benchmark --csv's last line: "test","rps","avg","min","p50","p95","p99","max".
// The test's name may hold quotes and commas, so the figures are taken from the right.
std::vector<double> csv_figures(const std::string& out) {
  auto end = out.find_last_not_of("\r\n");
  if (end == std::string::npos) return {};
  auto begin = out.rfind('\n', end);
  std::string line = out.substr(begin == std::string::npos ? 0 : begin + 1, end + 1 - (begin + 1));
  std::vector<double> figures;
  std::size_t pos = line.size();
  for (int i = 0; i < 7; ++i) {
    auto close = line.rfind('"', pos - 1);
    if (close == std::string::npos || close == 0) return {};
    auto open = line.rfind('"', close - 1);
    if (open == std::string::npos) return {};
    try {
      figures.insert(figures.begin(), std::stod(line.substr(open + 1, close - open - 1)));
    } catch (const std::exception&) {
      return {};
    }
    pos = open;  // the comma before it comes next
  }
  return figures;
}

// redis-benchmark sends whole pipelines: -n is rounded up to a multiple of
// clients x pipeline so that exactly -n commands run.
FloorRun rounded(FloorRun run) {
  const auto batch =
      static_cast<std::uint64_t>(run.clients) * static_cast<std::uint64_t>(run.pipeline);
  run.requests = (run.requests + batch - 1) / batch * batch;
  return run;
}

FloorResult measure(BenchRedis& redis, const std::string& name, const FloorRun& run,
                    const std::vector<std::string>& command) {
  std::vector<std::string> args{"redis-benchmark",
                                "-h",
                                "127.0.0.1",
                                "-p",
                                std::to_string(redis.port()),
                                "-c",
                                std::to_string(run.clients),
                                "-P",
                                std::to_string(run.pipeline),
                                "-n",
                                std::to_string(run.requests),
                                "-r",
                                "2147483647",
                                "--csv"};
  args.insert(args.end(), command.begin(), command.end());
  FloorResult f;
  f.name = name;
  f.events = run.requests;
  f.command = shell_line(args);
  const double cpu0 = redis.cpu_seconds();
  auto r = bench::run(args, 600s);
  const double cpu1 = redis.cpu_seconds();
  auto figures = csv_figures(r.out);
  if (r.exit_code != 0 || figures.size() != 7)
    throw std::runtime_error(name + ": redis-benchmark failed (exit " +
                             std::to_string(r.exit_code) + "): " + r.out.substr(0, 300));
  f.rate = figures[0];
  f.p50_ms = figures[3];
  f.p99_ms = figures[5];
  f.redis_cpu_us_per_event = (cpu1 - cpu0) * 1e6 / static_cast<double>(run.requests);
  return f;
}

}  // namespace

std::string script_text(const std::string& binary, const std::string& name) {
  auto r = run({binary, "debug", "script", name}, 30s);
  if (r.exit_code != 0 || r.out.empty())
    throw std::runtime_error("`" + binary + " debug script " + name + "` failed");
  return r.out;
}

namespace {

std::vector<std::string> scan(RedisClient& c, const std::vector<std::string>& filter) {
  std::vector<std::string> keys;
  std::string cursor = "0";
  do {
    std::vector<std::string> args{"SCAN", cursor, "COUNT", "1000"};
    args.insert(args.end(), filter.begin(), filter.end());
    auto r = c.cmd(args);
    cursor = r.elements.at(0).str;
    for (const auto& k : r.elements.at(1).elements) keys.push_back(k.str);
  } while (cursor != "0");
  return keys;
}

constexpr std::string_view kRand2 = "__rand_int____rand_int__";

std::string randomized(const std::string& s) {
  if (s.size() < kRand2.size()) return s + std::string(kRand2);
  return s.substr(0, s.size() - kRand2.size()) + std::string(kRand2);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
  return s;
}

}  // namespace

AcceptShape capture_accept_shape(BenchRedis& redis, const std::string& script) {
  auto& c = redis.client();
  auto streams = scan(c, {"TYPE", "stream"});
  auto dedup = scan(c, {"MATCH", "*:dedup:*"});
  if (streams.size() != 1 || dedup.size() != 1)
    throw std::runtime_error("expected one stream and one dedup key after one accept, found " +
                             std::to_string(streams.size()) + " and " +
                             std::to_string(dedup.size()));
  AcceptShape shape;
  shape.script = script;
  shape.stream = streams[0];
  const auto event_id = c.cmd({"GET", dedup[0]}).str;
  const auto ttl = c.cmd({"TTL", dedup[0]}).integer;
  auto entries = c.cmd({"XRANGE", shape.stream, "-", "+"});
  if (entries.elements.size() != 1 || event_id.empty())
    throw std::runtime_error("expected one entry in " + shape.stream + " after one accept");
  const auto& fields = entries.elements[0].elements.at(1).elements;
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2)
    if (fields[i].str == "e") shape.envelope = fields[i + 1].str;
  if (shape.envelope.empty()) throw std::runtime_error("the accepted entry has no envelope");
  shape.dedup_key = randomized(dedup[0]);
  shape.event_id = randomized(event_id);
  shape.envelope = replace_all(shape.envelope, event_id, shape.event_id);
  // The window is whole days or hours in practice: the TTL rounded up to one.
  shape.window = std::to_string(ttl > 3600 ? (ttl + 3599) / 3600 * 3600 : std::max(ttl, 1LL));
  return shape;
}

FloorResult accept_floor(BenchRedis& redis, const AcceptShape& shape, const FloorRun& asked) {
  const auto run = rounded(asked);
  redis.reset();
  auto sha = redis.client().cmd({"SCRIPT", "LOAD", shape.script}).str;
  const auto mem0 = redis.used_memory();
  auto f = measure(redis, run_name("accept EVALSHA", run), run,
                   {"EVALSHA", sha, "2", shape.dedup_key, shape.stream, shape.event_id,
                    shape.window, shape.envelope});
  const auto grew = redis.xlen(shape.stream);
  if (grew != static_cast<long long>(run.requests))
    throw std::runtime_error(f.name + ": the stream grew by " + std::to_string(grew) +
                             " entries, not " + std::to_string(run.requests) +
                             " (duplicates or failed calls: this would not be the accept floor)");
  f.memory_bytes_per_event =
      static_cast<double>(redis.used_memory() - mem0) / static_cast<double>(run.requests);
  return f;
}

FloorResult xadd_floor(BenchRedis& redis, const std::string& stream, const std::string& value,
                       const FloorRun& asked) {
  const auto run = rounded(asked);
  redis.reset();
  const auto mem0 = redis.used_memory();
  auto f = measure(redis, run_name("XADD", run), run,
                   {"XADD", stream, "*", "e", value, "a", "0", "f", "0"});
  const auto grew = redis.xlen(stream);
  if (grew != static_cast<long long>(run.requests))
    throw std::runtime_error(f.name + ": the stream grew by " + std::to_string(grew) +
                             " entries, not " + std::to_string(run.requests));
  f.memory_bytes_per_event =
      static_cast<double>(redis.used_memory() - mem0) / static_cast<double>(run.requests);
  return f;
}

FloorResult xack_xdel_floor(BenchRedis& redis, const std::string& stream, const std::string& value,
                            const FloorRun& asked) {
  const auto run = rounded(asked);
  redis.reset();
  auto& c = redis.client();
  const std::uint64_t batch = 1000;
  for (std::uint64_t done = 0; done < run.requests; done += batch) {
    std::vector<std::vector<std::string>> cmds;
    for (std::uint64_t i = done; i < std::min(run.requests, done + batch); ++i)
      cmds.push_back({"XADD", stream, "*", "e", value, "a", "0", "f", "0"});
    c.pipeline(cmds);
  }
  c.cmd({"XGROUP", "CREATE", stream, "bench", "0"});
  redis.compact();
  auto sha = c.cmd({"SCRIPT", "LOAD", kXackXdelLua}).str;
  auto f = measure(redis, run_name("XREADGROUP+XACK+XDEL script", run), run,
                   {"EVALSHA", sha, "1", stream, "bench", "worker-1"});
  const auto left = redis.xlen(stream);
  auto pending = c.cmd({"XPENDING", stream, "bench"});
  const long long pending_count = pending.elements.empty() ? -1 : pending.elements[0].integer;
  if (left != 0 || pending_count != 0)
    throw std::runtime_error(f.name + ": " + std::to_string(left) + " entries left, " +
                             std::to_string(pending_count) + " pending after " +
                             std::to_string(run.requests) + " calls (expected 0 and 0)");
  return f;
}

}  // namespace isync::bench
