// The mirror fixture with Intacct access: the sandbox company served over
// HTTP and a MirrorHandler that reads from it, for the tests of thin and
// conflicting events and of the read schedule.
#pragma once

#include <doctest/doctest.h>

#include <future>
#include <memory>
#include <string>

#include "intacct/client.hpp"
#include "intacct/transport.hpp"
#include "sandbox/sandbox.hpp"
#include "sandbox/server.hpp"
#include "tests/handlers/mirror_fixture.hpp"

namespace isync::testing {

inline sandbox::Credentials credentials() {
  return {"sender-1", "sender-secret", "DEMO-CO", "ws_user", "user-secret"};
}

// The mirror fixture plus the sandbox company served on a free port, and a
// MirrorHandler with Intacct access for the tenant.
// The sandbox's clock stands still at kChangeMs unless a test moves it, so
// changes made one after the other share a WHENMODIFIED second, as changes
// within one second do in Intacct.
inline constexpr std::int64_t kChangeMs = 1795000000100;  // 100 ms into a second
// The end of that second plus the settle margin (2 s): a read from then on is
// final for the second's WHENMODIFIED.
inline constexpr std::int64_t kSettledMs = (kChangeMs / 1000 + 1) * 1000 + 2000;

struct IntacctFixture : MirrorFixture {
  ManualClock sandbox_clock{kChangeMs};
  sandbox::Company company{
      sandbox::Options{credentials(), "", std::chrono::hours(2), std::chrono::minutes(30), false},
      sandbox_clock};
  std::unique_ptr<sandbox::Server> gateway;
  std::shared_ptr<intacct::HttpTransport> transport;
  std::shared_ptr<intacct::ClientHub> hub;

  explicit IntacctFixture(std::string user_password = "user-secret",
                          bool read_after_settle = true) {
    // By default the service works after the changes' second has settled;
    // tests of the same-second rules move the clock back.
    clock.set(kSettledMs);
    sandbox::ServerOptions so;
    so.gateway_port = 0;
    so.control_port = 0;
    gateway = std::make_unique<sandbox::Server>(io->executor(), company, so, log);
    REQUIRE(gateway->start().has_value());
    intacct::TransportOptions to;
    to.allow_plain_http = true;
    transport = intacct::HttpTransport::create(io->executor(), to, log);
    intacct::ClientOptions co;
    co.endpoint =
        "http://127.0.0.1:" + std::to_string(gateway->gateway_port()) + "/ia/xml/xmlgw.phtml";
    co.sender_id = "sender-1";
    co.sender_password = Secret("sender-secret");
    hub = std::make_shared<intacct::ClientHub>(io->executor(), conn, transport, co, metrics, clock,
                                               log);
    hub->add_tenant(intacct::TenantAccess{kTenant, "DEMO-CO", "ws_user",
                                          Secret(std::move(user_password)), "", 2, 100000});
    // Generous, so that events handed over together meet in one batch even
    // under sanitizers.
    options.read_batch_window = std::chrono::milliseconds(300);
    options.read_after_settle = read_after_settle;
    handler = std::make_unique<handlers::MirrorHandler>(conn, options, metrics, clock, log,
                                                        io->executor(), hub);
  }
  ~IntacctFixture() {
    handler->stop_rechecks();
    hub->shutdown();
    transport->shutdown();
    std::promise<void> stopped;
    gateway->stop([&] { stopped.set_value(); });
    stopped.get_future().wait_for(std::chrono::seconds(15));
  }

  std::int64_t reads() {
    auto s = company.stats();
    auto it = s.calls_by_function.find("read");
    return it == s.calls_by_function.end() ? 0 : it->second;
  }
  std::uint64_t read_results(const std::string& object, const std::string& result) {
    return metrics
        .counter("isync_mirror_intacct_reads_total", "",
                 {{"tenant", kTenant}, {"object", object}, {"result", result}})
        .value();
  }
  sandbox::Record add_customer(const std::string& id, const std::string& name) {
    auto r = company.add("CUSTOMER", {{"CUSTOMERID", id}, {"NAME", name}});
    REQUIRE(r.has_value());
    return *r;
  }
  static queue::Envelope thin(const sandbox::Record& r, const std::string& action = "set") {
    auto v = parse_whenmodified(r.fields.at("WHENMODIFIED"));
    REQUIRE(v.has_value());
    return make_event(r.object, std::to_string(r.recordno), action, *v);
  }
};

}  // namespace isync::testing
