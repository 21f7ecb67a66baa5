#include "reconcile/detail/run_util.hpp"

#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace isync::reconcile::detail {

// Intacct's query dates: MM/DD/YYYY HH:MM:SS (UTC here; the caller keeps a
// day of margin for the zone Intacct really uses).
std::string intacct_time(std::int64_t epoch_s) {
  const std::time_t t = static_cast<std::time_t>(epoch_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%02d/%02d/%04d %02d:%02d:%02d", tm.tm_mon + 1, tm.tm_mday,
                tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

bool same_amount(const std::string& a, const std::string& b) {
  if (a == b) return true;
  if (a.empty() || b.empty()) return false;
  char* end_a = nullptr;
  char* end_b = nullptr;
  const double x = std::strtod(a.c_str(), &end_a);
  const double y = std::strtod(b.c_str(), &end_b);
  if (*end_a != '\0' || *end_b != '\0') return false;
  return x == y;
}

bool nonzero_amount(const std::string& a) {
  if (a.empty()) return false;
  char* end = nullptr;
  const double x = std::strtod(a.c_str(), &end);
  return *end != '\0' || x != 0;
}

std::optional<std::int64_t> to_int(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

const intacct::Data* first_data(const intacct::CallOutcome& outcome) {
  if (!outcome.response || outcome.response->results.empty()) return nullptr;
  const auto& r = outcome.response->results.front();
  return r.data ? &*r.data : nullptr;
}

}  // namespace isync::reconcile::detail
