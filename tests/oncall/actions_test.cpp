// The on-call actions by id(s): the state table, every refusal with its
// exact code, the replayed/discarded history, a fresh retry budget.
#include <rapidjson/document.h>

#include "tests/oncall/fixture.hpp"

using namespace isync;
using namespace isync::testing;
using oncall::Action;

namespace {

rapidjson::Document attempts_of(OnCallRig& f, const std::string& tenant, const std::string& id) {
  rapidjson::Document d;
  const std::string text = f.field(tenant, id, "attempts");
  d.Parse(text.c_str(), text.size());
  REQUIRE(d.IsArray());
  return d;
}

}  // namespace

TEST_CASE(
    "a replay of a dead letter puts it back on the stream with a fresh budget and keeps "
    "its history") {
  OnCallRig f;
  const std::string id = f.dead(customer_event("acme", "7"), failure(), kNow - 3 * 86'400'000);
  f.clock.set(kNow + 1000);
  auto r = f.replay({id}, "customer fixed in Intacct");
  REQUIRE(r.has_value());
  CHECK(r->matched == 1);
  CHECK(r->acted == 1);
  CHECK(r->skipped.empty());
  CHECK(f.field("acme", id, "state") == "pending");
  CHECK(f.field("acme", id, "attempt") == "0");
  CHECK(f.field("acme", id, "first_failure") == "0");
  CHECK(f.field("acme", id, "updated_at") == std::to_string(kNow + 1000));
  CHECK_FALSE(f.in("acme", "dead", id));
  REQUIRE(f.stream_len("acme") == 1);
  auto entry = f.server.cmd({"XRANGE", f.k("acme", "events"), "-", "+"});
  const auto& fields = entry.elements[0].elements[1].elements;
  REQUIRE(fields.size() == 6);
  CHECK(fields[1].str == f.field("acme", id, "envelope"));
  CHECK(fields[2].str == "a");
  CHECK(fields[3].str == "0");
  CHECK(fields[5].str == "0");
  auto a = attempts_of(f, "acme", id);
  REQUIRE(a.Size() == 2);
  CHECK(std::string(a[0]["code"].GetString()) == "intacct_error");
  CHECK(std::string(a[1]["kind"].GetString()) == "replayed");
  CHECK(std::string(a[1]["actor"].GetString()) == "alice");
  CHECK(std::string(a[1]["reason"].GetString()) == "customer fixed in Intacct");
  CHECK(a[1]["at"].GetInt64() == kNow + 1000);
}

TEST_CASE("replay from parked, retrying and discarded takes the event out of its ZSET") {
  OnCallRig f;
  for (const std::string state : {"parked", "retrying", "discarded"}) {
    CAPTURE(state);
    const std::string id = f.dead_customer();
    f.move("acme", id, state);
    auto r = f.replay({id});
    REQUIRE(r.has_value());
    CHECK(r->acted == 1);
    CHECK(f.field("acme", id, "state") == "pending");
    CHECK_FALSE(f.in("acme", "parked", id));
    CHECK_FALSE(f.in("acme", "retry", id));
  }
  CHECK(f.stream_len("acme") == 3);
}

TEST_CASE("a replay of a pending event is a no-op and of a done one is 409 invalid_state") {
  OnCallRig f;
  const std::string pending = f.dead_customer();
  f.move("acme", pending, "pending");
  auto r = f.replay({pending});
  REQUIRE(r.has_value());
  CHECK(r->acted == 0);
  REQUIRE(r->skipped.size() == 1);
  CHECK(r->skipped[0].code == "already_pending");
  CHECK(r->skipped[0].state == "pending");
  CHECK(f.stream_len("acme") == 0);

  const std::string done = f.dead_customer();
  f.move("acme", done, "done");
  auto d = f.replay({done});
  REQUIRE_FALSE(d.has_value());
  CHECK(d.error().code == "invalid_state");
  CHECK(d.error().message == "event " + done +
                                 " is done: replay applies to dead, parked, retrying and "
                                 "discarded events");
  CHECK(f.field("acme", done, "state") == "done");
}

TEST_CASE(
    "discard from dead, parked and retrying records the reason; pending, done and "
    "discarded are 409 invalid_state") {
  OnCallRig f;
  for (const std::string state : {"dead", "parked", "retrying"}) {
    CAPTURE(state);
    const std::string id = f.dead_customer();
    f.move("acme", id, state);
    f.clock.advance(10);
    auto r = f.discard({id}, "duplicate of a manual entry");
    REQUIRE(r.has_value());
    CHECK(r->acted == 1);
    CHECK(f.field("acme", id, "state") == "discarded");
    CHECK(f.field("acme", id, "updated_at") == std::to_string(f.clock.now_ms()));
    CHECK_FALSE(f.in("acme", "dead", id));
    CHECK_FALSE(f.in("acme", "parked", id));
    CHECK_FALSE(f.in("acme", "retry", id));
    auto a = attempts_of(f, "acme", id);
    const auto& last = a[a.Size() - 1];
    CHECK(std::string(last["kind"].GetString()) == "discarded");
    CHECK(std::string(last["reason"].GetString()) == "duplicate of a manual entry");
    CHECK(std::string(last["actor"].GetString()) == "alice");
  }
  for (const std::string state : {"pending", "done", "discarded"}) {
    CAPTURE(state);
    const std::string id = f.dead_customer();
    f.move("acme", id, state);
    auto r = f.discard({id});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == "invalid_state");
    CHECK(r.error().message ==
          "event " + id + " is " + state + ": discard applies to dead, parked and retrying events");
  }
  CHECK(f.stream_len("acme") == 0);
}

TEST_CASE("a discard needs a reason") {
  OnCallRig f;
  const std::string id = f.dead_customer();
  auto r = f.discard({id}, "");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "invalid_field");
  CHECK(r.error().message == "reason: a discard needs a reason");
  CHECK(f.field("acme", id, "state") == "dead");
}

TEST_CASE("an unknown id is 404 not_found saying only failed events are kept") {
  OnCallRig f;
  const std::string id = make_ulid(kNow);
  auto r = f.replay({id});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "not_found");
  CHECK(r.error().message == "event " + id +
                                 " not found: only failed events are kept (an event that "
                                 "succeeded on its first delivery has no record here)");
  auto s = wait_for<Result<oncall::EventDetail>>([&](auto cb) { f.engine->show("", id, cb); });
  REQUIRE_FALSE(s.has_value());
  CHECK(s.error().code == "not_found");
  CHECK(s.error().message == r.error().message);
}

TEST_CASE("bad input is 400 invalid_field naming the field") {
  OnCallRig f;
  oncall::ActionRequest r;
  r.ids = {"not-an-id!"};
  auto a = f.act(r);
  REQUIRE_FALSE(a.has_value());
  CHECK(a.error().code == "invalid_field");
  CHECK(a.error().message == "ids: 'not-an-id!' is not an event id");

  r.ids.assign(oncall::kMaxIds + 1, make_ulid(kNow));
  a = f.act(r);
  REQUIRE_FALSE(a.has_value());
  CHECK(a.error().message == "ids: at most 1000 per request; act on more with a filter");

  r.ids = {make_ulid(kNow)};
  r.tenant = "nobody";
  a = f.act(r);
  REQUIRE_FALSE(a.has_value());
  CHECK(a.error().message == "tenant: 'nobody' is not a configured tenant");

  oncall::ActionRequest byfilter;
  a = f.act(byfilter);
  REQUIRE_FALSE(a.has_value());
  CHECK(a.error().code == "invalid_field");
  CHECK(a.error().message == "tenant: an action by filter needs the tenant");

  byfilter.tenant = "acme";
  byfilter.filter.state = "sleeping";
  a = f.act(byfilter);
  REQUIRE_FALSE(a.has_value());
  CHECK(a.error().message ==
        "state: 'sleeping' is not a state (pending, retrying, parked, dead, done, discarded)");
  byfilter.filter.state = "";
  byfilter.filter.key = "7";
  a = f.act(byfilter);
  REQUIRE_FALSE(a.has_value());
  CHECK(a.error().message == "key: a record key needs its object");

  oncall::ActionRequest set;
  set.ids = {make_ulid(kNow), make_ulid(kNow)};
  set.set = {{"INVOICE", "INV-1"}};
  a = f.act(set);
  REQUIRE_FALSE(a.has_value());
  CHECK(a.error().code == "invalid_field");
  CHECK(a.error().message == "set: takes exactly one event id");
  set.ids.clear();
  set.tenant = "acme";
  a = f.act(set);
  REQUIRE_FALSE(a.has_value());
  CHECK(a.error().message == "set: takes exactly one event id, not a filter");
  set.ids = {make_ulid(kNow)};
  set.set = {{"AMOUNT", "1"}};
  a = f.act(set);
  REQUIRE_FALSE(a.has_value());
  CHECK(a.error().message == "set: AMOUNT cannot be set; only INVOICE and CUSTOMER can");
}

TEST_CASE("several ids answer at once: what was acted on and what was skipped, and why") {
  OnCallRig f;
  const std::string a = f.dead_customer("acme", "1");
  const std::string b = f.dead_customer("beta", "2");
  const std::string done = f.dead_customer("acme", "3");
  f.move("acme", done, "done");
  const std::string missing = make_ulid(kNow);
  auto r = f.replay({a, b, done, missing, a});
  REQUIRE(r.has_value());
  CHECK(r->matched == 3);
  CHECK(r->acted == 2);
  REQUIRE(r->skipped.size() == 2);
  CHECK(r->skipped[0].id == done);
  CHECK(r->skipped[0].state == "done");
  CHECK(r->skipped[0].code == "invalid_state");
  CHECK(r->skipped[1].id == missing);
  CHECK(r->skipped[1].state == "");
  CHECK(r->skipped[1].code == "not_found");
  CHECK(f.stream_len("acme") == 1);
  CHECK(f.stream_len("beta") == 1);
  CHECK(oncall::to_json(*r, Action::replay) ==
        "{\"matched\":3,\"replayed\":2,\"skipped\":[{\"id\":\"" + done +
            "\",\"state\":\"done\",\"code\":\"invalid_state\"},{\"id\":\"" + missing +
            "\",\"state\":\"\",\"code\":\"not_found\"}]}");
}

TEST_CASE("a dry run by ids changes nothing and shows what it would act on") {
  OnCallRig f;
  const std::string a = f.dead_customer("acme", "1");
  oncall::ActionRequest r;
  r.ids = {a, make_ulid(kNow)};
  r.dry_run = true;
  auto d = f.act(r);
  REQUIRE(d.has_value());
  CHECK(d->matched == 1);
  REQUIRE(d->samples.size() == 1);
  CHECK(d->samples[0].id == a);
  CHECK(d->samples[0].state == "dead");
  CHECK(f.field("acme", a, "state") == "dead");
  CHECK(f.stream_len("acme") == 0);
  CHECK(oncall::to_json(*d, Action::replay).rfind("{\"matched\":1,\"samples\":[{\"id\":", 0) == 0);
}

TEST_CASE("show has the envelope, the attempts and the state; its JSON embeds them") {
  OnCallRig f;
  const std::string id = f.dead_customer("beta", "9");
  auto s = wait_for<Result<oncall::EventDetail>>([&](auto cb) { f.engine->show("", id, cb); });
  REQUIRE(s.has_value());
  CHECK(s->summary.id == id);
  CHECK(s->summary.tenant == "beta");
  CHECK(s->summary.state == "dead");
  CHECK(s->ledger.empty());
  rapidjson::Document d;
  const std::string text = oncall::to_json(*s);
  d.Parse(text.c_str(), text.size());
  REQUIRE(d.IsObject());
  CHECK(std::string(d["envelope"]["raw"].GetString()) == "object=CUSTOMER&action=set&recordno=9");
  CHECK(std::string(d["attempts"][0]["code"].GetString()) == "intacct_error");
  CHECK(d["ledger"].IsNull());
  CHECK(std::string(d["event"]["state"].GetString()) == "dead");
}

TEST_CASE("list finds events by filter, newest first; bad arguments name the field") {
  OnCallRig f;
  const std::string a = f.dead_customer("acme", "1");
  f.clock.advance(10);
  const std::string b = f.dead_customer("beta", "2");
  f.clock.advance(10);
  const std::string c = f.dead_customer("acme", "3");
  REQUIRE(f.discard({c}).has_value());
  auto all =
      wait_for<Result<queue::EventPage>>([&](auto cb) { f.engine->list("", {}, 10, "", cb); });
  REQUIRE(all.has_value());
  REQUIRE(all->events.size() == 3);
  CHECK(all->events[0].id == c);
  CHECK(all->events[1].id == b);
  CHECK(all->events[2].id == a);
  queue::EventFilter dead;
  dead.state = "dead";
  auto acme = wait_for<Result<queue::EventPage>>(
      [&](auto cb) { f.engine->list("acme", dead, 10, "", cb); });
  REQUIRE(acme.has_value());
  REQUIRE(acme->events.size() == 1);
  CHECK(acme->events[0].id == a);
  CHECK(oncall::to_json(*acme).rfind("{\"events\":[{\"id\":\"" + a + "\",\"tenant\":\"acme\"", 0) ==
        0);

  auto bad =
      wait_for<Result<queue::EventPage>>([&](auto cb) { f.engine->list("zzz", {}, 10, "", cb); });
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == "invalid_field");
  CHECK(bad.error().message == "tenant: 'zzz' is not a configured tenant");
  bad = wait_for<Result<queue::EventPage>>([&](auto cb) { f.engine->list("", {}, 0, "", cb); });
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().message == "limit: between 1 and 1000");
  bad = wait_for<Result<queue::EventPage>>(
      [&](auto cb) { f.engine->list("", {}, 10, "garbage", cb); });
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == "invalid_field");
}
