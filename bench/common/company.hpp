// Shared by the end-to-end benchmarks (bench-reconcile, bench-thin): the
// bench's tenant and Intacct identity, the secrets the processes share (from
// the environment, never printed), and the start of intacct-sandbox with a
// demo company and of the service. Synchronous, for the driver thread; each
// start waits at most its limit and throws std::runtime_error (naming the
// log) when the process is not up by then.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/common/process.hpp"

namespace isync::bench {

inline constexpr const char* kTenant = "bench";
inline constexpr const char* kSenderId = "intacct-sync-bench";
inline constexpr const char* kCompanyId = "BENCH-CO";
inline constexpr const char* kUserId = "ws_bench";

// A random hex token (48 characters) for the secrets the processes share.
std::string random_token();

// The secrets of one run, each a random_token(). A service config refers to
// them as env:BENCH_ADMIN_TOKEN, env:BENCH_TENANT_TOKEN,
// env:BENCH_SENDER_PASSWORD and env:BENCH_USER_PASSWORD.
struct Secrets {
  std::string admin_token = random_token(), tenant_token = random_token(),
              sender_password = random_token(), user_password = random_token();
  std::vector<std::string> service_env() const;  // the BENCH_* variables
  std::vector<std::string> sandbox_env() const;  // INTACCT_SANDBOX_*_PASSWORD
};

struct DemoCompany {
  int customers = 500, invoices = 2000;
  std::uint64_t seed = 1;
};

// intacct-sandbox serve on loopback ports it picks (told through
// `<workdir>/sandbox.ports`), the bench's sender, company and user, and a
// demo company; its log in `<workdir>/sandbox.log`.
struct Sandbox {
  std::unique_ptr<Child> child;
  std::uint16_t gateway_port = 0, control_port = 0;
};
Sandbox start_sandbox(const std::string& binary, const std::string& workdir,
                      const DemoCompany& company, const Secrets& secrets,
                      std::chrono::seconds limit);

// `<binary> serve --config <config>` with the secrets in its environment,
// its log in `<workdir>/service.log`; up once GET /healthz on `public_port`
// answers 200.
std::unique_ptr<Child> start_service(const std::string& binary, const std::string& config,
                                     const std::string& workdir, const Secrets& secrets,
                                     std::uint16_t public_port, std::chrono::seconds limit);

}  // namespace isync::bench
