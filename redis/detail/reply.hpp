// Internals shared by the async and the blocking client.
#pragma once

#include <hiredis/hiredis.h>

#include "redis/redis.hpp"

namespace isync::redis::detail {

// Deep-copies a hiredis reply (hiredis frees its own after the callback).
// REQUIRES: r != nullptr.
Reply copy_reply(const redisReply* r);

// AUTH / SELECT / CLIENT SETNAME to send on every new connection, in order.
std::vector<std::vector<std::string>> handshake_commands(const Endpoint& ep,
                                                         const std::string& client_name);

}  // namespace isync::redis::detail
