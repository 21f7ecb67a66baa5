// Snapshot, draft and delete events applied together in one script call
// (detail/apply_batch.hpp): each keeps the decision, audit and record state it
// gets when applied alone, in the same order, and an event whose apply fails
// inside a batch does not fail the others.
#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "handlers/detail/apply_batch.hpp"
#include "handlers/detail/mirror_lua.hpp"
#include "handlers/detail/record_doc.hpp"
#include "tests/handlers/mirror_fixture.hpp"

namespace queue = isync::queue;
using isync::queue::Outcome;
using isync::testing::make_event;
using isync::testing::MirrorFixture;

namespace {

constexpr std::int64_t kV1 = 1714564800;  // 05/01/2024 12:00:00 UTC
constexpr std::int64_t kV2 = kV1 + 60;
constexpr std::int64_t kV3 = kV1 + 120;
constexpr std::int64_t kV4 = kV1 + 180;

queue::Delivery delivery_of(const queue::Envelope& e, int n) {
  queue::Delivery d;
  d.tenant = e.tenant;
  d.stream = queue::key(e.tenant, "events");
  d.entry_id = "1-" + std::to_string(n);
  d.envelope = e;
  return d;
}

struct BatchFixture : MirrorFixture {
  // What one record holds, and each event's outcome, after a run.
  struct State {
    std::vector<std::string> decisions;
    std::vector<Outcome::Kind> kinds;
    std::vector<std::string> record;  // HGETALL, sorted pairs
    std::vector<std::string> audit;
    std::string index;  // the record's RECORDNO index entry
    long long ttl = 0;
    bool operator==(const State&) const = default;
  };

  State state_of(const std::string& object, const std::string& recordno) {
    State s;
    auto all = server.cmd({"HGETALL", rec_key(object, recordno)});
    std::vector<std::pair<std::string, std::string>> pairs;
    for (std::size_t i = 0; i + 1 < all.elements.size(); i += 2)
      pairs.emplace_back(all.elements[i].str, all.elements[i + 1].str);
    std::sort(pairs.begin(), pairs.end());
    for (auto& [k, v] : pairs) s.record.push_back(k + "=" + v);
    for (auto& a : server.cmd({"LRANGE", audit_key(object, recordno), "0", "-1"}).elements)
      s.audit.push_back(a.str);
    auto idx =
        server.cmd({"HGET", queue::key(isync::testing::kTenant, "idxv:" + object), recordno});
    s.index = idx.type == isync::redis::Reply::Type::string ? idx.str : "(none)";
    s.ttl = server.cmd({"TTL", rec_key(object, recordno)}).integer > 0 ? 1 : 0;
    return s;
  }

  long long evalsha_calls() {
    auto info = server.cmd({"INFO", "commandstats"}).str;
    auto at = info.find("cmdstat_evalsha:calls=");
    if (at == std::string::npos) return 0;
    return std::stoll(info.substr(at + 22));
  }

  // Applies `events` one at a time, each waiting for the one before.
  std::vector<Outcome> one_by_one(const std::vector<queue::Envelope>& events) {
    std::vector<Outcome> out;
    int n = 0;
    for (const auto& e : events) {
      auto d = delivery_of(e, ++n);
      out.push_back(isync::testing::await<Outcome>([&](auto cb) { handler->handle(d, cb); }));
    }
    return out;
  }

  // Applies `events` as one batch: two other records' events take the
  // batcher's calls in flight while Redis holds writes, so all of `events`
  // wait and go in the next call. Checks that they did: `calls` EVALSHA in
  // all (the two in flight, the batch, and any event run again alone).
  std::vector<Outcome> as_one_batch(const std::vector<queue::Envelope>& events,
                                    long long calls = 3) {
    std::vector<queue::Delivery> ds;
    int n = 100;
    ds.push_back(delivery_of(make_event("CUSTOMER", "901", "set", kV1, {{"NAME", "a"}}), ++n));
    ds.push_back(delivery_of(make_event("CUSTOMER", "902", "set", kV1, {{"NAME", "b"}}), ++n));
    for (const auto& e : events) ds.push_back(delivery_of(e, ++n));
    std::vector<std::future<Outcome>> futures;
    const long long calls_before = evalsha_calls();
    REQUIRE(server.cmd({"CLIENT", "PAUSE", "10000", "WRITE"}).str == "OK");
    for (auto& d : ds) {
      auto promise = std::make_shared<std::promise<Outcome>>();
      futures.push_back(promise->get_future());
      handler->handle(d, [promise](Outcome o) { promise->set_value(std::move(o)); });
    }
    REQUIRE(server.cmd({"CLIENT", "UNPAUSE"}).str == "OK");
    std::vector<Outcome> out;
    for (std::size_t i = 0; i < futures.size(); ++i) {
      REQUIRE(futures[i].wait_for(std::chrono::seconds(10)) == std::future_status::ready);
      auto o = futures[i].get();
      if (i >= 2) out.push_back(std::move(o));
    }
    CHECK(evalsha_calls() - calls_before == calls);
    return out;
  }

  void load_scripts() {
    // Loaded up front, so no NOSCRIPT retry adds to the calls counted.
    server.cmd({"SCRIPT", "LOAD", isync::handlers::detail::apply_script().body});
    server.cmd({"SCRIPT", "LOAD", isync::handlers::detail::apply_batch_script().body});
  }
};

}  // namespace

TEST_CASE_FIXTURE(BatchFixture,
                  "a batch with two versions of one record, a delete and a draft lands as the "
                  "same events applied one at a time, in every order") {
  load_scripts();
  const std::vector<queue::Envelope> events = {
      make_event("ARINVOICE", "7", "add", kV1,
                 {{"STATE", "Posted"}, {"RECORDID", "I-7"}, {"TOTALDUE", "10.00"}}),
      make_event("ARINVOICE", "7", "set", kV3,
                 {{"STATE", "Posted"}, {"RECORDID", "I-7"}, {"TOTALDUE", "4.00"}}),
      make_event("ARINVOICE", "7", "delete", kV4),
      make_event("ARINVOICE", "7", "set", kV2, {{"STATE", "Draft"}}),
  };
  std::array<int, 4> order = {0, 1, 2, 3};
  int permutations = 0;
  do {
    std::vector<queue::Envelope> run;
    for (int i : order) run.push_back(events[static_cast<std::size_t>(i)]);
    CAPTURE(order[0]);
    CAPTURE(order[1]);
    CAPTURE(order[2]);
    CAPTURE(order[3]);

    server.cmd({"FLUSHALL"});
    options.apply_batch = 1;
    rebuild();
    BatchFixture::State alone;
    for (auto& o : one_by_one(run)) {
      alone.decisions.push_back(o.result);
      alone.kinds.push_back(o.kind);
    }
    auto alone_record = state_of("ARINVOICE", "7");

    server.cmd({"FLUSHALL"});
    options.apply_batch = 32;
    rebuild();
    BatchFixture::State batched;
    for (auto& o : as_one_batch(run)) {
      batched.decisions.push_back(o.result);
      batched.kinds.push_back(o.kind);
    }
    auto batched_record = state_of("ARINVOICE", "7");

    CHECK(batched.decisions == alone.decisions);
    CHECK(batched.kinds == alone.kinds);
    CHECK(batched_record.record == alone_record.record);
    CHECK(batched_record.audit == alone_record.audit);
    CHECK(batched_record.index == alone_record.index);
    CHECK(batched_record.ttl == alone_record.ttl);
    // Whatever the order, the newest change wins: the delete.
    CHECK(std::find(batched_record.record.begin(), batched_record.record.end(), "del=1") !=
          batched_record.record.end());
    CHECK(get("invoices", "7").has_value());  // a tombstone answers "deleted"
    ++permutations;
  } while (std::next_permutation(order.begin(), order.end()));
  CHECK(permutations == 24);
}

TEST_CASE_FIXTURE(BatchFixture,
                  "an event whose apply fails inside a batch is retried alone and its neighbours "
                  "are applied") {
  load_scripts();
  // A record key of the wrong type makes that event's apply raise an error.
  server.cmd({"SET", rec_key("CUSTOMER", "12"), "not a hash"});
  // The five deliveries' entries (two in flight, then the three), pending.
  const auto stream = queue::key(isync::testing::kTenant, "events");
  server.cmd({"XGROUP", "CREATE", stream, std::string(queue::kGroup), "0", "MKSTREAM"});
  for (int n = 101; n <= 105; ++n)
    server.cmd({"XADD", stream, "1-" + std::to_string(n), "e", "{}"});
  server.cmd({"XREADGROUP", "GROUP", std::string(queue::kGroup), "c", "COUNT", "10", "STREAMS",
              stream, ">"});
  auto out = as_one_batch(
      {
          make_event("CUSTOMER", "11", "set", kV1, {{"NAME", "before"}}),
          make_event("CUSTOMER", "12", "set", kV1, {{"NAME", "poison"}}),
          make_event("CUSTOMER", "13", "set", kV1, {{"NAME", "after"}}),
      },
      4);
  REQUIRE(out.size() == 3);
  CHECK(out[0].kind == Outcome::Kind::done);
  CHECK(out[0].result == "applied");
  CHECK(out[2].kind == Outcome::Kind::done);
  CHECK(out[2].result == "applied");
  CHECK(fields("CUSTOMER", "11")["NAME"] == "before");
  CHECK(fields("CUSTOMER", "13")["NAME"] == "after");
  // The poison event got the one-event script's own answer: a retry.
  CHECK(out[1].kind == Outcome::Kind::retry);
  CHECK(out[1].result == "error");
  CHECK(out[1].failure.code == "redis_unavailable");
  CHECK(out[1].failure.message.find("could not apply CUSTOMER 12 of tenant acme") == 0);
  CHECK(out[1].failure.message.find("WRONGTYPE") != std::string::npos);
  CHECK(decisions("CUSTOMER", "error") == 1);
  // Each applied event's entry was acked and deleted by its call; the poison
  // event's entry stays pending (the queue files its retry).
  auto left = server.cmd({"XRANGE", stream, "-", "+"});
  REQUIRE(left.elements.size() == 1);
  CHECK(left.elements[0].elements[0].str == "1-104");
  CHECK(server.cmd({"XPENDING", stream, std::string(queue::kGroup)}).elements[0].integer == 1);
}

TEST_CASE_FIXTURE(BatchFixture,
                  "a call that runs out of time leaves its remaining events to the next call and "
                  "every event lands in order") {
  load_scripts();
  // A budget of 1 µs: each call runs the 4 events before its first look at
  // the clock and answers the rest "later".
  auto batcher = std::make_shared<isync::handlers::detail::ApplyBatcher>(
      conn, 64, std::chrono::microseconds(1));
  std::vector<std::future<std::string>> decisions;
  const long long calls_before = evalsha_calls();
  REQUIRE(server.cmd({"CLIENT", "PAUSE", "10000", "WRITE"}).str == "OK");
  for (int i = 0; i < 13; ++i) {
    auto d = delivery_of(make_event("CUSTOMER", "31", "set", kV1 + i), 200 + i);
    isync::handlers::detail::ApplyStep step{"snapshot", "{}", kV1 + i,
                                            isync::format_whenmodified(kV1 + i), "intacct"};
    isync::handlers::detail::set_snapshot(step, "CUSTOMER", {{"NAME", "v" + std::to_string(i)}});
    std::vector<std::string> keys, args;
    isync::handlers::detail::apply_inputs(d, step, options, isync::testing::kStartMs, {}, keys,
                                          args);
    auto promise = std::make_shared<std::promise<std::string>>();
    decisions.push_back(promise->get_future());
    batcher->apply(isync::testing::kTenant, std::move(keys), std::move(args),
                   [promise](std::string decision) { promise->set_value(std::move(decision)); });
  }
  REQUIRE(server.cmd({"CLIENT", "UNPAUSE"}).str == "OK");
  for (auto& f : decisions) {
    REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    // An event applied after a newer one of its record would be "ignored".
    CHECK(f.get() == "applied");
  }
  // The first two alone (the calls in flight while Redis was paused), then
  // the other 11 in calls running 4, 4 and 3 of them.
  CHECK(evalsha_calls() - calls_before == 5);
  CHECK(fields("CUSTOMER", "31").at("NAME") == "v12");
  CHECK(audit_len("CUSTOMER", "31") == 13);
}
