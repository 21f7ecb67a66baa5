// The async client: one hiredis async context at a time, driven by Asio.
//
// Every member below is touched only on strand_ (hiredis hooks and callbacks
// run inside hiredis calls that we make on the strand). hiredis owns the fd;
// the stream_descriptor only watches it and is release()d, never closed.
// User handlers are posted to the strand, never run inside a hiredis
// callback, so a handler may issue commands or close() freely.
//
// Whether a failed command may have run (redis.hpp, Errc) is known by
// counting bytes per link: each command records where its bytes end in the
// stream of bytes handed to hiredis, and every write event adds what hiredis
// took out of its output buffer. A command whose end was written may have
// run; one that was not cannot have (Redis runs only whole commands).
#include <hiredis/async.h>

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <exception>
#include <set>

#include "redis/detail/reply.hpp"
#include "redis/redis.hpp"

namespace isync::redis {

namespace {

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

class AsioConnection;

// One command in flight. Owned by hiredis's callback list until on_reply.
struct Pending {
  AsioConnection* owner;
  Handler handler;
  std::multiset<SteadyClock::time_point>::iterator deadline;
  std::uint64_t end = 0;  // queued_ after this command's bytes (its link's count)
};

class AsioConnection final : public Connection {
 public:
  using Connection::close;
  AsioConnection(asio::any_io_executor ex, Endpoint endpoint, Options options, Log* log)
      : strand_(make_strand_executor(ex)),
        endpoint_(std::move(endpoint)),
        options_(std::move(options)),
        log_(log),
        resolver_(strand_),
        connect_timer_(strand_),
        reconnect_timer_(strand_),
        deadline_timer_(strand_) {}

  ~AsioConnection() override {
    // Only reached when no async operation holds us, so no hiredis call is
    // in progress; free a context that is still around without callbacks.
    destroying_ = true;
    if (ac_ != nullptr) redisAsyncFree(ac_);
  }

  void start() override {
    asio::dispatch(strand_, [self = self()] {
      if (self->started_ || self->closed_) return;
      self->started_ = true;
      self->do_connect();
    });
  }

  void close(std::function<void()> done) override {
    asio::dispatch(strand_, [self = self(), done = std::move(done)] {
      if (!self->closed_) {
        self->closed_ = true;
        self->resolver_.cancel();
        self->connect_timer_.cancel();
        self->reconnect_timer_.cancel();
        self->drop(Errc::closed);
      }
      // After the failed commands' handlers, which drop() posted here.
      if (done) asio::post(self->strand_, std::move(done));
    });
  }

  bool connected() const override { return up_.load(); }

  void command(std::vector<std::string> argv, Handler handler,
               std::chrono::milliseconds timeout) override {
    // Formatted here, on the caller's thread: the strand then only hands
    // hiredis one buffer.
    asio::dispatch(strand_,
                   [self = self(), cmd = format_command(argv), handler = std::move(handler),
                    timeout]() mutable { self->send_formatted(cmd, std::move(handler), timeout); });
  }

  void eval(const Script& script, std::vector<std::string> keys, std::vector<std::string> args,
            Handler handler) override {
    std::vector<std::string> argv;
    argv.reserve(3 + keys.size() + args.size());
    argv.push_back("EVALSHA");
    argv.push_back(script.sha);
    argv.push_back(std::to_string(keys.size()));
    for (auto& k : keys) argv.push_back(std::move(k));
    for (auto& a : args) argv.push_back(std::move(a));
    // One formatted command serves the first try and the retry after NOSCRIPT.
    auto cmd = std::make_shared<const std::string>(format_command(argv));
    auto retry = [self = self(), cmd, body = script.body, handler = std::move(handler)](
                     boost::system::error_code ec, Reply r) mutable {
      if (ec || !r.is_error() || r.str.rfind("NOSCRIPT", 0) != 0) {
        handler(ec, std::move(r));
        return;
      }
      // The script cache is empty (restart, SCRIPT FLUSH, failover): load and
      // try once more. Both go on the same link, so the order holds.
      self->command(
          {"SCRIPT", "LOAD", std::move(body)}, [](boost::system::error_code, Reply) {},
          std::chrono::milliseconds{0});
      asio::dispatch(self->strand_, [self, cmd, handler = std::move(handler)]() mutable {
        self->send_formatted(*cmd, std::move(handler), std::chrono::milliseconds{0});
      });
    };
    asio::dispatch(strand_, [self = self(), cmd, retry = std::move(retry)]() mutable {
      self->send_formatted(*cmd, std::move(retry), std::chrono::milliseconds{0});
    });
  }

  void on_state_change(std::function<void(bool up)> listener) override {
    asio::dispatch(strand_, [self = self(), listener = std::move(listener)]() mutable {
      self->listeners_.push_back(std::move(listener));
    });
  }

 private:
  std::shared_ptr<AsioConnection> self() {
    return std::static_pointer_cast<AsioConnection>(shared_from_this());
  }

  // ---- completions ----

  void complete(Handler handler, Errc e) { complete(std::move(handler), make_error_code(e), {}); }

  void complete(Handler handler, boost::system::error_code ec, Reply r) {
    asio::post(
        strand_, [self = self(), handler = std::move(handler), ec, r = std::move(r)]() mutable {
          try {
            handler(ec, std::move(r));
          } catch (const std::exception& e) {
            if (self->log_ != nullptr) {
              self->log_->error("redis reply handler threw", LogLine().str("what", e.what()));
            }
          }
        });
  }

  // ---- sending ----

  // The RESP encoding of `argv` (what redisFormatCommandArgv builds, without
  // its per-argument sdscatfmt calls).
  static std::string format_command(const std::vector<std::string>& argv) {
    std::size_t size = 16;
    for (const auto& a : argv) size += a.size() + 24;
    std::string out;
    out.reserve(size);
    out += '*';
    out += std::to_string(argv.size());
    out += "\r\n";
    for (const auto& a : argv) {
      out += '$';
      out += std::to_string(a.size());
      out += "\r\n";
      out += a;
      out += "\r\n";
    }
    return out;
  }

  // On the strand: sends when up, fails at once otherwise.
  void send_formatted(const std::string& cmd, Handler handler, std::chrono::milliseconds timeout) {
    if (!up_.load()) {
      complete(std::move(handler), closed_ ? Errc::closed : Errc::not_connected);
      return;
    }
    send(cmd, std::move(handler), timeout);
  }

  void send(const std::vector<std::string>& argv, Handler handler,
            std::chrono::milliseconds timeout) {
    send(format_command(argv), std::move(handler), timeout);
  }

  void send(const std::string& cmd, Handler handler, std::chrono::milliseconds timeout) {
    if (timeout.count() <= 0) timeout = options_.command_timeout;
    // The link may be gone (ac_ freed in on_cleanup) before link_gone() has
    // cleared up_: hiredis must not see a freed context.
    if (ac_ == nullptr) {
      complete(std::move(handler), Errc::not_connected);
      return;
    }
    auto* p = new Pending{this, std::move(handler), {}, queued_ + cmd.size()};
    p->deadline = deadlines_.insert(SteadyClock::now() + timeout);
    if (redisAsyncFormattedCommand(ac_, &AsioConnection::on_reply, p, cmd.data(), cmd.size()) !=
        REDIS_OK) {
      deadlines_.erase(p->deadline);
      complete(std::move(p->handler), Errc::not_connected);
      delete p;
      return;
    }
    queued_ = p->end;
    arm_deadline();
  }

  static void on_reply(redisAsyncContext* ac, void* reply, void* privdata) {
    std::unique_ptr<Pending> p(static_cast<Pending*>(privdata));
    AsioConnection* self = p->owner;
    if (self->destroying_) return;
    self->deadlines_.erase(p->deadline);
    if (reply == nullptr) {
      // The link is going (hiredis fails what is pending, then cleans up).
      self->complete(std::move(p->handler), self->failure_of(*p, *ac));
      return;
    }
    self->complete(std::move(p->handler), {}, detail::copy_reply(static_cast<redisReply*>(reply)));
  }

  // Why a command without a reply failed, as redis.hpp promises: whether it
  // may have run depends only on whether all of it was written.
  Errc failure_of(const Pending& p, const redisAsyncContext& ac) const {
    if (p.end > written_) return closed_ ? Errc::closed : Errc::not_connected;
    switch (drop_reason_) {
      case Errc::timeout:
        return Errc::timeout;
      case Errc::reply_lost:
        return ac.c.err == REDIS_ERR_PROTOCOL ? Errc::protocol : Errc::reply_lost;
      default:
        // close() while it was in flight: written, so it may have run.
        return Errc::reply_lost;
    }
  }

  // hiredis has no command timeouts: one timer follows the earliest deadline
  // of the commands in flight, and its expiry drops the link.
  void arm_deadline() {
    if (deadlines_.empty()) return;
    auto earliest = *deadlines_.begin();
    if (deadline_armed_ && earliest >= deadline_at_) return;
    deadline_armed_ = true;
    deadline_at_ = earliest;
    deadline_timer_.expires_at(earliest);
    deadline_timer_.async_wait(
        [self = self(), gen = ++deadline_gen_](boost::system::error_code ec) {
          if (gen != self->deadline_gen_) return;
          self->deadline_armed_ = false;
          if (ec) return;
          if (!self->deadlines_.empty() && *self->deadlines_.begin() <= SteadyClock::now()) {
            if (self->log_ != nullptr)
              self->log_->warn("redis command deadline passed; reconnecting");
            self->drop(Errc::timeout);
            return;
          }
          self->arm_deadline();
        });
  }

  // ---- link ----

  void do_connect() {
    if (closed_) return;
    resolver_.async_resolve(
        endpoint_.host, std::to_string(endpoint_.port),
        [self = self()](boost::system::error_code ec, asio::ip::tcp::resolver::results_type rs) {
          if (self->closed_) return;
          if (ec || rs.empty()) {
            self->attempt_failed(
                Level::warn, "cannot resolve the Redis host",
                LogLine().str("host", self->endpoint_.host).str("error", ec.message()),
                "resolve " + ec.message());
            self->schedule_reconnect();
            return;
          }
          self->connect_to(rs.begin()->endpoint().address().to_string());
        });
  }

  void connect_to(const std::string& ip) {
    drop_reason_ = Errc::reply_lost;
    redisAsyncContext* ac = redisAsyncConnect(ip.c_str(), endpoint_.port);
    if (ac == nullptr || ac->err != 0) {
      const std::string error = ac != nullptr ? ac->errstr : "out of memory";
      attempt_failed(Level::warn, "cannot start a Redis connection", LogLine().str("error", error),
                     "start " + error);
      if (ac != nullptr) redisAsyncFree(ac);
      schedule_reconnect();
      return;
    }
    ac_ = ac;
    ++link_gen_;
    queued_ = written_ = 0;
    boost::system::error_code ec;
    descriptor_ = std::make_unique<asio::posix::stream_descriptor>(strand_);
    descriptor_->assign(ac->c.fd, ec);
    want_read_ = want_write_ = read_armed_ = write_armed_ = false;
    ac->data = this;
    ac->ev.data = this;
    ac->ev.addRead = [](void* d) { static_cast<AsioConnection*>(d)->want(true, true); };
    ac->ev.delRead = [](void* d) { static_cast<AsioConnection*>(d)->want(true, false); };
    ac->ev.addWrite = [](void* d) { static_cast<AsioConnection*>(d)->want(false, true); };
    ac->ev.delWrite = [](void* d) { static_cast<AsioConnection*>(d)->want(false, false); };
    ac->ev.cleanup = [](void* d) { static_cast<AsioConnection*>(d)->on_cleanup(); };
    redisAsyncSetDisconnectCallback(ac, [](const redisAsyncContext*, int) {});
    // Setting the connect callback also asks for the first write event, which
    // is how a non-blocking connect reports completion.
    redisAsyncSetConnectCallback(ac, [](const redisAsyncContext* c, int status) {
      auto* self = static_cast<AsioConnection*>(c->data);
      if (status == REDIS_OK) {
        asio::post(self->strand_, [s = self->self(), gen = self->link_gen_] {
          if (gen == s->link_gen_ && s->ac_ != nullptr) s->handshake();
        });
      }
    });
    if (ec) {
      drop(Errc::reply_lost);
      return;
    }
    connect_timer_.expires_after(options_.connect_timeout);
    connect_timer_.async_wait([self = self(), gen = link_gen_](boost::system::error_code tec) {
      if (tec || gen != self->link_gen_ || self->up_.load()) return;
      self->attempt_failed(Level::warn, "Redis connect timed out", LogLine(), "connect timeout");
      self->drop(Errc::timeout);
    });
  }

  void handshake() {
    want(true, true);  // watch for EOF even while idle
    auto steps = detail::handshake_commands(endpoint_, options_.client_name);
    // Last, so the link is up only once Redis runs commands: while it loads
    // its data it accepts connections, AUTH and SELECT, but answers LOADING
    // to everything else, and a listener told "up" then would act in vain
    // (and not again until the next reconnect).
    steps.push_back({"PING"});
    auto remaining = std::make_shared<size_t>(steps.size());
    for (auto& argv : steps) {
      std::string name = argv[0];
      send(
          argv,
          [self = self(), gen = link_gen_, remaining, name](boost::system::error_code ec, Reply r) {
            if (gen != self->link_gen_ || ec) return;
            if (r.is_error()) {
              self->attempt_failed(Level::error, "Redis refused a connection set-up command",
                                   LogLine().str("command", name).str("error", r.str),
                                   name + r.str);
              self->drop(Errc::reply_lost);
              return;
            }
            if (--*remaining == 0) self->link_up();
          },
          options_.connect_timeout);
    }
  }

  void link_up() {
    connect_timer_.cancel();
    last_failure_.clear();
    up_.store(true);
    if (log_ != nullptr) {
      log_->info("connected to Redis", LogLine()
                                           .str("host", endpoint_.host)
                                           .num("port", endpoint_.port)
                                           .num("db", endpoint_.db));
    }
    notify(true);
  }

  // REQUIRES: not inside a hiredis callback.
  void drop(Errc reason) {
    if (ac_ == nullptr) return;
    drop_reason_ = reason;
    redisAsyncFree(ac_);  // fails pending commands, then calls on_cleanup
  }

  void on_cleanup() {
    if (descriptor_) {
      descriptor_->release();  // cancels our waits; hiredis closes the fd
      descriptor_.reset();
    }
    ac_ = nullptr;
    ++link_gen_;
    if (destroying_) return;
    asio::post(strand_, [self = self()] { self->link_gone(); });
  }

  void link_gone() {
    connect_timer_.cancel();
    ++deadline_gen_;
    deadline_armed_ = false;
    deadline_timer_.cancel();
    bool was_up = up_.exchange(false);
    if (was_up) {
      if (log_ != nullptr && !closed_) log_->warn("lost the Redis connection");
      notify(false);
    }
    if (!closed_) schedule_reconnect();
  }

  // A failed attempt is logged when it differs from the previous one: the
  // attempts repeat every reconnect_interval for as long as the outage lasts.
  void attempt_failed(Level level, const char* msg, const LogLine& line, std::string what) {
    if (what == last_failure_) return;
    last_failure_ = std::move(what);
    if (log_ != nullptr) log_->write(level, msg, line);
  }

  void schedule_reconnect() {
    if (closed_) return;
    reconnect_timer_.expires_after(options_.reconnect_interval);
    reconnect_timer_.async_wait([self = self()](boost::system::error_code ec) {
      if (!ec) self->do_connect();
    });
  }

  void notify(bool up) {
    for (auto& l : listeners_) {
      try {
        l(up);
      } catch (const std::exception& e) {
        if (log_ != nullptr)
          log_->error("redis state listener threw", LogLine().str("what", e.what()));
      }
    }
  }

  // ---- fd readiness, on behalf of hiredis ----

  void want(bool read, bool on) {
    (read ? want_read_ : want_write_) = on;
    if (on) arm(read);
  }

  void arm(bool read) {
    bool& armed = read ? read_armed_ : write_armed_;
    if (armed || !descriptor_) return;
    armed = true;
    descriptor_->async_wait(
        read ? asio::posix::descriptor_base::wait_read : asio::posix::descriptor_base::wait_write,
        [self = self(), read, gen = link_gen_](boost::system::error_code ec) {
          if (gen != self->link_gen_) return;
          (read ? self->read_armed_ : self->write_armed_) = false;
          if (ec || self->ac_ == nullptr) return;
          if (!(read ? self->want_read_ : self->want_write_)) return;
          if (read) {
            redisAsyncHandleRead(self->ac_);
          } else {
            // What hiredis takes out of its output buffer is what it wrote.
            redisAsyncContext* ac = self->ac_;
            const std::size_t before = sdslen(ac->c.obuf);
            redisAsyncHandleWrite(ac);
            if (gen == self->link_gen_ && self->ac_ == ac) {
              self->written_ += before - sdslen(ac->c.obuf);
            }
          }
          if (gen == self->link_gen_ && (read ? self->want_read_ : self->want_write_)) {
            self->arm(read);
          }
        });
  }

  asio::any_io_executor strand_;  // a strand (make_strand_executor)
  Endpoint endpoint_;
  Options options_;
  Log* log_;
  asio::ip::tcp::resolver resolver_;
  asio::steady_timer connect_timer_;
  asio::steady_timer reconnect_timer_;
  asio::steady_timer deadline_timer_;
  std::string last_failure_;  // of the attempts since the link was last up

  redisAsyncContext* ac_ = nullptr;
  std::unique_ptr<asio::posix::stream_descriptor> descriptor_;
  std::uint64_t link_gen_ = 0;  // bumped per link so stale completions are ignored
  std::uint64_t queued_ = 0;    // bytes handed to hiredis on this link
  std::uint64_t written_ = 0;   // of those, bytes hiredis wrote to the socket
  bool want_read_ = false, want_write_ = false, read_armed_ = false, write_armed_ = false;

  std::multiset<SteadyClock::time_point> deadlines_;
  bool deadline_armed_ = false;
  SteadyClock::time_point deadline_at_{};
  std::uint64_t deadline_gen_ = 0;

  Errc drop_reason_ = Errc::reply_lost;
  std::atomic<bool> up_{false};
  bool started_ = false;
  bool closed_ = false;
  bool destroying_ = false;
  std::vector<std::function<void(bool)>> listeners_;
};

}  // namespace

std::shared_ptr<Connection> Connection::create(boost::asio::any_io_executor ex, Endpoint endpoint,
                                               Options options, Log* log) {
  return std::make_shared<AsioConnection>(std::move(ex), std::move(endpoint), std::move(options),
                                          log);
}

}  // namespace isync::redis
