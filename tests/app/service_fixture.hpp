// The app tests' running service: a temporary directory with a config for a
// test's redis-server on fresh ports, and the intacct-sync binary started on it
// with the test tokens in its environment, waited for until /readyz answers.
// Shared by service_test.cpp (serve) and service_ops_test.cpp (status, alerts).
#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

namespace isync::testing::service {

using namespace std::chrono_literals;
using Client = HttpClient;

inline constexpr const char* kAdminToken = "admin-token-for-tests";
inline constexpr const char* kTenantToken = "acme-token-for-tests";

// The intacct-sync binary with the test tokens in its environment.
class Service : public Child {
 public:
  Service(const std::string& config_path, const std::string& log_path)
      : Child(ISYNC_BINARY, {"serve", "--config", config_path},
              {std::string("TEST_ADMIN_TOKEN=") + kAdminToken,
               std::string("TEST_ACME_TOKEN=") + kTenantToken},
              log_path) {}
};

// A temporary directory with a config for `redis`, on fresh ports.
class Fixture {
 public:
  explicit Fixture(RedisServer& redis, const std::string& extra = {})
      : public_port(free_port()), admin_port(free_port()) {
    char tmpl[] = "/tmp/isync-app-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    config = dir + "/config.toml";
    std::ofstream(config) << "[server]\npublic_listen = \"127.0.0.1:" << public_port
                          << "\"\nadmin_listen = \"127.0.0.1:" << admin_port
                          << "\"\nthreads = 2\ndrain_timeout = \"10s\"\n"
                          << extra << "\n[redis]\nurl = \"" << redis.url()
                          << "\"\n[queue]\nworkers = 4\n"
                             "[admin]\ntoken = \"env:TEST_ADMIN_TOKEN\"\n"
                             "[[tenant]]\nid = \"acme\"\ntoken = \"env:TEST_ACME_TOKEN\"\n";
  }
  ~Fixture() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  std::unique_ptr<Service> start(const std::string& log_name = "service.log") {
    auto s = std::make_unique<Service>(config, dir + "/" + log_name);
    // Ready, not just up: every accept connection to Redis can write.
    bool up = eventually(
        [&] { return Client(public_port).request(http::verb::get, "/readyz").status == 200; }, 10s);
    if (!up) FAIL("service did not come up; log:\n" << s->log());
    return s;
  }

  std::uint16_t public_port;
  std::uint16_t admin_port;
  std::string dir;
  std::string config;
};

}  // namespace isync::testing::service
