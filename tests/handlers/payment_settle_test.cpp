// PaymentSettler against a real Redis and the sandbox's gateway: reconcile's
// payments part settles ledger entries left unsettled longer than
// readback_wait by reading Intacct only (PRODUCT.md §4). This file: what
// becomes of each kind of entry.
#include <doctest/doctest.h>

#include "tests/handlers/settle_fixture.hpp"

namespace isync::testing {
namespace {

TEST_CASE("an unknown payment whose create landed is adopted: posted, indexed, lock freed") {
  SettleRig f;
  const auto inv = f.invoice("INV-1", "100.00");
  auto d = f.landed_unknown(Pay{});
  CHECK(f.server.cmd({"EXISTS", queue::key(kTenant, "pay-lock:INV-1")}).integer == 1);
  f.age();
  f.server.cmd({"SET", kLock, "token-1"});
  auto c = ok(f.settle({kLock, "token-1"}));
  CHECK(c.examined == 1);
  CHECK(c.adopted == 1);
  CHECK(c.made_due == 0);
  CHECK(c.docnumber_reads == 1);
  CHECK(c.reversal_reads == 0);
  CHECK(c.errors.empty());
  CHECK(f.calls->load() == 1);
  REQUIRE(f.payments().size() == 1);
  const std::string n = std::to_string(f.payments()[0].recordno);
  CHECK(f.ledger("pi_1", "state") == "posted");
  CHECK(f.ledger("pi_1", "recordno") == n);
  CHECK(f.ledger("pi_1", "owner").empty());
  CHECK(f.unsettled_count() == 0);
  CHECK(f.server.cmd({"EXISTS", queue::key(kTenant, "pay-lock:INV-1")}).integer == 0);
  CHECK(f.hget("ARPYMT", n, "v") == "0");
  CHECK(f.fields("ARPYMT", n)["DOCNUMBER"] == "pi_1");
  CHECK(f.indexed(n));
  CHECK(f.index_version(n) == "0");
  auto audit = f.audit("ARPYMT", n);
  REQUIRE(audit.size() == 1);
  CHECK(has(audit[0], "\"source\":\"reconcile\""));
  CHECK(has(audit[0], "\"result\":\"adopted\""));
  CHECK(f.audit("ARINVOICE", inv).size() == 1);
  // Nothing acked: the event's retry finds the payment posted.
  CHECK(f.retry_score(d.envelope.event_id) != "(none)");
  d.attempt = 2;
  CHECK(f.handle(d).result == "duplicate");
  CHECK(f.payments().size() == 1);
  CHECK_FALSE(f.settle_copies_left());
}

TEST_CASE("an unknown payment whose create never landed has its retrying event made due now") {
  SettleRig f;
  f.invoice("INV-1", "100.00");
  auto d = f.lost_unknown(Pay{});
  f.age();
  auto c = ok(f.settle());
  CHECK(c.examined == 1);
  CHECK(c.adopted == 0);
  CHECK(c.made_due == 1);
  CHECK(c.conflicts == 0);
  CHECK(c.docnumber_reads == 1);
  CHECK(f.retry_score(d.envelope.event_id) == std::to_string(f.clock.now_ms()));
  CHECK(f.ledger("pi_1", "state") == "unknown");
  CHECK(f.ledger("pi_1", "owner").empty());
  CHECK(f.unsettled("pi_1"));
  CHECK(f.payments().empty());
}

TEST_CASE("an adopted payment already in the mirror keeps Intacct's record and its version") {
  SettleRig f;
  f.seed_unknown("pi_8", "40.00");
  const auto n = f.intacct_payment("pi_8", "40.00");
  // Intacct's smart event (and its read) came first.
  f.server.cmd({"HSET", f.rec_key("ARPYMT", n), "v", "1795300000", "wm", "11/21/2026 22:26:40",
                "del", "0", "draft", "0", "ev", "ev-smart", "f",
                "{\"RECORDNO\":\"" + n + "\",\"STATE\":\"Cleared\"}"});
  f.age();
  auto c = ok(f.settle());
  CHECK(c.adopted == 1);
  CHECK(f.ledger("pi_8", "state") == "posted");
  CHECK(f.ledger("pi_8", "recordno") == n);
  CHECK(f.hget("ARPYMT", n, "v") == "1795300000");
  CHECK(f.fields("ARPYMT", n)["STATE"] == "Cleared");
  CHECK(f.index_version(n) == "1795300000");
}

TEST_CASE("an unsent payment has its retrying event made due now, without a read") {
  SettleRig f;
  f.seed_unknown("pi_u", "40.00", "unsent");
  f.retrying("ev-pi_u");
  f.seed_unknown("pi_p", "40.00", "unsent");  // its event is pending: not in retry
  f.age();
  auto c = ok(f.settle());
  CHECK(c.examined == 2);
  CHECK(c.made_due == 1);
  CHECK(c.docnumber_reads == 0);
  CHECK(f.calls->load() == 0);
  CHECK(f.retry_score("ev-pi_u") == std::to_string(f.clock.now_ms()));
  CHECK(f.retry_score("ev-pi_p") == "(none)");
  CHECK(f.ledger("pi_u", "state") == "unsent");
  CHECK(f.ledger("pi_u", "owner").empty());
  CHECK(f.unsettled("pi_u"));
}

TEST_CASE("a DOCNUMBER found with another amount is a conflict: made due, not adopted") {
  SettleRig f;
  f.seed_unknown("pi_9", "40.00");
  f.retrying("ev-pi_9");
  f.intacct_payment("pi_9", "12.00");
  f.age();
  auto c = ok(f.settle());
  CHECK(c.examined == 1);
  CHECK(c.adopted == 0);
  CHECK(c.conflicts == 1);
  CHECK(c.made_due == 1);
  CHECK(f.ledger("pi_9", "state") == "unknown");
  CHECK(f.unsettled("pi_9"));
  CHECK(f.retry_score("ev-pi_9") == std::to_string(f.clock.now_ms()));
  CHECK(f.server.cmd({"EXISTS", queue::key(kTenant, "idx:ARPYMT")}).integer == 0);
}

TEST_CASE("a reverse_unknown whose reversal landed is reversed; one that did not is made due") {
  SettleRig f;
  f.invoice("INV-1", "100.00");
  f.invoice("INV-2", "100.00");
  Pay p1;
  Pay p2;
  p2.id = "pi_2";
  p2.invoice = "INV-2";
  REQUIRE(f.handle(stripe(p1)).result == "posted");
  REQUIRE(f.handle(stripe(p2)).result == "posted");
  const std::string n1 = f.ledger("pi_1", "recordno");
  Pay r1 = p1;
  r1.type = "charge.refunded";
  r1.refunded = 4000;
  Pay r2 = p2;
  r2.type = "charge.refunded";
  r2.refunded = 4000;
  f.timeout_next_write();  // the reversal runs, its answer is a 524
  auto d1 = delivery(stripe(r1));
  REQUIRE(f.handle(d1).failure.cls == queue::FailureClass::ambiguous);
  sandbox::Faults lost;
  lost.server_error = 1;  // HTTP 503: nothing ran
  f.faults(lost);
  auto d2 = delivery(stripe(r2));
  REQUIRE(f.handle(d2).failure.cls == queue::FailureClass::ambiguous);
  REQUIRE(f.ledger("pi_1", "state") == "reverse_unknown");
  REQUIRE(f.ledger("pi_2", "state") == "reverse_unknown");
  f.retrying(d1.envelope.event_id);
  f.retrying(d2.envelope.event_id);
  f.age();
  auto c = ok(f.settle());
  CHECK(c.examined == 2);
  CHECK(c.reversed == 1);
  CHECK(c.made_due == 1);
  CHECK(c.adopted == 0);
  CHECK(c.reversal_reads == 1);
  CHECK(c.docnumber_reads == 0);
  CHECK(f.calls->load() == 1);
  CHECK(f.ledger("pi_1", "state") == "reversed");
  CHECK_FALSE(f.unsettled("pi_1"));
  CHECK(f.indexed(n1));
  auto audit = f.audit("ARPYMT", n1);
  REQUIRE(audit.size() == 2);
  CHECK(has(audit[0], "\"source\":\"reconcile\""));
  CHECK(has(audit[0], "\"result\":\"reversed\""));
  CHECK(f.ledger("pi_2", "state") == "reverse_unknown");
  CHECK(f.unsettled("pi_2"));
  CHECK(f.retry_score(d2.envelope.event_id) == std::to_string(f.clock.now_ms()));
  CHECK(f.retry_score(d1.envelope.event_id) != std::to_string(f.clock.now_ms()));
  CHECK(f.executed("reverse_arpayment") == 1);
}

}  // namespace
}  // namespace isync::testing
