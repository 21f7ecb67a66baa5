// The async client's link: resolving and connecting, the handshake,
// reconnecting every reconnect_interval, and the fd readiness hiredis asks
// for. See redis/detail/asio_connection.hpp.
#include <boost/asio/post.hpp>
#include <exception>

#include "redis/detail/asio_connection.hpp"
#include "redis/detail/reply.hpp"

namespace isync::redis::detail {

void AsioConnection::do_connect() {
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

void AsioConnection::connect_to(const std::string& ip) {
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

void AsioConnection::handshake() {
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
                                 LogLine().str("command", name).str("error", r.str), name + r.str);
            self->drop(Errc::reply_lost);
            return;
          }
          if (--*remaining == 0) self->link_up();
        },
        options_.connect_timeout);
  }
}

void AsioConnection::link_up() {
  connect_timer_.cancel();
  last_failure_.clear();
  up_.store(true);
  if (log_ != nullptr) {
    log_->info(
        "connected to Redis",
        LogLine().str("host", endpoint_.host).num("port", endpoint_.port).num("db", endpoint_.db));
  }
  notify(true);
}

// REQUIRES: not inside a hiredis callback.
void AsioConnection::drop(Errc reason) {
  if (ac_ == nullptr) return;
  drop_reason_ = reason;
  redisAsyncFree(ac_);  // fails pending commands, then calls on_cleanup
}

void AsioConnection::on_cleanup() {
  if (descriptor_) {
    descriptor_->release();  // cancels our waits; hiredis closes the fd
    descriptor_.reset();
  }
  ac_ = nullptr;
  ++link_gen_;
  if (destroying_) return;
  asio::post(strand_, [self = self()] { self->link_gone(); });
}

void AsioConnection::link_gone() {
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
void AsioConnection::attempt_failed(Level level, const char* msg, const LogLine& line,
                                    std::string what) {
  if (what == last_failure_) return;
  last_failure_ = std::move(what);
  if (log_ != nullptr) log_->write(level, msg, line);
}

void AsioConnection::schedule_reconnect() {
  if (closed_) return;
  reconnect_timer_.expires_after(options_.reconnect_interval);
  reconnect_timer_.async_wait([self = self()](boost::system::error_code ec) {
    if (!ec) self->do_connect();
  });
}

void AsioConnection::notify(bool up) {
  for (auto& l : listeners_) run_guarded([&] { l(up); });
  if (!up) return;
  // Swapped out first: one of them may register another.
  std::vector<std::function<void()>> once;
  once.swap(when_up_);
  for (auto& fn : once) run_guarded(fn);
}

void AsioConnection::run_guarded(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    if (log_ != nullptr) log_->error("redis state listener threw", LogLine().str("what", e.what()));
  }
}

void AsioConnection::want(bool read, bool on) {
  (read ? want_read_ : want_write_) = on;
  if (on) arm(read);
}

void AsioConnection::arm(bool read) {
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
          self->reading_ = true;
          redisAsyncHandleRead(self->ac_);
          self->reading_ = false;
          if (!self->ready_.empty()) self->run_ready();
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

}  // namespace isync::redis::detail
