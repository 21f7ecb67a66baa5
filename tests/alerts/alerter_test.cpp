// Alerts end to end: Redis state in, one webhook message out per thing that
// happened — whatever the number of processes — and recovery messages.
#include <doctest/doctest.h>

#include "tests/alerts/fixture.hpp"

using namespace isync;
using namespace isync::testing;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("dead letters are reported once per tenant per window, with their counts and codes") {
  AlertRig rig;
  auto& alerter = rig.add();
  rig.check_and_deliver(alerter);  // the first check starts the digest's cursor
  CHECK(rig.receiver.count() == 0);

  rig.clock.advance(1000);
  rig.dead("acme", "7");
  rig.dead("acme", "8");
  rig.dead("acme", "9", plain_failure("not_found"));
  rig.clock.advance(2000);  // past the digest's grace
  rig.check_and_deliver(alerter);
  auto texts = rig.texts();
  REQUIRE(texts.size() == 2);  // the digest, and the threshold (3) crossed
  const auto& digest = contains(texts[0], "dead-lettered") ? texts[0] : texts[1];
  CHECK(contains(digest, "[intacct-sync] acme: 3 events were dead-lettered since the last alert"));
  CHECK(contains(digest, "Objects: CUSTOMER 3."));
  CHECK(contains(
      digest, "  - BL34000061 (intacct_error) x2: Invalid customer Correction: Fix the customer"));
  CHECK(contains(digest, "  - not_found x1"));
  CHECK(rig.receiver.content_type() == "application/json");
  CHECK(rig.counted("dead_letters", "sent") == 1);

  // More dead letters within the window: no second message ...
  rig.dead("acme", "10");
  rig.clock.advance(2000);
  rig.check_and_deliver(alerter);
  CHECK(rig.receiver.count() == 2);

  // ... until the window has passed; then only the new one is reported.
  rig.server.cmd({"PEXPIRE", "isync:{acme}:alerts:dead:window", "1"});
  REQUIRE(eventually([&] {
    return rig.server.cmd({"EXISTS", "isync:{acme}:alerts:dead:window"}).integer == 0;
  }));
  rig.check_and_deliver(alerter);
  texts = rig.texts();
  REQUIRE(texts.size() == 3);
  CHECK(contains(texts[2],
                 "acme: 1 event was dead-lettered since the last alert (4 dead letters "
                 "in all)"));
  CHECK(rig.counted("dead_letters", "sent") == 2);
  // The other tenant had none: nothing about it.
  for (const auto& t : texts) CHECK_FALSE(contains(t, "beta"));
}

TEST_CASE("the dead-letter threshold alerts when crossed and again when back under it") {
  AlertRig rig;
  auto& alerter = rig.add();
  rig.check_and_deliver(alerter);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(rig.dead("beta", std::to_string(i)));
  rig.check_and_deliver(alerter);
  rig.check_and_deliver(alerter);  // still over: nothing new
  auto texts = rig.texts();
  int over = 0;
  for (const auto& t : texts)
    over += contains(t,
                     "beta: 3 dead letters, at or over the alert "
                     "threshold of 3")
                ? 1
                : 0;
  CHECK(over == 1);
  CHECK(rig.counted("dead_threshold", "sent") == 1);

  rig.server.cmd({"ZREM", queue::key("beta", "dead"), ids[0]});
  rig.check_and_deliver(alerter);
  rig.check_and_deliver(alerter);
  texts = rig.texts();
  int recovered = 0;
  for (const auto& t : texts)
    recovered += contains(t,
                          "beta: recovered: dead letters are back under the threshold of 3 "
                          "(now 2)")
                     ? 1
                     : 0;
  CHECK(recovered == 1);
  CHECK(rig.counted("dead_threshold", "sent") == 2);
}

TEST_CASE("an open Intacct circuit alerts once, and its closing once") {
  AlertRig rig;
  auto& alerter = rig.add();
  rig.check_and_deliver(alerter);  // closed from the start: no recovery message
  CHECK(rig.receiver.count() == 0);
  rig.server.cmd({"HSET", intacct::circuit_key("acme"), "fingerprint", "0123456789abcdef", "reason",
                  "XL03000006 Sign-in information is incorrect"});
  rig.check_and_deliver(alerter);
  rig.check_and_deliver(alerter);
  auto texts = rig.texts();
  REQUIRE(texts.size() == 1);
  CHECK(contains(texts[0],
                 "[intacct-sync] acme: the Intacct circuit is open: Intacct rejected "
                 "the credentials (XL03000006 Sign-in information is incorrect)."));
  rig.server.cmd({"DEL", intacct::circuit_key("acme")});
  rig.check_and_deliver(alerter);
  rig.check_and_deliver(alerter);
  texts = rig.texts();
  REQUIRE(texts.size() == 2);
  CHECK(contains(texts[1], "acme: recovered: the Intacct circuit is closed"));
  CHECK(rig.counted("circuit", "sent") == 2);
}

TEST_CASE("the monthly call budget alerts at 80 % and at 100 %, each once a month") {
  AlertRig rig;
  auto& alerter = rig.add();
  const auto calls = intacct::monthly_calls_key("acme", kNow);
  rig.server.cmd({"SET", calls, "79"});
  rig.check_and_deliver(alerter);
  CHECK(rig.receiver.count() == 0);
  rig.server.cmd({"SET", calls, "80"});
  rig.check_and_deliver(alerter);
  rig.server.cmd({"SET", calls, "95"});
  rig.check_and_deliver(alerter);
  auto texts = rig.texts();
  REQUIRE(texts.size() == 1);
  CHECK(contains(texts[0],
                 "[intacct-sync] acme: 80% of the monthly Intacct call budget is used: "
                 "80 of 100 API transactions in 2027-01 (UTC)."));
  rig.server.cmd({"SET", calls, "100"});
  rig.check_and_deliver(alerter);
  rig.check_and_deliver(alerter);
  texts = rig.texts();
  REQUIRE(texts.size() == 2);
  CHECK(contains(texts[1],
                 "acme: the monthly Intacct call budget is used up: 100 of 100 API "
                 "transactions in 2027-01 (UTC)."));
  CHECK(rig.counted("budget", "sent") == 2);
}

TEST_CASE("reconcile runs that failed, suspected a mass delete or drifted alert once each") {
  AlertRig rig;
  auto& alerter = rig.add();
  rig.put_run("acme", report("R1", "succeeded", 1000, 5, 4, 0, false), "R1");  // 0.9 %: quiet
  rig.put_run(
      "acme",
      report("R2", "failed", 10, 0, 0, 0, false, false, kNow - 60'000, "credentials rejected"),
      "R2");
  rig.put_run("acme", report("R3", "partial", 1000, 0, 0, 900, true), "R3");
  rig.put_run("acme", report("R4", "succeeded", 1000, 15, 5, 0, false), "R4");        // 2 %
  rig.put_run("acme", report("R5", "succeeded", 1000, 50, 0, 0, false, true), "R5");  // dry run
  rig.check_and_deliver(alerter);
  rig.check_and_deliver(alerter);
  auto texts = rig.texts();
  REQUIRE(texts.size() == 3);
  std::string all;
  for (const auto& t : texts) all += t + "\n---\n";
  INFO(all);
  CHECK(contains(all, "acme: reconcile run R2 (schedule) failed: credentials rejected."));
  CHECK(contains(all,
                 "acme: reconcile run R3 (schedule) ended partial (an object failed); "
                 "suspected a mass delete of CUSTOMER: 900 of 1,000 gone (nothing was "
                 "tombstoned); found drift of 90% of the records listed (over 1%): 900 of "
                 "1,000.\n  - CUSTOMER: 0 missing, 0 stale, 900 gone of 1,000 listed\n"));
  CHECK(contains(all, "intacct-sync reconcile --tenant acme --allow-mass-delete"));
  CHECK(contains(all,
                 "acme: reconcile run R4 (schedule) found drift of 2% of the records listed "
                 "(over 1%): 20 of 1,000."));
  CHECK(contains(all, "  - CUSTOMER: 15 missing, 5 stale, 0 gone of 1,000 listed"));
  CHECK_FALSE(contains(all, "R1"));
  CHECK_FALSE(contains(all, "R5"));
  CHECK(rig.counted("reconcile", "sent") == 3);
}

TEST_CASE("two alerters on the same Redis send one message, not two") {
  AlertRig rig;
  auto& a = rig.add();
  auto& b = rig.add();
  rig.check(a);
  rig.check(b);
  rig.clock.advance(1000);
  rig.dead("acme", "1");
  rig.clock.advance(2000);
  rig.server.cmd({"HSET", intacct::circuit_key("acme"), "fingerprint", "f", "reason", "bad"});
  rig.server.cmd({"SET", intacct::monthly_calls_key("acme", kNow), "100"});
  rig.put_run("acme", report("R9", "failed", 0, 0, 0, 0, false, false, kNow - 1000, "stopped"),
              "R9");
  // Both look at once.
  auto da = std::make_shared<std::promise<void>>();
  auto db = std::make_shared<std::promise<void>>();
  a.check_now([da] { da->set_value(); });
  b.check_now([db] { db->set_value(); });
  REQUIRE(da->get_future().wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  REQUIRE(db->get_future().wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  rig.settle();
  rig.check(a);
  rig.check(b);
  rig.settle();
  auto texts = rig.texts();
  CHECK(texts.size() == 4);  // digest, circuit, budget, reconcile
  CHECK(rig.counted("dead_letters", "sent") == 1);
  CHECK(rig.counted("circuit", "sent") == 1);
  CHECK(rig.counted("budget", "sent") == 1);
  CHECK(rig.counted("reconcile", "sent") == 1);
}

TEST_CASE("a receiver that is down for a while gets the message once it is back") {
  AlertRig rig(false);  // nothing listens on the receiver's port yet
  auto& alerter = rig.add();
  rig.server.cmd({"HSET", intacct::circuit_key("beta"), "fingerprint", "f", "reason", "bad"});
  rig.check(alerter);
  REQUIRE(
      eventually([&] { return rig.counted("circuit", "retried") >= 2; }, std::chrono::seconds(30)));
  CHECK(rig.counted("circuit", "sent") == 0);
  CHECK(alerter.queued() == 1);
  rig.receiver.start();
  REQUIRE(eventually([&] { return rig.receiver.count() == 1; }, std::chrono::seconds(30)));
  CHECK(contains(rig.texts()[0], "beta: the Intacct circuit is open"));
  REQUIRE(eventually([&] { return rig.counted("circuit", "sent") == 1; }));
  CHECK(rig.counted("circuit", "failed") == 0);
  CHECK(rig.logged("alert webhook: post failed; retrying"));
  // The URL (its token) is never logged.
  CHECK_FALSE(contains(rig.all_logs(), "XXXXtokenXXXX"));
  CHECK_FALSE(contains(rig.all_logs(), rig.receiver.url()));
}

TEST_CASE("a receiver answering 5xx is retried; one answering 4xx fails the alert at once") {
  AlertRig rig;
  rig.receiver.status = 503;
  auto& alerter = rig.add();
  alerter.post({alerts::Kind::budget, "acme", "first"});
  REQUIRE(eventually([&] { return rig.counted("budget", "retried") >= 1; }));
  rig.receiver.status = 200;
  REQUIRE(eventually([&] { return rig.counted("budget", "sent") == 1; }));
  rig.receiver.status = 404;
  alerter.post({alerts::Kind::budget, "acme", "second"});
  REQUIRE(eventually([&] { return rig.counted("budget", "failed") == 1; }));
  CHECK(rig.texts() == std::vector<std::string>{"first"});
  CHECK(rig.logged("alert webhook refused the alert"));
}

TEST_CASE("an alert that cannot be delivered in give_up_after is failed") {
  AlertRig rig(false);
  auto o = rig.options();
  o.give_up_after = std::chrono::milliseconds(300);
  auto& alerter = rig.add(o);
  alerter.post({alerts::Kind::reconcile, "acme", "lost"});
  REQUIRE(eventually([&] { return rig.counted("reconcile", "failed") == 1; },
                     std::chrono::seconds(30)));
  CHECK(rig.counted("reconcile", "retried") >= 1);
  CHECK(alerter.queued() == 0);
  CHECK(rig.logged("alert webhook: gave up on the alert"));
}

TEST_CASE(
    "posting never blocks: a slow receiver fills the bounded outbox and the rest is dropped") {
  AlertRig rig;
  rig.receiver.delay_ms = 2000;
  auto o = rig.options();
  o.outbox_limit = 4;
  auto& alerter = rig.add(o);
  for (int i = 0; i < 50; ++i)
    alerter.post({alerts::Kind::dead_letters, "acme", "n" + std::to_string(i)});
  // post() returned 50 times while the first post waits for its reply.
  REQUIRE(eventually([&] { return rig.counted("dead_letters", "dropped") == 46; }));
  CHECK(alerter.queued() == 4);
  rig.receiver.delay_ms = 0;
  REQUIRE(eventually([&] { return rig.counted("dead_letters", "sent") == 4; },
                     std::chrono::seconds(30)));
  CHECK(rig.texts() == std::vector<std::string>{"n0", "n1", "n2", "n3"});
}
