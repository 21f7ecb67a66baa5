// A worker process is SIGKILLed while it holds an event; another pool reclaims
// the entry after the visibility timeout and applies it exactly once.
//
// The worker process is forked at the start of the only test case, before this
// process has any thread or io_context (fork copies only the calling thread).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <string>

#include "tests/handlers/mirror_fixture.hpp"

using namespace isync;
using namespace isync::testing;

namespace {

constexpr std::int64_t kVersion = 1714564800;

std::string taken_key() { return queue::key(kTenant, "test:taken"); }

// Takes the entry, says so in Redis, and never reports an outcome.
class StuckHandler : public queue::Handler {
 public:
  explicit StuckHandler(std::shared_ptr<redis::Connection> conn) : conn_(std::move(conn)) {}
  void handle(const queue::Delivery& d, std::function<void(queue::Outcome)> done) override {
    held_.push_back(std::move(done));
    conn_->command({"SET", taken_key(), d.envelope.event_id},
                   [](boost::system::error_code, redis::Reply) {});
  }

 private:
  std::shared_ptr<redis::Connection> conn_;
  std::vector<std::function<void(queue::Outcome)>> held_;
};

[[noreturn]] void run_worker_process(const redis::Endpoint& endpoint,
                                     const queue::Envelope& event) {
  boost::asio::io_context io;
  Metrics metrics;
  SystemClock clock;
  Log log{Level::error, [](std::string_view) {}};
  auto conn = redis::Connection::create(io.get_executor(), endpoint, redis::Options{});
  StuckHandler handler(conn);
  queue::Producer producer(conn, metrics);
  queue::WorkerOptions options;
  options.workers = 1;
  queue::WorkerPool pool(io.get_executor(), endpoint, {kTenant}, handler, options, metrics, clock,
                         log);
  bool sent = false;
  conn->on_state_change([&](bool up) {
    if (!up || sent) return;
    sent = true;
    pool.start();
    producer.accept(event, sha256_hex("reclaim:" + event.event_id), std::chrono::hours(1),
                    [](Result<queue::AcceptResult>) {});
  });
  conn->start();
  io.run();
  ::_exit(0);
}

}  // namespace

TEST_CASE("a SIGKILLed worker's event is reclaimed and applied exactly once") {
  RedisServer server;
  const auto event = make_event("CUSTOMER", "777", "set", kVersion, {{"NAME", "reclaimed"}});

  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) run_worker_process(server.endpoint(), event);

  const bool taken = eventually(
      [&] {
        auto r = server.cmd({"GET", taken_key()});
        return r.type == redis::Reply::Type::string && r.str == event.event_id;
      },
      std::chrono::seconds(30));
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(taken);
  CHECK(WIFSIGNALED(status));
  const std::string rec = queue::key(kTenant, "rec:CUSTOMER:777");
  CHECK(server.cmd({"EXISTS", rec}).integer == 0);

  Metrics metrics;
  SystemClock clock;
  Log log{Level::error, [](std::string_view) {}};
  auto io = std::make_unique<IoThread>();
  auto conn = connect(io->executor(), server.endpoint());
  handlers::MirrorHandler handler(conn, handlers::MirrorOptions{}, metrics, clock, log);
  queue::WorkerOptions options;
  options.workers = 2;
  options.visibility_timeout = std::chrono::milliseconds(500);
  queue::WorkerPool pool(io->executor(), server.endpoint(), {kTenant}, handler, options, metrics,
                         clock, log);
  pool.start();

  const std::string stream = queue::key(kTenant, "events");
  CHECK(eventually(
      [&] {
        auto pending = server.cmd({"XPENDING", stream, std::string(queue::kGroup)});
        return server.cmd({"HGET", rec, "ev"}).str == event.event_id &&
               server.cmd({"XLEN", stream}).integer == 0 &&
               pending.type == redis::Reply::Type::array && !pending.elements.empty() &&
               pending.elements[0].integer == 0;
      },
      std::chrono::seconds(30)));

  auto stopped = std::make_shared<std::promise<void>>();
  pool.stop([stopped] { stopped->set_value(); });
  CHECK(stopped->get_future().wait_for(std::chrono::seconds(30)) == std::future_status::ready);

  auto audit = server.cmd({"LRANGE", queue::key(kTenant, "audit:CUSTOMER:777"), "0", "-1"});
  REQUIRE(audit.elements.size() == 1);
  CHECK(audit.elements[0].str.find(event.event_id) != std::string::npos);
  CHECK(server.cmd({"HGET", rec, "f"}).str == R"({"NAME":"reclaimed"})");
  CHECK(server.cmd({"ZCARD", queue::key(kTenant, "dead")}).integer == 0);
  close_and_wait(*conn);
  io->stop();
}
