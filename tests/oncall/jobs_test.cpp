// Jobs by filter: created from the ids matched, advanced by JobRunners at
// the tenant's shared rate, one atomic step at a time: they complete, can be
// run twice harmlessly, cancelled, shared by two runners, and resumed.
#include <rapidjson/document.h>

#include <algorithm>
#include <atomic>

#include "tests/oncall/fixture.hpp"

using namespace isync;
using namespace isync::testing;
using namespace std::chrono_literals;

namespace {

struct JobRig : OnCallRig {
  std::vector<std::unique_ptr<oncall::JobRunner>> runners;

  ~JobRig() {
    for (auto& r : runners) stop(*r);
  }

  // `n` dead letters of `tenant`, filed 500 at a time (pipelined): all at
  // once, the last ones can outwait the connection's command deadline on a
  // loaded machine.
  void bulk_dead(int n, const std::string& tenant = "acme") {
    auto failed = std::make_shared<std::atomic<int>>(0);
    for (int from = 0; from < n; from += 500) {
      const int count = std::min(500, n - from);
      auto left = std::make_shared<std::atomic<int>>(count);
      for (int i = from; i < from + count; ++i) {
        auto e = customer_event(tenant, std::to_string(i + 1));
        queue::file_dead_letter(*conn, e, failure(), kNow, [left, failed](Result<void> r) {
          if (!r) ++*failed;
          --*left;
        });
      }
      REQUIRE(eventually([&] { return left->load() == 0; }, 60s));
    }
    REQUIRE(failed->load() == 0);
  }

  oncall::JobRunner& runner(std::chrono::milliseconds tick = 20ms,
                            std::chrono::milliseconds sweep = 0ms) {
    oncall::JobRunner::Settings s;
    s.tick = tick;
    s.sweep_every = sweep;
    runners.push_back(std::make_unique<oncall::JobRunner>(io->executor(), open(), tenants, options,
                                                          s, clock, log));
    runners.back()->start();
    return *runners.back();
  }
  void stop(oncall::JobRunner& r) {
    std::promise<void> stopped;
    r.stop([&] { stopped.set_value(); });
    REQUIRE(stopped.get_future().wait_for(10s) == std::future_status::ready);
  }

  oncall::ActionAnswer by_filter(queue::EventFilter filter, bool dry = false,
                                 oncall::Action action = oncall::Action::replay) {
    oncall::ActionRequest r;
    r.action = action;
    r.tenant = "acme";
    r.filter = std::move(filter);
    r.actor = "alice";
    r.reason = "bulk";
    r.dry_run = dry;
    auto a = act(std::move(r));
    REQUIRE(a.has_value());
    return *a;
  }
  queue::EventFilter dead_filter() {
    queue::EventFilter f;
    f.state = "dead";
    return f;
  }
  oncall::Job job(const std::string& id) {
    auto j = wait_for<Result<oncall::Job>>([&](auto cb) { engine->job(id, cb); });
    REQUIRE(j.has_value());
    return *j;
  }
  bool finished(const std::string& id) { return job(id).state != "running"; }
  long long zcard(const std::string& tenant, const std::string& key) {
    return server.cmd({"ZCARD", k(tenant, key)}).integer;
  }
};

}  // namespace

TEST_CASE("a dry run by filter counts and samples, and writes nothing") {
  JobRig f;
  f.bulk_dead(12);
  auto a = f.by_filter(f.dead_filter(), true);
  CHECK(a.dry_run);
  CHECK(a.matched == 12);
  CHECK(a.samples.size() == 5);
  CHECK(a.job_id.empty());
  CHECK(f.zcard("acme", "jobs") == 0);
  CHECK(f.zcard("acme", "dead") == 12);
  CHECK(f.stream_len("acme") == 0);
}

TEST_CASE("a job by filter of 10,000 dead letters completes, and running it again does no harm") {
  JobRig f;
  f.options.replay_rate = 20000;
  f.rebuild();
  f.bulk_dead(10000);
  f.bulk_dead(3, "beta");  // another tenant's are not touched
  auto a = f.by_filter(f.dead_filter());
  REQUIRE_FALSE(a.job_id.empty());
  CHECK(a.matched == 10000);
  CHECK(oncall::to_json(a, oncall::Action::replay) ==
        "{\"job_id\":\"" + a.job_id + "\",\"matched\":10000}");
  auto created = f.job(a.job_id);
  CHECK(created.state == "running");
  CHECK(created.tenant == "acme");
  CHECK(created.filter == "{\"state\":\"dead\"}");
  f.runner();
  REQUIRE(eventually([&] { return f.finished(a.job_id); }, 120s));
  auto j = f.job(a.job_id);
  CHECK(j.state == "done");
  CHECK(j.matched == 10000);
  CHECK(j.processed == 10000);
  CHECK(j.acted == 10000);
  CHECK(j.skipped == 0);
  CHECK(f.stream_len("acme") == 10000);
  CHECK(f.zcard("acme", "dead") == 0);
  CHECK(f.zcard("acme", "evx:s:pending") == 10000);
  CHECK(f.zcard("beta", "dead") == 3);
  CHECK(f.stream_len("beta") == 0);

  // Again, over every CUSTOMER event: all pending now, all skipped.
  queue::EventFilter customers;
  customers.object = "CUSTOMER";
  auto second = f.by_filter(customers);
  CHECK(second.matched == 10000);
  REQUIRE(eventually([&] { return f.finished(second.job_id); }, 120s));
  auto j2 = f.job(second.job_id);
  CHECK(j2.state == "done");
  CHECK(j2.acted == 0);
  CHECK(j2.skipped == 10000);
  REQUIRE(j2.skipped_samples.size() == 100);
  CHECK(j2.skipped_samples[0].code == "already_pending");
  CHECK(j2.skipped_samples[0].state == "pending");
  CHECK(f.stream_len("acme") == 10000);

  // The same filter as the first: nothing dead any more.
  auto third = f.by_filter(f.dead_filter());
  CHECK(third.matched == 0);
  CHECK(f.job(third.job_id).state == "done");

  auto all =
      wait_for<Result<std::vector<oncall::Job>>>([&](auto cb) { f.engine->jobs("acme", cb); });
  REQUIRE(all.has_value());
  CHECK(all->size() == 3);
}

TEST_CASE("cancelling a job halfway stops it") {
  JobRig f;
  f.options.replay_rate = 100;
  f.rebuild();
  f.bulk_dead(1000);
  auto a = f.by_filter(f.dead_filter(), false, oncall::Action::discard);
  f.runner();
  REQUIRE(eventually([&] { return f.job(a.job_id).processed >= 150; }, 30s));
  auto c = wait_for<Result<oncall::Job>>([&](auto cb) { f.engine->cancel(a.job_id, cb); });
  REQUIRE(c.has_value());
  CHECK(c->state == "cancelled");
  const auto at = f.job(a.job_id).processed;
  std::this_thread::sleep_for(500ms);
  auto j = f.job(a.job_id);
  CHECK(j.state == "cancelled");
  CHECK(j.processed == at);
  CHECK(j.processed < 1000);
  CHECK(j.acted == j.processed);
  CHECK(f.zcard("acme", "evx:s:discarded") == j.acted);
  CHECK(f.zcard("acme", "dead") == 1000 - j.acted);
  // Cancelling a finished job answers it as it is.
  auto again = wait_for<Result<oncall::Job>>([&](auto cb) { f.engine->cancel(a.job_id, cb); });
  REQUIRE(again.has_value());
  CHECK(again->state == "cancelled");
}

TEST_CASE("the rate is a per-tenant token bucket") {
  JobRig f;
  f.options.replay_rate = 50;
  f.rebuild();
  f.bulk_dead(400);
  auto a = f.by_filter(f.dead_filter());
  const auto start = std::chrono::steady_clock::now();
  f.runner();
  f.runner();  // two processes share the bucket
  REQUIRE(eventually([&] { return f.job(a.job_id).processed >= 200; }, 30s));
  const auto took = std::chrono::steady_clock::now() - start;
  // 50 at once (the burst), then 50 a second: 200 take about 3 s.
  CHECK(took >= 2500ms);
}

TEST_CASE("two runners at once act on each id once") {
  JobRig f;
  f.options.replay_rate = 20000;
  f.rebuild();
  f.bulk_dead(2000);
  auto a = f.by_filter(f.dead_filter());
  f.runner(1ms);
  f.runner(1ms);
  REQUIRE(eventually([&] { return f.finished(a.job_id); }, 60s));
  auto j = f.job(a.job_id);
  CHECK(j.acted == 2000);
  CHECK(j.skipped == 0);
  CHECK(f.stream_len("acme") == 2000);
}

TEST_CASE("a job resumes after its runner is destroyed mid-way") {
  JobRig f;
  f.options.replay_rate = 400;
  f.rebuild();
  f.bulk_dead(1500);
  auto a = f.by_filter(f.dead_filter());
  {
    oncall::JobRunner::Settings s;
    s.tick = 20ms;
    s.sweep_every = 0ms;
    oncall::JobRunner first(f.io->executor(), f.conn, f.tenants, f.options, s, f.clock, f.log);
    first.start();
    REQUIRE(eventually([&] { return f.job(a.job_id).processed >= 400; }, 30s));
  }
  const auto mid = f.job(a.job_id);
  CHECK(mid.state == "running");
  CHECK(mid.processed < 1500);
  f.runner();
  REQUIRE(eventually([&] { return f.finished(a.job_id); }, 60s));
  auto j = f.job(a.job_id);
  CHECK(j.state == "done");
  CHECK(j.acted == 1500);
  CHECK(f.stream_len("acme") == 1500);
}

TEST_CASE(
    "jobs: unknown ids are 404 not_found; the sweep deletes finished jobs past their "
    "retention") {
  JobRig f;
  auto missing =
      wait_for<Result<oncall::Job>>([&](auto cb) { f.engine->job(make_ulid(kNow), cb); });
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == "not_found");
  f.bulk_dead(3);
  f.options.replay_rate = 1000;
  f.rebuild();
  auto a = f.by_filter(f.dead_filter());
  auto& r = f.runner(20ms);
  REQUIRE(eventually([&] { return f.finished(a.job_id); }));
  f.stop(r);
  rapidjson::Document d;
  const std::string text = oncall::to_json(f.job(a.job_id));
  d.Parse(text.c_str(), text.size());
  REQUIRE(d.IsObject());
  CHECK(std::string(d["job_id"].GetString()) == a.job_id);
  CHECK(d["replayed"].GetInt() == 3);
  CHECK(std::string(d["filter"]["state"].GetString()) == "dead");

  f.clock.advance(f.options.job_retention.count() + 1000);
  f.runner(20ms, 50ms);
  REQUIRE(eventually([&] { return f.zcard("acme", "jobs") == 0; }));
  CHECK(f.server.cmd({"EXISTS", f.k("acme", "job:" + a.job_id)}).integer == 0);
  CHECK(f.server.cmd({"EXISTS", f.k("acme", "job:" + a.job_id + ":ids")}).integer == 0);
}

TEST_CASE(
    "the runner's sweep removes discarded documents past their retention with their index "
    "entries") {
  JobRig f;
  const std::string id = f.dead_customer();
  REQUIRE(f.discard({id}).has_value());
  const std::string kept = f.dead_customer("acme", "8");
  f.clock.advance(f.options.sweep.dead_retention.count() / 2);
  REQUIRE(f.replay({kept}).has_value());  // pending, recent
  f.clock.advance(f.options.sweep.dead_retention.count() / 2 + 1000);
  f.runner(20ms, 50ms);
  REQUIRE(eventually([&] { return f.field("acme", id, "state") == "(nil)"; }));
  CHECK(f.server.cmd({"ZSCORE", f.k("acme", "evx:all"), id}).type == redis::Reply::Type::nil);
  CHECK(f.server.cmd({"ZSCORE", f.k("acme", "evx:s:discarded"), id}).type ==
        redis::Reply::Type::nil);
  CHECK(f.field("acme", kept, "state") == "pending");
}
