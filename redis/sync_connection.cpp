#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <string>

#include "redis/detail/reply.hpp"
#include "redis/redis.hpp"

namespace isync::redis {

namespace {

struct ContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

}  // namespace

struct SyncConnection::Impl {
  std::unique_ptr<redisContext, ContextDeleter> ctx;
  std::string where;  // host:port, for messages

  Result<Reply> run(const std::vector<std::string>& argv) {
    if (ctx == nullptr || ctx->err != 0) {
      return make_error("redis_io", "connection to Redis at " + where + " is broken; reconnect");
    }
    std::vector<const char*> args;
    std::vector<size_t> lens;
    args.reserve(argv.size());
    lens.reserve(argv.size());
    for (const auto& a : argv) {
      args.push_back(a.data());
      lens.push_back(a.size());
    }
    std::unique_ptr<redisReply, ReplyDeleter> r(static_cast<redisReply*>(
        redisCommandArgv(ctx.get(), static_cast<int>(args.size()), args.data(), lens.data())));
    if (r == nullptr) {
      return make_error("redis_io", "Redis at " + where + ": " + std::string(ctx->errstr));
    }
    return detail::copy_reply(r.get());
  }
};

SyncConnection::SyncConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SyncConnection::SyncConnection(SyncConnection&&) noexcept = default;
SyncConnection& SyncConnection::operator=(SyncConnection&&) noexcept = default;
SyncConnection::~SyncConnection() = default;

Result<SyncConnection> SyncConnection::connect(const Endpoint& endpoint,
                                               std::chrono::milliseconds timeout) {
  auto impl = std::make_unique<Impl>();
  impl->where = endpoint.host + ":" + std::to_string(endpoint.port);
  impl->ctx.reset(
      redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port, to_timeval(timeout)));
  if (impl->ctx == nullptr) {
    return make_error("redis_io", "cannot allocate a Redis context for " + impl->where);
  }
  if (impl->ctx->err != 0) {
    return make_error("redis_io", "cannot connect to Redis at " + impl->where + ": " +
                                      std::string(impl->ctx->errstr));
  }
  if (redisSetTimeout(impl->ctx.get(), to_timeval(timeout)) != REDIS_OK) {
    return make_error("redis_io", "cannot set the command timeout for Redis at " + impl->where);
  }
  for (const auto& argv : detail::handshake_commands(endpoint, {})) {
    auto r = impl->run(argv);
    if (!r) return r.error();
    if (r->is_error()) {
      // The reply text of a failed AUTH never contains the password.
      return make_error("redis_auth",
                        "Redis at " + impl->where + " refused " + argv[0] + ": " + r->str);
    }
  }
  return SyncConnection(std::move(impl));
}

Result<Reply> SyncConnection::command(const std::vector<std::string>& argv) {
  return impl_->run(argv);
}

}  // namespace isync::redis
