// The envelopes a tenant's stream holds, oldest first (each entry's "e"
// field decoded), for the ingest route tests.
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "queue/queue.hpp"
#include "tests/support/redis_server.hpp"

namespace isync::testing {

inline std::vector<queue::Envelope> queued_envelopes(RedisServer& redis,
                                                     const std::string& tenant) {
  auto entries = redis.cmd({"XRANGE", queue::key(tenant, "events"), "-", "+"});
  std::vector<queue::Envelope> out;
  for (const auto& e : entries.elements) {
    const auto& fields = e.elements[1].elements;
    for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
      if (fields[i].str != "e") continue;
      auto env = queue::decode(fields[i + 1].str);
      REQUIRE(env.has_value());
      out.push_back(*env);
    }
  }
  return out;
}

}  // namespace isync::testing
