// telemetry/model_test.cc — time parsing/formatting and enum names of the data model.
#include "telemetry/model.h"
#include "telemetry/internal/minute_rollup.h"

#include <cmath>

#include <gtest/gtest.h>

namespace ap::telemetry {
namespace {

TEST(Model, ParsesIsoTimes) {
  EXPECT_EQ(ParseIsoTime("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseIsoTime("2024-05-01T12:00:00.123Z"), 1'714'564'800'123'000);
  EXPECT_EQ(ParseIsoTime("2024-05-01T12:00:00.123456789Z"), 1'714'564'800'123'456);
  EXPECT_EQ(ParseIsoTime("2024-05-01T14:00:00+02:00"), 1'714'564'800'000'000);
  EXPECT_EQ(ParseIsoTime("2024-05-01"), 1'714'521'600'000'000);
  EXPECT_FALSE(ParseIsoTime("yesterday"));
  EXPECT_FALSE(ParseIsoTime("2024-13-01T00:00:00Z"));
  EXPECT_FALSE(ParseIsoTime("2024-05-01T12:00:00Zjunk"));
}

TEST(Model, FormatsIsoTimesAndDays) {
  EXPECT_EQ(FormatIsoTime(1'714'564'800'123'456), "2024-05-01T12:00:00.123Z");
  EXPECT_EQ(FormatIsoTime(1'714'564'800'123'456, false), "2024-05-01T12:00:00.123456Z");
  EXPECT_EQ(*ParseIsoTime(FormatIsoTime(-1'500'000)), -1'500'000 / 1000 * 1000);
  EXPECT_EQ(FormatDay(DayOf(1'714'564'800'000'000)), "2024-05-01");
  EXPECT_EQ(DayOf(-1), -1);
}

TEST(Model, NamesRoundTrip) {
  for (auto t : {ObservationType::kSpan, ObservationType::kGeneration, ObservationType::kEvent})
    EXPECT_EQ(ParseType(TypeName(t)), t);
  for (auto l : {Level::kDebug, Level::kDefault, Level::kWarning, Level::kError}) EXPECT_EQ(ParseLevel(LevelName(l)), l);
  EXPECT_FALSE(ParseType("span"));
}

}  // namespace
}  // namespace ap::telemetry

namespace ap::telemetry::internal {
namespace {

// The writer buckets latencies by table lookup; it must agree with the logarithm it replaced
// (the bucket a stored rollup row was counted in), around every boundary and far beyond.
TEST(MinuteRollup, LatencyBucketTableMatchesTheLogarithm) {
  for (int64_t us = -5; us <= 2'000'000; ++us) ASSERT_EQ(LatencyBucket(us), LatencyBucketByLog(us)) << us;
  for (double x = 2e6; x < 9e18; x *= 1.01)
    for (int64_t d = -3; d <= 3; ++d) {
      const int64_t us = static_cast<int64_t>(x) + d;
      ASSERT_EQ(LatencyBucket(us), LatencyBucketByLog(us)) << us;
    }
  for (int b = 1; b < kLatencyBuckets; ++b)
    for (int64_t d = -3; d <= 3; ++d) {
      const int64_t us = static_cast<int64_t>(1000 * std::pow(1.25, b)) + d;
      ASSERT_EQ(LatencyBucket(us), LatencyBucketByLog(us)) << us;
    }
  EXPECT_EQ(LatencyBucket(1000), 0);
  EXPECT_EQ(LatencyBucket(1001), 1);
  EXPECT_EQ(LatencyBucket(int64_t{1} << 62), kLatencyBuckets - 1);
}

}  // namespace
}  // namespace ap::telemetry::internal
