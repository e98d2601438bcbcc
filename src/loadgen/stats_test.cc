// Percentiles (linear interpolation, NumPy's default) and summaries.
#include <gtest/gtest.h>

#include "loadgen/stats.h"

namespace ap::loadgen {
namespace {

TEST(Percentile, LinearInterpolationBetweenRanks) {
  std::vector<double> v{1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(Percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(Percentile(v, 100), 4);
  EXPECT_DOUBLE_EQ(Percentile(v, 50), 2.5);
  EXPECT_DOUBLE_EQ(Percentile(v, 25), 1.75);  // rank 0.75
  EXPECT_NEAR(Percentile(v, 90), 3.7, 1e-12);  // rank 2.7
}

TEST(Percentile, OneToHundred) {
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i);
  EXPECT_NEAR(Percentile(v, 50), 50.5, 1e-12);
  EXPECT_NEAR(Percentile(v, 90), 90.1, 1e-12);
  EXPECT_NEAR(Percentile(v, 99), 99.01, 1e-12);
}

TEST(Percentile, EdgeCases) {
  std::vector<double> empty;
  EXPECT_EQ(Percentile(empty, 50), 0);
  std::vector<double> one{7};
  EXPECT_EQ(Percentile(one, 0), 7);
  EXPECT_EQ(Percentile(one, 99), 7);
  EXPECT_EQ(Percentile(one, 150), 7);  // clamped
}

TEST(Summarize, SortsAndSummarises) {
  std::vector<double> v{5, 1, 4, 2, 3};
  Summary s = Summarize(v);
  EXPECT_EQ(s.count, 5);
  EXPECT_DOUBLE_EQ(s.mean, 3);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 5);
  EXPECT_DOUBLE_EQ(s.p50, 3);
  EXPECT_NEAR(s.p90, 4.6, 1e-12);
  EXPECT_NEAR(s.p99, 4.96, 1e-12);
  std::vector<float> f{2.0f, 1.0f};
  Summary sf = Summarize(f);
  EXPECT_DOUBLE_EQ(sf.p50, 1.5);
  std::vector<double> none;
  EXPECT_EQ(Summarize(none).count, 0);
  EXPECT_EQ(Summarize(none).mean, 0);
}

}  // namespace
}  // namespace ap::loadgen
