// PaymentSettler's guards and costs: held leases, dead letters, young
// entries, dry runs, the fence, batching and Intacct failures.
#include <doctest/doctest.h>

#include "tests/handlers/settle_fixture.hpp"

namespace isync::testing {
namespace {

TEST_CASE("an entry whose lease a worker holds is skipped and counted busy") {
  SettleRig f;
  f.seed_unknown("pi_5", "40.00");
  f.intacct_payment("pi_5", "40.00");
  f.age();
  const auto until = std::to_string(f.clock.now_ms() + 60'000);
  f.server.cmd({"HSET", queue::key(kTenant, "pay:pi_5"), "owner", "worker-1", "until", until});
  auto c = ok(f.settle());
  CHECK(c.examined == 1);
  CHECK(c.busy == 1);
  CHECK(c.adopted == 0);
  CHECK(c.docnumber_reads == 0);
  CHECK(f.calls->load() == 0);
  CHECK(f.ledger("pi_5", "state") == "unknown");
  CHECK(f.ledger("pi_5", "owner") == "worker-1");
  CHECK(f.ledger("pi_5", "until") == until);
}

TEST_CASE("an entry whose event is a dead letter is reported and left alone") {
  SettleRig f;
  f.seed_unknown("pi_6", "40.00");
  f.intacct_payment("pi_6", "40.00");
  f.server.cmd({"ZADD", queue::key(kTenant, "dead"), "1", "ev-pi_6"});
  f.age();
  auto c = ok(f.settle());
  CHECK(c.examined == 1);
  CHECK(c.dead_letters == 1);
  CHECK(c.adopted == 0);
  CHECK(c.docnumber_reads == 0);
  REQUIRE(c.errors.size() == 1);
  CHECK(c.errors[0].code == "payment_dead_letter");
  CHECK(c.errors[0].payment_id == "pi_6");
  CHECK(c.errors[0].message ==
        "payment pi_6 (state unknown) waits on event ev-pi_6, a dead letter: reconcile leaves it "
        "alone. Replay the event (or discard it once the payment is settled by hand in Intacct).");
  CHECK(f.ledger("pi_6", "state") == "unknown");
  CHECK(f.ledger("pi_6", "owner").empty());
  CHECK(f.unsettled("pi_6"));
}

TEST_CASE("an abandoned entry is never touched") {
  SettleRig f;
  f.seed_unknown("pi_z", "40.00", "abandoned");
  f.intacct_payment("pi_z", "40.00");
  f.retrying("ev-pi_z");
  f.age();
  const auto before = f.state_dump({"pi_z"});
  auto c = ok(f.settle());
  CHECK(c.examined == 0);
  CHECK(f.calls->load() == 0);
  CHECK(f.state_dump({"pi_z"}) == before);
}

TEST_CASE("entries unsettled for less than readback_wait are not examined") {
  SettleRig f;
  f.seed_unknown("pi_7", "40.00");
  f.intacct_payment("pi_7", "40.00");
  f.clock.advance(f.pay_opts.readback_wait.count() - 1000);
  auto c = ok(f.settle());
  CHECK(c.examined == 0);
  CHECK(c.adopted == 0);
  CHECK(f.calls->load() == 0);
  CHECK(f.ledger("pi_7", "state") == "unknown");
  CHECK_FALSE(f.settle_copies_left());
}

TEST_CASE("a dry run reads and counts, and changes nothing") {
  SettleRig f;
  f.seed_unknown("pi_a", "40.00");
  f.intacct_payment("pi_a", "40.00");
  f.seed_unknown("pi_b", "25.00");
  f.retrying("ev-pi_b");
  const auto due = f.retry_score("ev-pi_b");
  f.age();
  const auto before = f.state_dump({"pi_a", "pi_b"});
  auto c = ok(f.settle({}, true));
  CHECK(c.examined == 2);
  CHECK(c.adopted == 1);
  CHECK(c.made_due == 1);
  CHECK(c.docnumber_reads == 1);
  CHECK(f.ledger("pi_a", "state") == "unknown");
  CHECK(f.ledger("pi_a", "owner").empty());
  CHECK(f.ledger("pi_b", "owner").empty());
  CHECK(f.unsettled_count() == 2);
  CHECK(f.retry_score("ev-pi_b") == due);
  CHECK(f.state_dump({"pi_a", "pi_b"}) == before);
  CHECK_FALSE(f.settle_copies_left());
}

TEST_CASE("a run whose lock another run holds settles nothing and makes no call") {
  SettleRig f;
  f.seed_unknown("pi_c", "40.00");
  f.intacct_payment("pi_c", "40.00");
  f.seed_unknown("pi_d", "25.00");
  f.retrying("ev-pi_d");
  const auto due = f.retry_score("ev-pi_d");
  f.age();
  f.server.cmd({"SET", kLock, "token-of-another-run"});
  const auto before = f.state_dump({"pi_c", "pi_d"});
  auto r = f.settle({kLock, "token-1"});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "fenced");
  CHECK(r.error().message ==
        "the reconcile lock of tenant acme does not hold this run's token (another run holds it); "
        "no payment was settled");
  CHECK(f.calls->load() == 0);
  CHECK(f.ledger("pi_c", "state") == "unknown");
  CHECK(f.ledger("pi_c", "owner").empty());
  CHECK(f.ledger("pi_d", "owner").empty());
  CHECK(f.unsettled_count() == 2);
  CHECK(f.retry_score("ev-pi_d") == due);
  CHECK(f.server.cmd({"EXISTS", queue::key(kTenant, "idx:ARPYMT")}).integer == 0);
  CHECK(f.server.cmd({"KEYS", "isync:{acme}:rec:*"}).elements.empty());
  CHECK(f.state_dump({"pi_c", "pi_d"}) == before);
  CHECK_FALSE(f.settle_copies_left());
}

TEST_CASE("a run that loses its lock during its read writes nothing more and ends fenced") {
  SettleRig f;
  f.server.cmd({"SET", kLock, "token-1"});
  f.before_call = [&f] { f.server.cmd({"SET", kLock, "token-2"}); };
  std::vector<std::string> ids;
  SUBCASE("an adoption") {
    f.seed_unknown("pi_c", "40.00");
    f.intacct_payment("pi_c", "40.00");
    ids = {"pi_c"};
  }
  SUBCASE("an event made due") {
    f.seed_unknown("pi_d", "25.00");
    f.retrying("ev-pi_d");
    ids = {"pi_d"};
  }
  f.age();
  const auto before = f.state_dump(ids);
  auto r = f.settle({kLock, "token-1"});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "fenced");
  CHECK(f.calls->load() == 1);
  CHECK(f.state_dump(ids) == before);
  CHECK(f.server.cmd({"EXISTS", queue::key(kTenant, "idx:ARPYMT")}).integer == 0);
  CHECK_FALSE(f.settle_copies_left());
}

TEST_CASE("150 unknown payments are read back in 2 DOCNUMBER queries") {
  SettleRig f;
  for (int i = 0; i < 150; ++i) {
    const std::string id = "pi_b" + std::to_string(1000 + i);
    f.seed_unknown(id, "10.00");
    if (i % 3 != 0) f.intacct_payment(id, "10.00");
  }
  f.age();
  auto c = ok(f.settle());
  CHECK(c.examined == 150);
  CHECK(c.adopted == 100);
  CHECK(c.docnumber_reads == 2);
  CHECK(f.calls->load() == 2);
  CHECK(f.unsettled_count() == 50);
  CHECK(f.server.cmd({"ZCARD", queue::key(kTenant, "idx:ARPYMT")}).integer == 100);
}

TEST_CASE("a read Intacct refuses ends the payments part with its error and frees the leases") {
  SettleRig f;
  f.seed_unknown("pi_e", "40.00");
  f.intacct_payment("pi_e", "40.00");
  f.age();
  sandbox::Faults deny;
  deny.deny_reads = 1;
  f.faults(deny);
  auto c = ok(f.settle());
  CHECK(c.examined == 1);
  CHECK(c.adopted == 0);
  CHECK(c.docnumber_reads == 1);
  REQUIRE(c.errors.size() == 1);
  CHECK(c.errors[0].code == "intacct_error");
  CHECK(c.errors[0].errorno == "BL01001973");
  CHECK(
      has(c.errors[0].message, "reading ARPYMTs back by DOCNUMBER for 1 payments of tenant acme"));
  CHECK(f.ledger("pi_e", "owner").empty());
  CHECK(f.ledger("pi_e", "state") == "unknown");
}

}  // namespace
}  // namespace isync::testing
