#include "bench/common/company.hpp"

#include <boost/beast/http/verb.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>

#include "bench/common/http_client.hpp"

namespace isync::bench {

std::string random_token() {
  std::random_device rd;
  std::string out;
  for (int i = 0; i < 24; ++i) {
    char buf[3];
    std::snprintf(buf, sizeof buf, "%02x", rd() & 0xff);
    out += buf;
  }
  return out;
}

std::vector<std::string> Secrets::service_env() const {
  return {"BENCH_ADMIN_TOKEN=" + admin_token, "BENCH_TENANT_TOKEN=" + tenant_token,
          "BENCH_SENDER_PASSWORD=" + sender_password, "BENCH_USER_PASSWORD=" + user_password};
}

std::vector<std::string> Secrets::sandbox_env() const {
  return {"INTACCT_SANDBOX_SENDER_PASSWORD=" + sender_password,
          "INTACCT_SANDBOX_USER_PASSWORD=" + user_password};
}

Sandbox start_sandbox(const std::string& binary, const std::string& workdir,
                      const DemoCompany& company, const Secrets& secrets,
                      std::chrono::seconds limit) {
  const std::string ports_file = workdir + "/sandbox.ports";
  std::filesystem::remove(ports_file);
  Sandbox s;
  s.child = std::make_unique<Child>(std::vector<std::string>{binary,
                                                             "serve",
                                                             "--gateway-listen",
                                                             "127.0.0.1:0",
                                                             "--control-listen",
                                                             "127.0.0.1:0",
                                                             "--sender-id",
                                                             kSenderId,
                                                             "--company-id",
                                                             kCompanyId,
                                                             "--user-id",
                                                             kUserId,
                                                             "--demo-customers",
                                                             std::to_string(company.customers),
                                                             "--demo-invoices",
                                                             std::to_string(company.invoices),
                                                             "--seed",
                                                             std::to_string(company.seed),
                                                             "--port-file",
                                                             ports_file},
                                    workdir + "/sandbox.log", secrets.sandbox_env());
  if (!wait_until(
          [&] {
            std::ifstream in(ports_file);
            return static_cast<bool>(in >> s.gateway_port >> s.control_port) && s.control_port != 0;
          },
          limit))
    throw std::runtime_error("intacct-sandbox did not start; see " + workdir + "/sandbox.log");
  return s;
}

std::unique_ptr<Child> start_service(const std::string& binary, const std::string& config,
                                     const std::string& workdir, const Secrets& secrets,
                                     std::uint16_t public_port, std::chrono::seconds limit) {
  auto service =
      std::make_unique<Child>(std::vector<std::string>{binary, "serve", "--config", config},
                              workdir + "/service.log", secrets.service_env());
  if (!wait_until(
          [&] {
            return HttpClient(public_port)
                       .request(boost::beast::http::verb::get, "/healthz")
                       .status == 200;
          },
          limit))
    throw std::runtime_error("intacct-sync did not start; see " + workdir + "/service.log");
  return service;
}

}  // namespace isync::bench
