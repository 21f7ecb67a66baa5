// The payments part of a reconcile run: ledger entries a lost create left
// unknown are adopted when Intacct has the payment, or made due for retry.
#include <doctest/doctest.h>

#include "handlers/detail/payment_job.hpp"
#include "tests/reconcile/run_fixture.hpp"

namespace isync::testing::run {
namespace {

// A ledger entry as the payment handler leaves it when a create's outcome
// was lost: an advance of `total` for `customer`, its event ev-<id>.
void seed_unknown(RunFixture& f, const std::string& id, const std::string& customer,
                  const std::string& total) {
  handlers::detail::Posting posting;
  posting.customer_id = customer;
  posting.currency = "USD";
  posting.total = total;
  posting.receipt_date = "11/22/2026";
  const auto since = std::to_string(wall_ms() - 120'000);
  f.server.cmd({"HSET", queue::key(kTenant, "pay:" + id), "state", "unknown", "since", since,
                "sent_at", since, "body", handlers::detail::encode_posting(posting), "event",
                "ev-" + id, "customer", customer, "amount", total, "currency", "USD"});
  f.server.cmd({"ZADD", queue::key(kTenant, "payments:unsettled"), since, id});
}

TEST_CASE(
    "payments left unknown are settled by the run: the one that landed is adopted, the "
    "other's retry made due now") {
  RunFixture f;
  f.customer("C1");
  f.tick();
  // The create of pi_landed ran in Intacct; the one of pi_lost never did.
  f.add("ARPYMT", {{"CUSTOMERID", "C1"},
                   {"PAYMENTMETHOD", "Credit Card"},
                   {"UNDEPOSITEDACCOUNTNO", "1010"},
                   {"RECEIPTDATE", "11/22/2026"},
                   {"DOCNUMBER", "pi_landed"},
                   {"CURRENCY", "USD"},
                   {"TOTALENTERED", "25.00"}});
  f.tick();
  seed_unknown(f, "pi_landed", "C1", "25.00");
  seed_unknown(f, "pi_lost", "C1", "40.00");
  const auto later = std::to_string(wall_ms() + 3'600'000);
  f.server.cmd({"ZADD", queue::key(kTenant, "retry"), later, "ev-pi_lost"});
  auto r = f.run();
  INFO(r.text);
  CHECK(r.state() == "succeeded");
  CHECK(r.doc["payments"]["adopted"].GetInt64() == 1);
  CHECK(r.doc["payments"]["made_due"].GetInt64() == 1);
  CHECK(r.doc["payments"]["calls"]["docnumber"].GetInt64() == 1);
  CHECK(f.server.cmd({"HGET", queue::key(kTenant, "pay:pi_landed"), "state"}).str == "posted");
  CHECK(f.server.cmd({"HGET", queue::key(kTenant, "pay:pi_lost"), "state"}).str == "unknown");
  CHECK(std::stoll(f.server.cmd({"ZSCORE", queue::key(kTenant, "retry"), "ev-pi_lost"}).str) <=
        wall_ms());
  CHECK(f.server.cmd({"ZCARD", queue::key(kTenant, "payments:unsettled")}).integer == 1);
  {
    auto d = f.differences();
    std::string all;
    for (const auto& line : d) all += line + "\n";
    CHECK_MESSAGE(d.empty(), all);
  }
}

}  // namespace
}  // namespace isync::testing::run
