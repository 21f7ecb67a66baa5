#include "redis/detail/reply.hpp"

#include <string>

#include "redis/redis.hpp"

namespace isync::redis {

namespace {

class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "redis"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
      case Errc::not_connected:
        return "not connected to Redis (the command was not sent)";
      case Errc::reply_lost:
        return "connection to Redis lost before the reply (the command may have run)";
      case Errc::timeout:
        return "Redis command timed out (the command may have run)";
      case Errc::protocol:
        return "Redis protocol error (the command may have run)";
      case Errc::closed:
        return "Redis connection closed (the command was not sent)";
    }
    return "unknown Redis error";
  }
};

}  // namespace

const boost::system::error_category& category() {
  static const Category instance;
  return instance;
}

boost::system::error_code make_error_code(Errc e) {
  return boost::system::error_code(static_cast<int>(e), category());
}

bool may_have_run(boost::system::error_code ec) {
  if (ec.category() != category()) return false;
  switch (static_cast<Errc>(ec.value())) {
    case Errc::reply_lost:
    case Errc::timeout:
    case Errc::protocol:
      return true;
    case Errc::not_connected:
    case Errc::closed:
      return false;
  }
  return false;
}

Script::Script(std::string b) : body(std::move(b)), sha(sha1_hex(body)) {}

namespace detail {

Reply copy_reply(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::string;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::status;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::array;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(copy_reply(r->element[i]));
      break;
    default:
      out.type = Reply::Type::nil;
      break;
  }
  return out;
}

std::vector<std::vector<std::string>> handshake_commands(const Endpoint& ep,
                                                         const std::string& client_name) {
  std::vector<std::vector<std::string>> out;
  if (!ep.password.empty()) {
    if (ep.user.empty()) {
      out.push_back({"AUTH", ep.password});
    } else {
      out.push_back({"AUTH", ep.user, ep.password});
    }
  }
  if (ep.db != 0) out.push_back({"SELECT", std::to_string(ep.db)});
  if (!client_name.empty()) out.push_back({"CLIENT", "SETNAME", client_name});
  return out;
}

}  // namespace detail
}  // namespace isync::redis
