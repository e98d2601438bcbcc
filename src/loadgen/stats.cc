// loadgen/stats.cc — percentiles (linear interpolation) and summaries. Pure functions only.
#include "loadgen/stats.h"

#include <algorithm>
#include <cmath>

namespace ap::loadgen {
namespace {

template <typename T>
double PercentileOf(const std::vector<T>& sorted, double p) {
  if (sorted.empty()) return 0;
  p = std::clamp(p, 0.0, 100.0);
  const double rank = p / 100.0 * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = rank - static_cast<double>(lo);
  const double a = static_cast<double>(sorted[lo]);
  const double b = static_cast<double>(sorted[hi]);
  return a + frac * (b - a);
}

template <typename T>
Summary SummarizeOf(std::vector<T>& values) {
  Summary s;
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  double sum = 0;
  for (T v : values) sum += static_cast<double>(v);
  s.count = static_cast<int64_t>(values.size());
  s.mean = sum / static_cast<double>(values.size());
  s.min = static_cast<double>(values.front());
  s.max = static_cast<double>(values.back());
  s.p50 = PercentileOf(values, 50);
  s.p90 = PercentileOf(values, 90);
  s.p99 = PercentileOf(values, 99);
  return s;
}

}  // namespace

double Percentile(const std::vector<double>& sorted, double p) { return PercentileOf(sorted, p); }
double Percentile(const std::vector<float>& sorted, double p) { return PercentileOf(sorted, p); }
Summary Summarize(std::vector<double>& values) { return SummarizeOf(values); }
Summary Summarize(std::vector<float>& values) { return SummarizeOf(values); }

}  // namespace ap::loadgen
