// On-call and the payment ledger: a discard of an unsettled payment needs
// settled_by_hand and makes it abandoned (final); a worker's lease refuses
// it; `set` corrects a payment's invoice and posts it exactly once.
#include <rapidjson/document.h>

#include "core/json.hpp"
#include "oncall/http.hpp"
#include "oncall/oncall.hpp"
#include "tests/handlers/payment_fixture.hpp"

using namespace isync;
using namespace isync::testing;

namespace {

struct OnCallPay : PayFixture {
  oncall::Options oopts;
  std::unique_ptr<oncall::Engine> engine;
  OnCallPay() {
    oopts.lease = std::chrono::milliseconds(5000);
    engine =
        std::make_unique<oncall::Engine>(conn, std::vector<std::string>{kTenant}, oopts, clock);
  }
  std::string key(const std::string& suffix) { return queue::key(kTenant, suffix); }
  // Files `e` as a dead letter, as the queue does after `f`.
  std::string dead(const queue::Envelope& e, const queue::Failure& f) {
    auto r = await<Result<void>>(
        [&](auto cb) { queue::file_dead_letter(*conn, e, f, clock.now_ms(), cb); });
    REQUIRE(r.has_value());
    return e.event_id;
  }
  std::string doc(const std::string& id, const std::string& field) {
    auto r = server.cmd({"HGET", key("ev:" + id), field});
    return r.type == redis::Reply::Type::string ? r.str : std::string("(nil)");
  }
  Result<oncall::ActionAnswer> act(oncall::ActionRequest r) {
    if (r.actor.empty()) r.actor = "alice";
    return await<Result<oncall::ActionAnswer>>([&](auto cb) { engine->act(std::move(r), cb); });
  }
  Result<oncall::ActionAnswer> discard(const std::string& id, bool by_hand) {
    oncall::ActionRequest r;
    r.action = oncall::Action::discard;
    r.ids = {id};
    r.reason = "entered by hand in Intacct";
    r.settled_by_hand = by_hand;
    return act(std::move(r));
  }
  Result<oncall::ActionAnswer> replay(const std::string& id) {
    oncall::ActionRequest r;
    r.ids = {id};
    return act(std::move(r));
  }
  Result<oncall::ActionAnswer> set(const std::string& id, Fields fields) {
    oncall::ActionRequest r;
    r.ids = {id};
    r.set = std::move(fields);
    r.reason = "the invoice's real number";
    return act(std::move(r));
  }
  // The ledger of a payment whose create may have run, holding its invoice's lock.
  void seed_unsettled(const std::string& payment, const std::string& invoice) {
    const std::string lock = key("pay-lock:" + invoice);
    const auto now = std::to_string(clock.now_ms());
    server.cmd({"HSET", key("pay:" + payment), "state", "unknown", "since", now, "sends", "1",
                "lock", lock, "invoice", invoice});
    server.cmd({"ZADD", key("payments:unsettled"), now, payment});
    server.cmd({"SET", lock, payment, "PX", "600000"});
  }
  queue::Failure intacct_failure() {
    queue::Failure fl;
    fl.cls = queue::FailureClass::transient;
    fl.code = "intacct_unavailable";
    fl.message = "Intacct did not answer";
    return fl;
  }
  // The stream's entries, decoded.
  std::vector<queue::Envelope> stream() {
    std::vector<queue::Envelope> out;
    auto r = server.cmd({"XRANGE", key("events"), "-", "+"});
    for (const auto& e : r.elements) {
      auto env = queue::decode(e.elements[1].elements[1].str);
      REQUIRE(env.has_value());
      out.push_back(*env);
    }
    return out;
  }
};

}  // namespace

TEST_CASE(
    "discarding an unsettled payment needs settled_by_hand; with it the payment is "
    "abandoned, and a later replay is refused payment_abandoned") {
  OnCallPay f;
  Pay p;
  const auto e = stripe(p);
  const std::string id = f.dead(e, f.intacct_failure());
  f.seed_unsettled("pi_1", "INV-1");

  auto refused = f.discard(id, false);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == "payment_unsettled");
  CHECK(refused.error().message ==
        "event " + id +
            " (dead) belongs to a payment whose ledger entry is unsettled: it may be in Intacct. "
            "Check Intacct and settle the payment by hand, then discard with settled_by_hand "
            "(--settled-by-hand)");
  CHECK(f.doc(id, "state") == "dead");
  CHECK(f.ledger("pi_1", "state") == "unknown");

  auto ok = f.discard(id, true);
  REQUIRE(ok.has_value());
  CHECK(ok->acted == 1);
  CHECK(f.doc(id, "state") == "discarded");
  CHECK(f.ledger("pi_1", "state") == "abandoned");
  CHECK(f.ledger("pi_1", "abandoned_by") == "alice");
  CHECK(f.ledger("pi_1", "owner") == "");
  CHECK_FALSE(f.unsettled("pi_1"));
  CHECK(f.server.cmd({"EXISTS", f.key("pay-lock:INV-1")}).integer == 0);

  auto again = f.replay(id);
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error().code == "payment_abandoned");
  CHECK(f.doc(id, "state") == "discarded");
  CHECK(f.server.cmd({"XLEN", f.key("events")}).integer == 0);

  // show carries the ledger entry.
  auto s = await<Result<oncall::EventDetail>>([&](auto cb) { f.engine->show("", id, cb); });
  REQUIRE(s.has_value());
  bool abandoned = false;
  for (const auto& [k, v] : s->ledger) abandoned = abandoned || (k == "state" && v == "abandoned");
  CHECK(abandoned);
}

TEST_CASE("an abandoned payment's lock held by another payment is left alone") {
  OnCallPay f;
  const std::string id = f.dead(stripe(Pay{}), f.intacct_failure());
  f.seed_unsettled("pi_1", "INV-1");
  f.server.cmd({"SET", f.key("pay-lock:INV-1"), "pi_other"});
  REQUIRE(f.discard(id, true).has_value());
  CHECK(f.server.cmd({"GET", f.key("pay-lock:INV-1")}).str == "pi_other");
}

TEST_CASE(
    "an abandoned payment's events are acked without an Intacct call; its refund is a "
    "dead letter") {
  OnCallPay f;
  f.invoice("INV-1", "100.00");
  const std::string id = f.dead(stripe(Pay{}), f.intacct_failure());
  f.seed_unsettled("pi_1", "INV-1");
  REQUIRE(f.discard(id, true).has_value());
  const auto requests = f.company.stats().requests;

  Pay again;
  again.type = "charge.succeeded";
  auto out = f.handle(stripe(again));
  CHECK(out.kind == Kind::done);
  CHECK(out.result == "abandoned");
  CHECK(f.company.stats().requests == requests);
  CHECK(f.payments().empty());
  CHECK(f.ledger("pi_1", "state") == "abandoned");
  CHECK(f.server.cmd({"EXISTS", f.key("pay-lock:INV-1")}).integer == 0);

  Pay refund;
  refund.type = "charge.refunded";
  refund.refunded = 4000;
  auto r = f.handle(stripe(refund));
  CHECK(r.kind == Kind::dead);
  CHECK(r.failure.code == "refund_of_abandoned_payment");
  CHECK(r.failure.correction ==
        "Find the payment's ARPYMT in Intacct (DOCNUMBER pi_1, or the one entered by hand) and "
        "reverse it by hand there; then discard this event.");
  CHECK(f.company.stats().requests == requests);
  CHECK(f.ledger("pi_1", "state") == "abandoned");
}

TEST_CASE("a worker holding the payment's lease makes a discard answer payment_in_progress") {
  OnCallPay f;
  f.invoice("INV-1", "100.00");
  // Another event of the payment is dead; the worker posts the first one and
  // its create hangs, with the lease held.
  Pay charge;
  charge.type = "charge.succeeded";
  const std::string id = f.dead(stripe(charge), f.intacct_failure());
  f.proxy->hold_creates = true;
  auto result = std::make_shared<std::promise<queue::Outcome>>();
  auto d = delivery(stripe(Pay{}));
  f.pay->handle(d, [result](queue::Outcome o) { result->set_value(std::move(o)); });
  REQUIRE(eventually([&] { return f.proxy->held.load() == 1; }));
  REQUIRE(f.ledger("pi_1", "state") == "posting");

  auto r = f.discard(id, true);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "payment_in_progress");
  CHECK(f.doc(id, "state") == "dead");
  CHECK(f.ledger("pi_1", "state") == "posting");
}

TEST_CASE("set INVOICE corrects a dead payment and it is posted to that invoice exactly once") {
  OnCallPay f;
  Pay p;
  p.invoice = "INV-404";
  const auto e = stripe(p);
  auto failed = f.handle(e);
  REQUIRE(failed.failure.code == "invoice_not_found");
  const std::string id = f.dead(e, failed.failure);
  REQUIRE(f.ledger("pi_1", "state") == "failed");
  const auto inv = f.invoice("INV-9", "100.00");

  auto r = f.set(id, {{"INVOICE", "INV-9"}});
  REQUIRE(r.has_value());
  CHECK(r->acted == 1);
  CHECK(f.doc(id, "state") == "pending");
  auto env = queue::decode(f.doc(id, "envelope"));
  REQUIRE(env.has_value());
  CHECK(env->raw == e.raw);
  auto it = std::find_if(env->snapshot.begin(), env->snapshot.end(),
                         [](const auto& kv) { return kv.first == "INVOICE"; });
  REQUIRE(it != env->snapshot.end());
  CHECK(it->second == "INV-9");
  rapidjson::Document a;
  const std::string attempts = f.doc(id, "attempts");
  a.Parse(attempts.c_str(), attempts.size());
  REQUIRE(a.IsArray());
  REQUIRE(a.Size() == 3);
  CHECK(std::string(a[1]["kind"].GetString()) == "set");
  CHECK(std::string(a[1]["fields"]["INVOICE"].GetString()) == "INV-9");
  CHECK(std::string(a[1]["was"]["INVOICE"].GetString()) == "INV-404");
  CHECK(std::string(a[2]["kind"].GetString()) == "replayed");

  auto queued = f.stream();
  REQUIRE(queued.size() == 1);
  auto out = f.handle(queued[0]);
  CHECK(out.result == "posted");
  auto again = f.handle(queued[0]);  // a redelivery
  CHECK(again.result == "duplicate");
  auto pays = f.payments();
  REQUIRE(pays.size() == 1);
  CHECK(pays[0].fields.at("ARPYMTDETAILS.ARPYMTDETAIL.0.RECORDKEY") == inv);
  CHECK(f.executed("create") == 1);
  CHECK(f.ledger("pi_1", "state") == "posted");

  // Done now: no second correction.
  auto late = f.set(id, {{"INVOICE", "INV-1"}});
  REQUIRE_FALSE(late.has_value());
  CHECK(late.error().code == "invalid_state");
}

TEST_CASE("set is refused payment_may_be_posted once a create may have been sent") {
  OnCallPay f;
  Pay p;
  p.invoice = "INV-404";
  const auto e = stripe(p);
  const std::string id = f.dead(e, f.intacct_failure());
  f.seed_unsettled("pi_1", "INV-404");
  auto r = f.set(id, {{"INVOICE", "INV-9"}});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "payment_may_be_posted");
  CHECK(f.doc(id, "state") == "dead");
  CHECK(queue::decode(f.doc(id, "envelope"))->snapshot == e.snapshot);

  // Failed, but by another event of the payment.
  f.server.cmd(
      {"HSET", f.key("pay:pi_1"), "state", "failed", "sends", "0", "failed_event", "someone-else"});
  r = f.set(id, {{"CUSTOMER", "C2"}});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "payment_may_be_posted");
}

TEST_CASE("set applies to a payment_intent.succeeded or charge.succeeded event only") {
  OnCallPay f;
  Pay refund;
  refund.type = "charge.refunded";
  refund.refunded = 4000;
  const std::string id = f.dead(stripe(refund), f.intacct_failure());
  auto r = f.set(id, {{"INVOICE", "INV-9"}});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "invalid_field");
  CHECK(r.error().message ==
        "set: applies to a payment_intent.succeeded or charge.succeeded event; event " + id +
            " is stripe charge.refunded");
}

TEST_CASE("the admin API answers each payment refusal 409 with its code") {
  OnCallPay f;
  auto call = [&](const std::string& path, const std::string& body) {
    return await<oncall::HttpAnswer>([&](auto cb) {
      oncall::serve_http(*f.engine, oncall::HttpCall{"POST", path, {}, body}, cb);
    });
  };
  auto code_of = [](const oncall::HttpAnswer& a) {
    auto doc = json::parse(a.body, json::kTrusted);
    REQUIRE(doc.has_value());
    return std::string((*doc)["error"]["code"].GetString());
  };
  Pay p;
  p.invoice = "INV-404";
  const std::string id = f.dead(stripe(p), f.intacct_failure());
  f.seed_unsettled("pi_1", "INV-404");
  const std::string ids = R"({"ids":[")" + id + R"("])";

  auto a = call("/v1/admin/events/replay", ids + R"(,"set":{"INVOICE":"INV-9"}})");
  CHECK(a.status == 409);
  CHECK(code_of(a) == "payment_may_be_posted");

  a = call("/v1/admin/events/discard", ids + R"(,"reason":"paid by cheque"})");
  CHECK(a.status == 409);
  CHECK(code_of(a) == "payment_unsettled");

  // Another owner holds the lease.
  f.server.cmd({"HSET", f.key("pay:pi_1"), "owner", "worker-1", "until",
                std::to_string(f.clock.now_ms() + 600000)});
  a = call("/v1/admin/events/discard",
           ids + R"(,"reason":"paid by cheque","settled_by_hand":true})");
  CHECK(a.status == 409);
  CHECK(code_of(a) == "payment_in_progress");

  f.server.cmd({"HDEL", f.key("pay:pi_1"), "owner", "until"});
  a = call("/v1/admin/events/discard",
           ids + R"(,"reason":"paid by cheque","settled_by_hand":true})");
  CHECK(a.status == 200);
  CHECK(a.body == R"({"matched":1,"discarded":1,"skipped":[]})");
  CHECK(f.ledger("pi_1", "state") == "abandoned");

  a = call("/v1/admin/events/replay", ids + "}");
  CHECK(a.status == 409);
  CHECK(code_of(a) == "payment_abandoned");
}
