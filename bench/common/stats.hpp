// Shared by the benchmarks: percentiles and the median/min/max of repeated runs.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace isync::bench {

// Nearest-rank percentile (p in [0, 1]) of `v`; 0 when empty.
inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

struct Spread {
  double median = 0, min = 0, max = 0;
  std::size_t runs = 0;
};

// Median (the mean of the two middle ones when even), min and max.
inline Spread spread(std::vector<double> v) {
  Spread s;
  s.runs = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.min = v.front();
  s.max = v.back();
  auto n = v.size();
  s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return s;
}

}  // namespace isync::bench
