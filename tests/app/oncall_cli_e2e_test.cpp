// On-call end to end through the CLI: the intacct-sync binary's events and
// records verbs run as the on-call engineer runs them, with the service's
// config file, against the Redis of a running service and the sandbox.
#include <fstream>
#include <sstream>

#include "tests/app/oncall_e2e_fixture.hpp"

using namespace isync::testing::e2e;
using namespace std::chrono_literals;
namespace http = boost::beast::http;

namespace {

// The CLI as the on-call engineer runs it, with the service's config file.
struct Cli {
  int code = -1;
  std::string out, err;
};
Cli cli(Loop& loop, std::vector<std::string> args) {
  static int n = 0;
  const std::string base = loop.dir + "/cli" + std::to_string(++n);
  args.push_back("--config");
  args.push_back(loop.dir + "/service0.toml");
  Cli r;
  {
    isync::testing::Child child(
        ISYNC_BINARY, args,
        {std::string("TEST_ADMIN_TOKEN=") + kAdminToken,
         std::string("TEST_ACME_TOKEN=") + kTenantToken,
         std::string("TEST_SENDER_PASSWORD=") + kSenderPassword,
         std::string("TEST_USER_PASSWORD=") + kUserPassword, "USER=oncall-alice"},
        base + ".err", base + ".out");
    auto code = child.wait_exit(60s);
    r.code = code ? *code : -1;
  }
  std::stringstream out, errs;
  out << std::ifstream(base + ".out").rdbuf();
  errs << std::ifstream(base + ".err").rdbuf();
  r.out = out.str();
  r.err = errs.str();
  return r;
}

}  // namespace

TEST_CASE("the CLI: events list, show, replay, discard, jobs, cancel and records show") {
  FastReplays fast;
  RedisServer redis;
  Loop loop(redis);
  loop.start_sandbox();
  loop.start_service();
  dead_customers(loop, redis, {6, 7, 8});
  INFO(loop.logs());

  auto c = cli(loop, {"events", "list", "--tenant", "acme", "--state", "dead", "--json"});
  CHECK(c.code == 0);
  CHECK(ids_of(c.out).size() == 3);
  c = cli(loop, {"events", "list", "--object", "CUSTOMER", "--key", "6"});
  CHECK(c.code == 0);
  CHECK(c.out.find("BL01001973") != std::string::npos);
  const std::string six = dead_id_for(loop, 6);

  c = cli(loop, {"events", "show", six, "--json"});
  CHECK(c.code == 0);
  CHECK(c.out.find("\"errorno\":\"BL01001973\"") != std::string::npos);
  c = cli(loop, {"events", "show", six});
  CHECK(c.code == 0);
  CHECK(c.out.find("errorno:     BL01001973") != std::string::npos);
  CHECK(c.out.find("correction:  Ask a company administrator") != std::string::npos);
  CHECK(c.out.find("raw payload") != std::string::npos);
  c = cli(loop, {"events", "show", "01NOSUCHEVENT0000000000000"});
  CHECK(c.code == 2);
  CHECK(c.err.find("only failed events are kept") != std::string::npos);

  // Discard with a reason; a second discard is refused (3).
  c = cli(loop, {"events", "discard", six, "--reason", "customer deleted", "--json"});
  CHECK(c.code == 0);
  CHECK(c.out == "{\"matched\":1,\"discarded\":1,\"skipped\":[]}\n");
  c = cli(loop, {"events", "discard", six, "--reason", "again"});
  CHECK(c.code == 3);
  CHECK(c.err.find("discarded") != std::string::npos);
  c = cli(loop, {"events", "discard", six});
  CHECK(c.code == 1);
  c = cli(loop, {"events", "list", "--state", "bogus"});
  CHECK(c.code == 1);
  CHECK(c.err ==
        "intacct-sync: \"state\" must be one of pending, retrying, parked, dead, done, "
        "discarded\n");

  // A dry run, then the replay by filter, followed to the end.
  loop.faults(R"({"deny_read_objects":[]})");
  c = cli(loop, {"events", "replay", "--filter", "--tenant", "acme", "--state", "dead", "--dry-run",
                 "--json"});
  CHECK(c.code == 0);
  CHECK(c.out.rfind("{\"matched\":2,\"samples\":[", 0) == 0);
  c = cli(loop, {"events", "replay", "--filter", "--tenant", "acme", "--state", "dead", "--reason",
                 "permission granted", "--json"});
  CHECK(c.code == 0);
  auto job = json(c.out);
  REQUIRE(job.IsObject());
  CHECK(std::string(job["state"].GetString()) == "done");
  CHECK(job["replayed"].GetInt64() == 2);
  CHECK(std::string(job["actor"].GetString()) == "oncall-alice");
  const std::string job_id = job["job_id"].GetString();
  CHECK(loop.mirror_has("customers", 7, "\"NAME\":\"On call 7\""));
  CHECK(loop.mirror_has("customers", 8, "\"NAME\":\"On call 8\""));

  c = cli(loop, {"events", "jobs", "--tenant", "acme", "--json"});
  CHECK(c.code == 0);
  CHECK(c.out.find("\"job_id\":\"" + job_id + "\"") != std::string::npos);
  c = cli(loop, {"events", "cancel", job_id, "--json"});
  CHECK(c.code == 0);
  CHECK(c.out.find("\"state\":\"done\"") != std::string::npos);
  c = cli(loop, {"events", "cancel", "01NOSUCHJOB"});
  CHECK(c.code == 2);

  // The discarded event replayed by id, with the actor named.
  c = cli(loop, {"events", "replay", six, "--actor", "bob", "--reason", "after all", "--json"});
  CHECK(c.code == 0);
  CHECK(c.out == "{\"matched\":1,\"replayed\":1,\"skipped\":[]}\n");
  CHECK(loop.mirror_has("customers", 6, "\"NAME\":\"On call 6\""));

  c = cli(loop, {"records", "show", "CUSTOMER", "7", "--tenant", "acme", "--json"});
  CHECK(c.code == 0);
  CHECK(c.out.find("\"audit\":[") != std::string::npos);
  c = cli(loop, {"records", "show", "customers", "7", "--tenant", "acme"});
  CHECK(c.code == 0);
  CHECK(c.out.find("audit (newest first):") != std::string::npos);
  c = cli(loop, {"records", "show", "CUSTOMER", "99999", "--tenant", "acme"});
  CHECK(c.code == 2);
  c = cli(loop, {"events", "replay", "--help"});
  CHECK(c.code == 0);
  CHECK(c.out.find("--settled-by-hand") == std::string::npos);
  CHECK(c.out.find("--set") != std::string::npos);
}
