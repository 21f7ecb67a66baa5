// The async client's public calls, sending, replies and deadlines; the link
// itself is in connection_link.cpp. How the two share one object:
// redis/detail/asio_connection.hpp.
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <exception>

#include "redis/detail/asio_connection.hpp"
#include "redis/detail/reply.hpp"

namespace isync::redis {
namespace detail {

void AsioConnection::start() {
  asio::dispatch(strand_, [self = self()] {
    if (self->started_ || self->closed_) return;
    self->started_ = true;
    self->do_connect();
  });
}

void AsioConnection::close(std::function<void()> done) {
  asio::dispatch(strand_, [self = self(), done = std::move(done)] {
    if (!self->closed_) {
      self->closed_ = true;
      self->resolver_.cancel();
      self->connect_timer_.cancel();
      self->reconnect_timer_.cancel();
      self->drop(Errc::closed);
      self->when_up_.clear();
    }
    // After the failed commands' handlers, which drop() posted here.
    if (done) asio::post(self->strand_, std::move(done));
  });
}

void AsioConnection::command(std::vector<std::string> argv, Handler handler,
                             std::chrono::milliseconds timeout) {
  // Formatted here, on the caller's thread: the strand then only hands
  // hiredis one buffer.
  asio::dispatch(strand_,
                 [self = self(), cmd = format_command(argv), handler = std::move(handler),
                  timeout]() mutable { self->send_formatted(cmd, std::move(handler), timeout); });
}

void AsioConnection::eval(const Script& script, std::vector<std::string> keys,
                          std::vector<std::string> args, Handler handler) {
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

void AsioConnection::on_state_change(std::function<void(bool up)> listener) {
  asio::dispatch(strand_, [self = self(), listener = std::move(listener)]() mutable {
    self->listeners_.push_back(std::move(listener));
  });
}

void AsioConnection::when_up(std::function<void()> fn) {
  asio::dispatch(strand_, [self = self(), fn = std::move(fn)]() mutable {
    if (self->closed_) return;
    if (!self->up_.load()) {
      self->when_up_.push_back(std::move(fn));
      return;
    }
    self->run_guarded(fn);
  });
}

void AsioConnection::run_ready() {
  // Swapped out first: a handler may issue commands (or close()) whose own
  // completions must not interleave with this batch.
  std::vector<std::pair<Handler, Reply>> batch;
  batch.swap(ready_);
  for (auto& [handler, reply] : batch) {
    try {
      handler({}, std::move(reply));
    } catch (const std::exception& e) {
      if (log_ != nullptr)
        log_->error("redis reply handler threw", LogLine().str("what", e.what()));
    }
  }
  batch.clear();
  if (ready_.empty()) ready_.swap(batch);  // keep the capacity
}

void AsioConnection::complete(Handler handler, boost::system::error_code ec, Reply r) {
  asio::post(strand_,
             [self = self(), handler = std::move(handler), ec, r = std::move(r)]() mutable {
               try {
                 handler(ec, std::move(r));
               } catch (const std::exception& e) {
                 if (self->log_ != nullptr) {
                   self->log_->error("redis reply handler threw", LogLine().str("what", e.what()));
                 }
               }
             });
}

// The RESP encoding of `argv` (what redisFormatCommandArgv builds, without
// its per-argument sdscatfmt calls).
std::string AsioConnection::format_command(const std::vector<std::string>& argv) {
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
void AsioConnection::send_formatted(const std::string& cmd, Handler handler,
                                    std::chrono::milliseconds timeout) {
  if (!up_.load()) {
    complete(std::move(handler), closed_ ? Errc::closed : Errc::not_connected);
    return;
  }
  send(cmd, std::move(handler), timeout);
}

void AsioConnection::send(const std::vector<std::string>& argv, Handler handler,
                          std::chrono::milliseconds timeout) {
  send(format_command(argv), std::move(handler), timeout);
}

void AsioConnection::send(const std::string& cmd, Handler handler,
                          std::chrono::milliseconds timeout) {
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

void AsioConnection::on_reply(redisAsyncContext* ac, void* reply, void* privdata) {
  std::unique_ptr<Pending> p(static_cast<Pending*>(privdata));
  AsioConnection* self = p->owner;
  if (self->destroying_) return;
  self->deadlines_.erase(p->deadline);
  if (reply == nullptr) {
    // The link is going (hiredis fails what is pending, then cleans up).
    self->complete(std::move(p->handler), self->failure_of(*p, *ac));
    return;
  }
  if (self->reading_) {
    self->ready_.emplace_back(std::move(p->handler),
                              detail::copy_reply(static_cast<redisReply*>(reply)));
    return;
  }
  self->complete(std::move(p->handler), {}, detail::copy_reply(static_cast<redisReply*>(reply)));
}

// Why a command without a reply failed, as redis.hpp promises: whether it
// may have run depends only on whether all of it was written.
Errc AsioConnection::failure_of(const Pending& p, const redisAsyncContext& ac) const {
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
void AsioConnection::arm_deadline() {
  if (deadlines_.empty()) return;
  auto earliest = *deadlines_.begin();
  if (deadline_armed_ && earliest >= deadline_at_) return;
  deadline_armed_ = true;
  deadline_at_ = earliest;
  deadline_timer_.expires_at(earliest);
  deadline_timer_.async_wait([self = self(), gen = ++deadline_gen_](boost::system::error_code ec) {
    if (gen != self->deadline_gen_) return;
    self->deadline_armed_ = false;
    if (ec) return;
    if (!self->deadlines_.empty() && *self->deadlines_.begin() <= SteadyClock::now()) {
      if (self->log_ != nullptr) self->log_->warn("redis command deadline passed; reconnecting");
      self->drop(Errc::timeout);
      return;
    }
    self->arm_deadline();
  });
}

}  // namespace detail

std::shared_ptr<Connection> Connection::create(boost::asio::any_io_executor ex, Endpoint endpoint,
                                               Options options, Log* log) {
  return std::make_shared<detail::AsioConnection>(std::move(ex), std::move(endpoint),
                                                  std::move(options), log);
}

}  // namespace isync::redis
