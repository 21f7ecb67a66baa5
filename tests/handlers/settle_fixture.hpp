// The settle tests' rig: PayFixture plus a PaymentSettler run with every
// Intacct call counted, and ledger entries written directly or left unsettled
// by the handler itself.
#pragma once

#include <map>

#include "handlers/detail/payment_job.hpp"
#include "handlers/payment_settle.hpp"
#include "tests/handlers/payment_fixture.hpp"

namespace isync::testing {

using handlers::SettleCounts;

inline constexpr const char* kLock = "isync:{acme}:reconcile:lock";

struct SettleRig : PayFixture {
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  // Runs before each call is passed on (e.g. another run takes the lock).
  std::function<void()> before_call;

  // Every call goes to the tenant's client, counted.
  handlers::CallFn call_fn() {
    auto client = hub->client(kTenant);
    auto n = calls;
    auto before = before_call;
    return [client, n, before](std::vector<intacct::Function> fns,
                               std::function<void(intacct::CallOutcome)> done) {
      ++*n;
      if (before) before();
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
  // A ledger entry written directly: an advance of `total` for C1, in
  // `state` (unknown by default), its event ev-<id>.
  void seed_unknown(const std::string& id, const std::string& total,
                    const std::string& state = "unknown") {
    handlers::detail::Posting posting;
    posting.customer_id = "C1";
    posting.currency = "USD";
    posting.total = total;
    posting.receipt_date = kReceipt;
    const auto since = std::to_string(clock.now_ms());
    server.cmd({"HSET", queue::key(kTenant, "pay:" + id), "state", state, "since", since, "sent_at",
                since, "body", handlers::detail::encode_posting(posting), "event", "ev-" + id,
                "customer", "C1", "amount", total, "currency", "USD"});
    server.cmd({"ZADD", queue::key(kTenant, "payments:unsettled"), since, id});
  }
  // An ARPYMT in Intacct with the payment's DOCNUMBER (an advance for C1);
  // returns its RECORDNO.
  std::string intacct_payment(const std::string& docnumber, const std::string& total) {
    return std::to_string(add("ARPYMT", {{"CUSTOMERID", "C1"},
                                         {"PAYMENTMETHOD", "Credit Card"},
                                         {"FINANCIALENTITY", "BOA"},
                                         {"RECEIPTDATE", kReceipt},
                                         {"DOCNUMBER", docnumber},
                                         {"CURRENCY", "USD"},
                                         {"TOTALENTERED", total}})
                              .recordno);
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

inline SettleCounts ok(const Result<SettleCounts>& r) {
  REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? "" : r.error().code + ": " + r.error().message));
  return *r;
}

}  // namespace isync::testing
