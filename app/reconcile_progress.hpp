// Internal to app/: the progress lines of `intacct-sync reconcile`, made from
// the live reports (pure: no I/O, testable).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace isync::app::detail {

// Remembers, per tenant and object, when it was first seen and how much was
// listed then, to give a rate and an ETA.
class Progress {
 public:
  // One line per object of the run, e.g.
  //   "acme CUSTOMER   listing  12000/40000 listed  reads 35  2400/s  ETA 12s"
  // from the report JSON at `now_ms`; one line naming the tenant when the
  // text is not a report.
  std::vector<std::string> lines(const std::string& tenant, const std::string& report_json,
                                 std::int64_t now_ms);

 private:
  struct Seen {
    std::int64_t at_ms = 0;
    std::int64_t listed = 0;
  };
  std::map<std::pair<std::string, std::string>, Seen> seen_;
};

// "7s", "3m05s", "1h02m".
std::string short_duration(std::int64_t seconds);

}  // namespace isync::app::detail
