// The on-call end-to-end tests' shared steps: the admin API as a client,
// dead letters made by a sandbox fault, and the lookups both the HTTP and
// the CLI tests use.
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

#include "tests/support/e2e_loop.hpp"

namespace isync::testing::e2e {

inline constexpr const char* kJson = "application/json";

// Jobs run fast here: every serve process reads the override.
struct FastReplays {
  FastReplays() { ::setenv("INTACCT_SYNC_ADMIN_REPLAY_RATE", "1000", 1); }
  ~FastReplays() { ::unsetenv("INTACCT_SYNC_ADMIN_REPLAY_RATE"); }
};

inline Response admin(Loop& loop, http::verb method, const std::string& target,
                      const std::string& body = {}, const std::string& type = kJson,
                      const std::string& token = kAdminToken) {
  return HttpClient(loop.admin_port).request(method, target, body, type, token);
}
inline Response get(Loop& loop, const std::string& target) {
  return admin(loop, http::verb::get, target);
}
inline Response post(Loop& loop, const std::string& target, const std::string& body) {
  return admin(loop, http::verb::post, target, body);
}

inline std::string err(const std::string& code, const std::string& message) {
  return R"({"error":{"code":")" + code + R"(","message":")" + message + R"("}})";
}

// The ids of the events a list answer holds, newest first.
inline std::vector<std::string> ids_of(const std::string& body) {
  std::vector<std::string> out;
  auto doc = json(body);
  if (!doc.IsObject() || !doc.HasMember("events")) return out;
  for (const auto& e : doc["events"].GetArray()) out.emplace_back(e["id"].GetString());
  return out;
}

// Waits for `n` dead letters of tenant acme.
inline bool dead_letters(RedisServer& redis, long long n) {
  return eventually([&] { return redis.cmd({"ZCARD", "isync:{acme}:dead"}).integer == n; }, 30s);
}

inline std::string dead_id_for(Loop& loop, int recordno) {
  auto ids = ids_of(
      get(loop, "/v1/admin/events?tenant=acme&object=CUSTOMER&key=" + std::to_string(recordno))
          .body);
  REQUIRE(ids.size() == 1);
  return ids.front();
}

// The sandbox denies reads of CUSTOMER; the changes of `records` become dead
// letters (a permission error is permanent).
inline void dead_customers(Loop& loop, RedisServer& redis, const std::vector<int>& records) {
  loop.faults(R"({"deny_read_objects":["CUSTOMER"]})");
  for (int r : records) {
    loop.set_fields("CUSTOMER", r, "{\"NAME\":\"On call " + std::to_string(r) + "\"}");
  }
  INFO(loop.logs());
  REQUIRE(dead_letters(redis, static_cast<long long>(records.size())));
}

}  // namespace isync::testing::e2e
