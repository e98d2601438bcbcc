// loadgen/stats.h — the summary statistics of a load-generator run: mean, min, max and
// percentiles of a sample.
//
// Percentiles use linear interpolation between closest ranks (NumPy's default `linear` method,
// the one vLLM's benchmark_serving reports): for p in [0,100] over n sorted values the rank is
// r = p/100·(n−1) and the result is v[floor r] + (r − floor r)·(v[ceil r] − v[floor r]). So the
// p50 of {1,2,3,4} is 2.5 and p0/p100 are the min/max. It must stay pure arithmetic: no I/O, no
// clocks, no global state, and an empty sample yields a zero Summary with count 0, never NaN.
#pragma once

#include <cstdint>
#include <vector>

namespace ap::loadgen {

struct Summary {
  int64_t count = 0;
  double mean = 0;
  double min = 0;
  double max = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
};

// The p-th percentile (0..100) of `sorted` (ascending), linear interpolation; 0 when empty.
double Percentile(const std::vector<double>& sorted, double p);
double Percentile(const std::vector<float>& sorted, double p);

// Sorts `values` in place and summarises it.
Summary Summarize(std::vector<double>& values);
Summary Summarize(std::vector<float>& values);

}  // namespace ap::loadgen
