// What each message says, from its inputs alone.
#include <doctest/doctest.h>

#include "alerts/alerts.hpp"
#include "alerts/detail/text.hpp"
#include "tests/alerts/fixture.hpp"

using namespace isync;
using namespace isync::alerts;
using namespace isync::alerts::detail;
using isync::testing::kNow;
using isync::testing::report;

TEST_CASE("the webhook body is Slack's {\"text\": …}, escaped") {
  CHECK(webhook_body({Kind::circuit, "acme", "line \"one\"\nline two"}) ==
        "{\"text\":\"line \\\"one\\\"\\nline two\"}");
}

TEST_CASE(
    "a digest lists at most five error codes, the most frequent first, with Intacct's texts") {
  Digest d;
  for (int i = 0; i < 7; ++i) {
    for (int n = 0; n <= i; ++n) d.add("ARINVOICE", "code" + std::to_string(i), "", "[]");
  }
  d.add(
      "CUSTOMER", "intacct_error", "BL01001973",
      R"([{"kind":"failure","code":"intacct_error","errorno":"BL01001973","description":"old","correction":"old fix"},)"
      R"({"kind":"replayed","actor":"alice"},)"
      R"({"kind":"failure","code":"intacct_error","errorno":"BL01001973","description":"Could not create","correction":"Grant the permission"}])");
  const auto top = d.top();
  REQUIRE(top.size() == 5);
  CHECK(top[0].code == "code6");
  CHECK(top[0].count == 7);
  CHECK(top[4].code == "code2");
  const auto text = digest_text("acme", 40, 120, d);
  CHECK(text.find("[intacct-sync] acme: 40 events were dead-lettered since the last alert (120 "
                  "dead letters in all).\nObjects: ARINVOICE 28, CUSTOMER 1 (the newest 29).") ==
        0);
  CHECK(text.find("  - code6 x7") != std::string::npos);
  CHECK(text.find("code1 ") == std::string::npos);

  Digest one;
  one.add(
      "CUSTOMER", "intacct_error", "BL01001973",
      R"([{"kind":"failure","errorno":"BL01001973","description":"old","correction":"old fix"},)"
      R"({"kind":"failure","errorno":"BL01001973","description":"Could not create","correction":"Grant the permission"}])");
  CHECK(digest_text("acme", 1, 1, one)
            .find("  - BL01001973 (intacct_error) x1: Could not create "
                  "Correction: Grant the permission") != std::string::npos);
}

TEST_CASE("a reconcile report alerts only when it failed, suspected a mass delete or drifted") {
  const auto since = kNow - 86'400'000;
  CHECK_FALSE(reconcile_alert(report("A", "succeeded", 1000, 10, 0, 0, false), 0.01, since));
  CHECK(reconcile_alert(report("B", "succeeded", 1000, 10, 1, 0, false), 0.01, since));
  CHECK_FALSE(reconcile_alert(report("C", "running", 0, 0, 0, 0, false), 0.01, since));
  CHECK_FALSE(reconcile_alert(report("D", "failed", 0, 0, 0, 0, false, true), 0.01, since));
  CHECK_FALSE(reconcile_alert(
      report("E", "failed", 0, 0, 0, 0, false, false, since - 1000, "stopped"), 0.01, since));
  CHECK_FALSE(reconcile_alert("not json", 0.01, since));
  auto failed = reconcile_alert(
      report(
          "F", "failed", 5, 0, 0, 0, false, false, kNow, "credentials rejected",
          R"([{"object":"CUSTOMER","code":"intacct_error","message":"m","errorno":"XL03000006","description":"Sign-in failed","correction":"Check the password"}])"),
      0.01, since);
  REQUIRE(failed);
  CHECK(failed->run_id == "F");
  CHECK(failed->text.find("\nErrors:\n  - CUSTOMER intacct_error XL03000006: Sign-in failed "
                          "Correction: Check the password") != std::string::npos);
}

TEST_CASE("threshold, circuit and budget messages say what happened and the recovery") {
  CHECK(threshold_text("acme", 120, 100, true)
            .starts_with(
                "[intacct-sync] acme: 120 dead letters, at or over the alert threshold of 100."));
  CHECK(threshold_text("acme", 99, 100, false) ==
        "[intacct-sync] acme: recovered: dead letters are back under the threshold of 100 (now "
        "99).");
  CHECK(circuit_text("acme", false, "") ==
        "[intacct-sync] acme: recovered: the Intacct circuit is closed; parked events go back to "
        "the workers.");
  CHECK(budget_text("acme", 80, 80'001, 100'000, "2027-01") ==
        "[intacct-sync] acme: 80% of the monthly Intacct call budget is used: 80,001 of 100,000 "
        "API transactions in 2027-01 (UTC).");
}
