// Reconcile runs that cannot do all they were asked: a listing that looks like
// a mass delete, a second start while a run holds the lock, a permission
// missing for one object, rejected credentials.
#include <doctest/doctest.h>

#include "tests/reconcile/run_fixture.hpp"

namespace isync::testing::run {
namespace {

TEST_CASE("a listing that lost 30% of the customers tombstones nothing unless allowed") {
  RunFixture f;
  for (int i = 0; i < 400; ++i) f.customer("C-" + std::to_string(i));
  f.tick();
  REQUIRE(f.run().state() == "succeeded");
  auto customers = f.list("CUSTOMER");
  for (int i = 0; i < 120; ++i)
    f.remove("CUSTOMER", customers[static_cast<std::size_t>(i)].recordno);
  f.tick();
  auto r = f.run();
  INFO(r.text);
  CHECK(r.state() == "partial");
  CHECK(r.obj("CUSTOMER", "gone_candidates") == 120);
  CHECK(r.obj("CUSTOMER", "tombstoned") == 0);
  CHECK(r.doc["objects"]["CUSTOMER"]["mass_delete_suspected"].GetBool());
  CHECK(std::string(r.doc["errors"][0]["code"].GetString()) == "mass_delete_suspected");
  CHECK(f.live_in_mirror("CUSTOMER", customers[0].recordno));
  reconcile::RunRequest allow;
  allow.allow_mass_delete = true;
  auto forced = f.run(allow);
  INFO(forced.text);
  CHECK(forced.state() == "succeeded");
  CHECK(forced.obj("CUSTOMER", "tombstoned") == 120);
  CHECK(forced.calls("CUSTOMER", "read") == 2);
  CHECK_FALSE(f.live_in_mirror("CUSTOMER", customers[0].recordno));
}

TEST_CASE("a second start while a run holds the lock answers already_running with its id") {
  Seeded f(1);
  auto finished = std::make_shared<std::promise<std::string>>();
  auto first = f.start({}, finished);
  REQUIRE_FALSE(first.error);
  auto second = f.start({});
  REQUIRE(second.error);
  CHECK(second.error->code == "already_running");
  CHECK(second.run_id == first.run_id);
  REQUIRE(finished->get_future().wait_for(std::chrono::seconds(60)) == std::future_status::ready);
  // The lock is released at the end.
  CHECK(f.server.cmd({"EXISTS", reconcile::lock_key(kTenant)}).integer == 0);
}

TEST_CASE(
    "a permission missing for one object ends that part with Intacct's error; the others go "
    "on") {
  Seeded f;
  auto faults = f.company.faults();
  faults.deny_read_objects = {"ARPYMT"};
  f.company.set_faults(faults);
  auto r = f.run();
  INFO(r.text);
  CHECK(r.state() == "partial");
  CHECK(r.obj("CUSTOMER", "created") > 0);
  CHECK(r.obj("ARINVOICE", "created") > 0);
  CHECK(std::string(r.doc["objects"]["ARPYMT"]["state"].GetString()) == "failed");
  bool named = false;
  for (const auto& e : r.doc["errors"].GetArray()) {
    if (std::string(e["object"].GetString()) == "ARPYMT" && e.HasMember("errorno"))
      named = std::string(e["errorno"].GetString()) == "BL01001973";
  }
  CHECK(named);
}

TEST_CASE("rejected credentials end the run as failed: credentials rejected") {
  Seeded f;
  f.hub->add_tenant(intacct::TenantAccess{kTenant, "DEMO-CO", "ws_user", Secret("wrong-password"),
                                          "", 2, 100000});
  auto r = f.run();
  INFO(r.text);
  CHECK(r.state() == "failed");
  CHECK(std::string(r.doc["failure"].GetString()) == "credentials rejected");
  CHECK(r.obj("CUSTOMER", "created") == 0);
  // The lock is released for the next run.
  CHECK(f.server.cmd({"EXISTS", reconcile::lock_key(kTenant)}).integer == 0);
}

}  // namespace
}  // namespace isync::testing::run
