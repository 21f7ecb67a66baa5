// The progress lines of `intacct-sync reconcile`, from live reports.
#include "app/reconcile_progress.hpp"

#include <doctest/doctest.h>

#include <string>

using isync::app::detail::Progress;
using isync::app::detail::short_duration;

namespace {

std::string report(int listed, int reads, const char* state = "listing") {
  return R"({"run_id":"R","state":"running","objects":{"CUSTOMER":{"state":")" +
         std::string(state) + R"(","listed":)" + std::to_string(listed) +
         R"(,"totalcount":10000,"reads_done":)" + std::to_string(reads) +
         R"(},"ARINVOICE":{"state":"pending","listed":0,"reads_done":0}}})";
}

}  // namespace

TEST_CASE("progress shows listed / the first page's totalcount, reads, then rate and ETA") {
  Progress p;
  auto first = p.lines("acme", report(2000, 0), 1'000'000);
  REQUIRE(first.size() == 2);
  CHECK(first[0] == "acme CUSTOMER  listing    2000/10000 listed  reads 0");
  CHECK(first[1] == "acme ARINVOICE pending    0 listed  reads 0");
  // 2000 more in 4 s: 500/s, 6000 left: 12 s.
  auto later = p.lines("acme", report(4000, 30), 1'004'000);
  CHECK(later[0] == "acme CUSTOMER  listing    4000/10000 listed  reads 30  500/s  ETA 12s");
  auto done = p.lines("acme", report(10000, 30, "done"), 1'020'000);
  CHECK(done[0] == "acme CUSTOMER  done       10000/10000 listed  reads 30");
}

TEST_CASE("progress says it waits when the report cannot be read yet") {
  Progress p;
  CHECK(p.lines("acme", "", 0) == std::vector<std::string>{"acme: waiting for the run's report"});
}

TEST_CASE("durations are short") {
  CHECK(short_duration(7) == "7s");
  CHECK(short_duration(185) == "3m05s");
  CHECK(short_duration(3720) == "1h02m");
}
