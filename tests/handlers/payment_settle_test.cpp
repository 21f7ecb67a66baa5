// PaymentSettler against a real Redis and the sandbox's gateway: reconcile's
// payments part settles ledger entries left unsettled longer than
// readback_wait, by reading Intacct only (PRODUCT.md §4, issue item 5).
#include "handlers/payment_settle.hpp"

#include <doctest/doctest.h>

#include "handlers/detail/payment_job.hpp"
#include "tests/handlers/payment_fixture.hpp"

namespace isync::testing {
namespace {

using handlers::SettleCounts;

constexpr const char* kLock = "isync:{acme}:reconcile:lock";

struct SettleRig : PayFixture {
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);

  // Every call goes to the tenant's client, counted.
  handlers::CallFn call_fn() {
    auto client = hub->client(kTenant);
    auto n = calls;
    return [client, n](std::vector<intacct::Function> fns,
                       std::function<void(intacct::CallOutcome)> done) {
      ++*n;
      client->call(std::move(fns), false, std::move(done));
    };
  }
  Result<SettleCounts> settle(handlers::Fence fence = {}, bool dry_run = false) {
    handlers::PaymentSettler settler(conn, pay_opts, clock, log);
    return await<Result<SettleCounts>>([&](auto cb) {
      settler.settle(kTenant, call_fn(), fence, pay_opts.readback_wait, dry_run, cb);
    });
  }
  // Old enough for reconcile.
  void age() { clock.advance(pay_opts.readback_wait.count() + 1000); }

  std::string event_of(const std::string& payment_id, const char* field = "event") {
    return ledger(payment_id, field);
  }
  // The queue files the event of a retried outcome in `retry`, due later.
  void retrying(const std::string& event_id, std::int64_t in_ms = 3'600'000) {
    server.cmd(
        {"ZADD", queue::key(kTenant, "retry"), std::to_string(clock.now_ms() + in_ms), event_id});
  }
  std::string retry_score(const std::string& event_id) {
    auto r = server.cmd({"ZSCORE", queue::key(kTenant, "retry"), event_id});
    return r.type == redis::Reply::Type::string ? r.str : std::string("(none)");
  }
  // A payment left unknown by a 524 after its create ran in Intacct.
  queue::Delivery landed_unknown(const Pay& p) {
    timeout_next_write();
    auto d = delivery(stripe(p));
    auto out = handle(d);
    REQUIRE(out.failure.cls == queue::FailureClass::ambiguous);
    REQUIRE(ledger(p.id, "state") == "unknown");
    retrying(d.envelope.event_id);
    return d;
  }
  // A payment left unknown by a 503 for a create that never reached Intacct.
  queue::Delivery lost_unknown(const Pay& p) {
    proxy->fail_creates = 1;
    auto d = delivery(stripe(p));
    auto out = handle(d);
    REQUIRE(out.failure.cls == queue::FailureClass::ambiguous);
    REQUIRE(ledger(p.id, "state") == "unknown");
    retrying(d.envelope.event_id);
    return d;
  }
  // A ledger entry written directly: an advance of `total` for C1, unknown.
  void seed_unknown(const std::string& id, const std::string& total) {
    handlers::detail::Posting posting;
    posting.customer_id = "C1";
    posting.currency = "USD";
    posting.total = total;
    posting.receipt_date = kReceipt;
    const auto since = std::to_string(clock.now_ms());
    server.cmd({"HSET", queue::key(kTenant, "pay:" + id), "state", "unknown", "since", since,
                "sent_at", since, "body", handlers::detail::encode_posting(posting), "event",
                "ev-" + id, "customer", "C1", "amount", total, "currency", "USD"});
    server.cmd({"ZADD", queue::key(kTenant, "payments:unsettled"), since, id});
  }
  // An ARPYMT in Intacct with the payment's DOCNUMBER (an advance for C1).
  void intacct_payment(const std::string& docnumber, const std::string& total) {
    add("ARPYMT", {{"CUSTOMERID", "C1"},
                   {"PAYMENTMETHOD", "Credit Card"},
                   {"FINANCIALENTITY", "BOA"},
                   {"RECEIPTDATE", kReceipt},
                   {"DOCNUMBER", docnumber},
                   {"CURRENCY", "USD"},
                   {"TOTALENTERED", total}});
  }
  std::string index_version(const std::string& recordno) {
    auto r = server.cmd({"HGET", queue::key(kTenant, "idxv:ARPYMT"), recordno});
    return r.type == redis::Reply::Type::string ? r.str : std::string("(none)");
  }
  bool indexed(const std::string& recordno) {
    return server.cmd({"ZSCORE", queue::key(kTenant, "idx:ARPYMT"), recordno}).type ==
           redis::Reply::Type::string;
  }
  long long unsettled_count() {
    return server.cmd({"ZCARD", queue::key(kTenant, "payments:unsettled")}).integer;
  }
  // The ledger, the retry schedule and the mirror's payments, as text.
  std::string state_dump(const std::vector<std::string>& ids) {
    std::string out;
    auto add_reply = [&out](const redis::Reply& r) {
      for (const auto& e : r.elements) out += e.str + " ";
      out += "\n";
    };
    for (const auto& id : ids) {
      auto h = server.cmd({"HGETALL", queue::key(kTenant, "pay:" + id)});
      std::map<std::string, std::string> sorted;
      for (std::size_t i = 0; i + 1 < h.elements.size(); i += 2) {
        sorted[h.elements[i].str] = h.elements[i + 1].str;
      }
      for (const auto& [k, v] : sorted) out += k + "=" + v + " ";
      out += "\n";
    }
    add_reply(
        server.cmd({"ZRANGE", queue::key(kTenant, "payments:unsettled"), "0", "-1", "WITHSCORES"}));
    add_reply(server.cmd({"ZRANGE", queue::key(kTenant, "retry"), "0", "-1", "WITHSCORES"}));
    add_reply(server.cmd({"KEYS", "isync:{acme}:rec:*"}));
    add_reply(server.cmd({"KEYS", "isync:{acme}:idx*"}));
    add_reply(server.cmd({"KEYS", "isync:{acme}:audit:*"}));
    add_reply(server.cmd({"KEYS", "isync:{acme}:pay-lock:*"}));
    return out;
  }
  bool settle_copies_left() {
    return !server.cmd({"KEYS", "isync:{acme}:reconcile:payments:*"}).elements.empty();
  }
};

SettleCounts ok(const Result<SettleCounts>& r) {
  REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? "" : r.error().code + ": " + r.error().message));
  return *r;
}

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

TEST_CASE("a run that lost its fence writes nothing and ends fenced") {
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
