// The intacct-sandbox binary as a child process: ctl driving the control API
// of a server in the test, and serve writing its ports, answering, and saving
// its state on SIGTERM.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/sandbox/server_fixture.hpp"
#include "tests/support/process.hpp"

namespace http = boost::beast::http;
namespace intacct = isync::intacct;
namespace sandbox = isync::sandbox;
using isync::testing::eventually;
using namespace std::chrono_literals;
using namespace isync::sandbox::test::server;

namespace {

struct RunResult {
  int code = -100;  // exit code, -signal, or -100 when still running at the deadline
  std::string out, err;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string temp_dir() {
  char tmpl[] = "/tmp/isync-sandbox-test-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  return tmpl;
}

// Where one child's stdout and stderr go.
struct ChildFiles {
  std::string out, err;
  explicit ChildFiles(const std::string& dir) {
    static int counter = 0;
    out = dir + "/out-" + std::to_string(++counter);
    err = out + ".err";
  }
};

// The intacct-sandbox binary as a child: stdout and stderr go to files.
class Child : private ChildFiles, public isync::testing::Child {
 public:
  Child(std::vector<std::string> args, const std::vector<std::string>& extra_env,
        const std::string& dir)
      : ChildFiles(dir),
        isync::testing::Child(ISYNC_SANDBOX_BINARY, std::move(args), extra_env, err, out) {}

  RunResult wait(std::chrono::milliseconds deadline = 20s) {
    RunResult r;
    r.code = wait_exit(deadline).value_or(-100);
    r.out = read_file(out);
    r.err = read_file(err);
    return r;
  }
};

RunResult ctl(const Fixture& fx, const std::string& dir, std::vector<std::string> args) {
  args.insert(args.begin(),
              {"ctl", "--control", "http://127.0.0.1:" + std::to_string(fx.control_port)});
  Child child(std::move(args), {}, dir);
  return child.wait();
}

}  // namespace

TEST_CASE("intacct-sandbox ctl drives the control API and exits 0, 1 or 2") {
  Fixture fx;
  auto dir = temp_dir();

  auto added = ctl(fx, dir, {"add", "CUSTOMER", "NAME=Cli Ltd", "CUSTOMERID=C-CLI"});
  CAPTURE(added.err);
  REQUIRE(added.code == 0);
  auto recordno = added.out.substr(0, added.out.find('\n'));
  REQUIRE(fx.company->get("CUSTOMER", std::stoll(recordno)).has_value());
  CHECK(fx.company->get("CUSTOMER", std::stoll(recordno))->fields.at("NAME") == "Cli Ltd");

  auto set = ctl(fx, dir, {"set", "CUSTOMER", recordno, "NAME=Cli Two"});
  CHECK(set.code == 0);
  CHECK(fx.company->get("CUSTOMER", std::stoll(recordno))->fields.at("NAME") == "Cli Two");

  auto got = ctl(fx, dir, {"get", "CUSTOMER", recordno});
  CHECK(got.code == 0);
  CHECK(got.out.find("\"NAME\":\"Cli Two\"") != std::string::npos);

  auto listed = ctl(fx, dir, {"list", "CUSTOMER", "--limit", "2"});
  CHECK(listed.code == 0);
  CHECK(listed.out.rfind("{\"records\":[", 0) == 0);

  CHECK(ctl(fx, dir, {"faults", "latency_ms=5", "rate_limit_http=false"}).code == 0);
  CHECK(fx.company->faults().latency == 5ms);
  CHECK(fx.company->faults().rate_limit_http == false);
  auto shown = ctl(fx, dir, {"faults"});
  CHECK(shown.out.find("\"latency_ms\":5") != std::string::npos);
  CHECK(ctl(fx, dir,
            {"faults", "server_error_ratio=0.05", "land_later_ratio=.5",
             "timeout_after_write_ratio=1"})
            .code == 0);
  CHECK(fx.company->faults().server_error_ratio == 0.05);
  CHECK(fx.company->faults().land_later_ratio == 0.5);
  CHECK(fx.company->faults().timeout_after_write_ratio == 1.0);
  auto bad_ratio = ctl(fx, dir, {"faults", "server_error_ratio=1.5"});
  CHECK(bad_ratio.code == 1);
  CHECK(bad_ratio.err.find("\"server_error_ratio\" must be a number from 0 to 1") !=
        std::string::npos);
  CHECK(ctl(fx, dir, {"faults", "server_error_ratio=0.1.2"}).code == 2);
  CHECK(ctl(fx, dir, {"faults", "clear"}).code == 0);
  CHECK(fx.company->faults().latency == 0ms);
  CHECK(fx.company->faults().server_error_ratio == 0.0);
  CHECK(fx.company->faults().timeout_after_write_ratio == 0.0);

  auto settings = ctl(fx, dir, {"settings"});
  CHECK(settings.code == 0);
  CHECK(settings.out ==
        "{\"payment_batch_required\":false,\"unique_payment_numbers\":false,\"write_clock_offset_"
        "s\":0}\n");
  settings = ctl(fx, dir, {"settings", "unique_payment_numbers=true"});
  CHECK(settings.code == 0);
  CHECK(settings.out ==
        "{\"payment_batch_required\":false,\"unique_payment_numbers\":true,\"write_clock_offset_"
        "s\":0}\n");
  CHECK(fx.company->settings().unique_payment_numbers);
  CHECK(ctl(fx, dir, {"settings", "unique_payment_numbers=yes"}).code == 2);
  auto unknown = ctl(fx, dir, {"settings", "batch=true"});
  CHECK(unknown.code == 1);
  CHECK(unknown.err.find("unknown setting \"batch\"") != std::string::npos);

  CHECK(ctl(fx, dir, {"expire-sessions"}).code == 0);
  auto stats = ctl(fx, dir, {"stats"});
  CHECK(stats.code == 0);
  CHECK(stats.out.find("\"events\":{") != std::string::npos);

  CHECK(ctl(fx, dir, {"delete", "CUSTOMER", recordno}).code == 0);
  CHECK_FALSE(fx.company->get("CUSTOMER", std::stoll(recordno)).has_value());

  auto missing = ctl(fx, dir, {"get", "CUSTOMER", recordno});
  CHECK(missing.code == 1);
  CHECK(missing.err.find("no CUSTOMER with RECORDNO " + recordno) != std::string::npos);

  // What reconciliation tests use: offset, silent writes, drop ratio, denial, dropped events.
  CHECK(ctl(fx, dir, {"settings", "write_clock_offset_s=-20736000"}).code == 0);
  CHECK(fx.company->settings().write_clock_offset == std::chrono::seconds(-20736000));
  CHECK(ctl(fx, dir, {"settings", "write_clock_offset_s=-2x"}).code == 2);
  CHECK(ctl(fx, dir, {"settings", "write_clock_offset_s=0"}).code == 0);
  REQUIRE(eventually([&] { return fx.server->poster_stats().queued == 0; }));
  const auto posted = fx.server->poster_stats().posted;
  auto quiet = ctl(fx, dir, {"add", "CUSTOMER", "NAME=Quiet", "--silent"});
  REQUIRE(quiet.code == 0);
  const auto quiet_no = quiet.out.substr(0, quiet.out.find('\n'));
  CHECK(ctl(fx, dir, {"set", "CUSTOMER", quiet_no, "NAME=Quieter", "--silent"}).code == 0);
  CHECK(ctl(fx, dir, {"delete", "CUSTOMER", quiet_no, "--silent"}).code == 0);
  CHECK_FALSE(fx.company->get("CUSTOMER", std::stoll(quiet_no)).has_value());
  CHECK(ctl(fx, dir, {"faults", "drop_events_ratio=1", "deny_read_objects=arpymt,CUSTOMER"}).code ==
        0);
  CHECK(fx.company->faults().deny_read_objects == std::set<std::string>{"ARPYMT", "CUSTOMER"});
  CHECK(ctl(fx, dir, {"add", "CUSTOMER", "NAME=Dropped"}).code == 0);
  auto dropped = ctl(fx, dir, {"dropped-events"});
  CHECK(dropped.code == 0);
  CHECK(dropped.out.rfind("{\"count\":1,", 0) == 0);
  CHECK(ctl(fx, dir, {"dropped-events", "clear"}).code == 0);
  CHECK(fx.company->dropped_events().count == 0);
  CHECK(ctl(fx, dir, {"dropped-events", "all"}).code == 2);
  CHECK(ctl(fx, dir, {"faults", "deny_read_objects="}).code == 0);
  CHECK(fx.company->faults().deny_read_objects.empty());
  CHECK(ctl(fx, dir, {"faults", "clear"}).code == 0);
  CHECK(fx.server->poster_stats().queued == 0);
  CHECK(fx.server->poster_stats().posted == posted);  // nothing posted since `quiet`

  CHECK(ctl(fx, dir, {"faults", "latency_ms=soon"}).code == 2);
  CHECK(ctl(fx, dir, {"add", "CUSTOMER", "NAME"}).code == 2);
  CHECK(ctl(fx, dir, {"frobnicate"}).code == 2);
  std::filesystem::remove_all(dir);
}

TEST_CASE("serve writes its ports, answers, and on SIGTERM exits 0 having saved its state") {
  auto dir = temp_dir();
  EventSink sink;
  std::string state = dir + "/state.json";
  std::string ports = dir + "/ports";
  std::ofstream(dir + "/events-url") << "http://127.0.0.1:" << sink.port()
                                     << "/v1/intacct/demo/events?token=" << kEventToken << "\n";
  Child serve({"serve",
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
               "3",
               "--demo-invoices",
               "4",
               "--events-url-file",
               dir + "/events-url",
               "--state-file",
               state,
               "--port-file",
               ports,
               "--unique-payment-numbers"},
              {std::string("INTACCT_SANDBOX_SENDER_PASSWORD=") + kSenderPassword,
               std::string("INTACCT_SANDBOX_USER_PASSWORD=") + kUserPassword},
              dir);
  REQUIRE(eventually([&] { return read_file(ports).find('\n') != std::string::npos; }));
  std::istringstream in(read_file(ports));
  int gateway = 0, control = 0;
  in >> gateway >> control;
  REQUIRE(gateway > 0);
  REQUIRE(control > 0);

  auto health = call(static_cast<std::uint16_t>(control), http::verb::get, "/healthz");
  CHECK(health.status == 200);
  CHECK(
      call(static_cast<std::uint16_t>(control), http::verb::get, "/v1/settings").body ==
      R"({"payment_batch_required":false,"unique_payment_numbers":true,"write_clock_offset_s":0})");
  auto added =
      call(static_cast<std::uint16_t>(control), http::verb::post, "/v1/records/CUSTOMER",
           R"({"fields":{"NAME":"Saved Ltd","CUSTOMERID":"C-SAVED"}})", "application/json");
  CHECK(added.status == 201);
  auto res = post_gateway(static_cast<std::uint16_t>(gateway),
                          login_request({{"q", intacct::ReadByQuery{"CUSTOMER", {}, "", 10}}}));
  CHECK(res.status == 200);
  CHECK(eventually([&] { return sink.count() == 1; }));

  serve.signal(SIGTERM);
  auto exit = serve.wait();
  CAPTURE(exit.err);
  CHECK(exit.code == 0);
  auto saved = read_file(state);
  CHECK(saved.find("C-SAVED") != std::string::npos);
  CHECK(exit.err.find("\"functions\":\"readByQuery\"") != std::string::npos);
  CHECK(exit.err.find(kSenderPassword) == std::string::npos);
  CHECK(exit.err.find(kUserPassword) == std::string::npos);
  CHECK(exit.err.find(kEventToken) == std::string::npos);
  std::filesystem::remove_all(dir);
}
