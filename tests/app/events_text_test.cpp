// The text forms of `intacct-sync events …` and `records show`.
#include "app/events_text.hpp"

#include <doctest/doctest.h>

using namespace isync;
using namespace isync::app::detail;

TEST_CASE("show puts each attempt's errorno, description and correction in plain sight") {
  oncall::EventDetail d;
  d.summary.id = "01JD3W";
  d.summary.tenant = "acme";
  d.summary.state = "dead";
  d.summary.object = "CUSTOMER";
  d.summary.key = "42";
  d.summary.code = "intacct_error";
  d.summary.errorno = "BL01001973";
  d.summary.updated_at_ms = 1796119200000;
  d.attempts =
      R"([{"kind":"failure","at":1796119200000,"attempt":1,"class":"permanent","code":"intacct_error","message":"refused","errorno":"BL01001973","description":"Could not read records!","correction":"Ask a company administrator","controlid":"c1"},)"
      R"({"kind":"replayed","at":1796119300000,"actor":"alice","reason":"granted"}])";
  d.envelope =
      R"({"v":1,"event_id":"01JD3W","source":"intacct","tenant":"acme","object":"CUSTOMER","action":"set","key":"42","version":1,"whenmodified":"12/01/2026 10:00:00","snapshot":{},"received_at":1796119200000,"content_type":"application/x-www-form-urlencoded","raw":"object=CUSTOMER&recordno=42"})";
  d.ledger = {{"state", "failed"}, {"sends", "0"}};
  const std::string t = detail_text(d);
  CHECK(t.find("event 01JD3W (tenant acme)\n") == 0);
  CHECK(t.find("state:         dead\n") != std::string::npos);
  CHECK(t.find("last error:    intacct_error (Intacct BL01001973)\n") != std::string::npos);
  CHECK(t.find("  1. 2026-12-01 10:00:00Z  failure  intacct_error (permanent)  attempt 1\n") !=
        std::string::npos);
  CHECK(t.find("       errorno:     BL01001973\n") != std::string::npos);
  CHECK(t.find("       description: Could not read records!\n") != std::string::npos);
  CHECK(t.find("       correction:  Ask a company administrator\n") != std::string::npos);
  CHECK(t.find("  2. 2026-12-01 10:01:40Z  replayed by alice: granted\n") != std::string::npos);
  CHECK(t.find("raw payload (redacted at ingest):\nobject=CUSTOMER&recordno=42\n") !=
        std::string::npos);
  CHECK(t.find("payment ledger:\n  state:          failed\n") != std::string::npos);
}

TEST_CASE("list, answers and jobs read as sentences") {
  queue::EventPage page;
  CHECK(page_text(page) == "no events match\n");
  page.events.push_back({});
  page.events[0].id = "01A";
  page.events[0].state = "dead";
  page.next_cursor = "c1";
  auto t = page_text(page);
  CHECK(t.find("01A") != std::string::npos);
  CHECK(t.find("more: --cursor c1\n") != std::string::npos);

  oncall::ActionAnswer a;
  a.matched = 3;
  a.acted = 2;
  a.skipped = {{"01C", "done", "invalid_state"}};
  CHECK(answer_text(a, oncall::Action::replay) ==
        "replayed 2 of 3 matched\n  skipped 01C (done): invalid_state\n");
  a = {};
  a.job_id = "01J";
  a.matched = 10;
  CHECK(answer_text(a, oncall::Action::discard) ==
        "job 01J created: discard of 10 matched event(s)\n");

  oncall::Job j;
  j.id = "01J";
  j.tenant = "acme";
  j.state = "running";
  j.matched = 10;
  j.processed = 4;
  j.acted = 3;
  j.skipped = 1;
  CHECK(job_progress(j) == "job 01J replay acme: 4/10 processed, 3 replayed, 1 skipped (running)");
  CHECK(when(0) == "-");
}

TEST_CASE("records show lists the fields and the audit") {
  auto t = record_text(
      R"({"object":"CUSTOMER","recordno":"7","version":3,"deleted":false,"fields":{"NAME":"Acme"},"audit":[{"at":1796119200000,"source":"event","result":"applied"}]})");
  CHECK(t.find("CUSTOMER 7  version 3\n") == 0);
  CHECK(t.find("  NAME:             Acme\n") != std::string::npos);
  CHECK(t.find("audit (newest first):\n  2026-12-01 10:00:00Z  source=event  result=applied\n") !=
        std::string::npos);
  CHECK(record_text("not json") == "not json\n");
}
