// telemetry/store_conformance_usage.cc — the conformance suite's usage part: aggregates grouped by
// model, user, team, key and day; time series of requests, errors and latency quantiles; retention
// by whole days. The rest of the suite is in store_conformance.cc.
#include <set>

#include "telemetry/store_conformance.h"

namespace ap::telemetry {

TEST_P(StoreConformanceTest, AggregatesGroupByModelUserTeamKeyAndDay) {
  std::vector<Item> items;
  for (int i = 0; i < 30; ++i) {
    std::string tid = "t" + std::to_string(i);
    items.push_back(It(MakeTrace(tid, kT0 + (i % 3) * kDay, "u" + std::to_string(i % 2))));
    Observation g = MakeGen("g" + std::to_string(i), tid, kT0 + (i % 3) * kDay, i % 2 ? "a" : "b", 10, 1, 0.25);
    g.team = i < 10 ? "red" : "blue";
    g.key = "k" + std::to_string(i % 5);
    items.push_back(It(g));
  }
  Observation span;  // spans never count as usage
  span.id = "sp";
  span.trace_id = "t0";
  span.project = "p1";
  span.start_us = kT0;
  span.input_tokens = 1000;
  items.push_back(It(span));
  MustWrite(*store_, items);
  UsageRow all = Total(*store_);
  EXPECT_EQ(all.generations, 30);
  EXPECT_EQ(all.input_tokens, 300);
  EXPECT_NEAR(all.cost, 7.5, 1e-9);
  UsageQuery q;
  q.group_by = {"team"};
  auto teams = store_->AggregateUsage(q);
  ASSERT_TRUE(teams);
  ASSERT_EQ(teams->size(), 2u);
  EXPECT_EQ((*teams)[0].group[0], "blue");
  EXPECT_EQ((*teams)[0].generations, 20);
  q.group_by = {"day"};
  auto days = store_->AggregateUsage(q);
  ASSERT_EQ(days->size(), 3u);
  std::set<std::string> names;
  for (auto& r : *days) names.insert(r.group[0]);
  EXPECT_TRUE(names.count("2024-05-01") && names.count("2024-05-03"));
  q.group_by = {"key"};
  q.user_id = "u1";
  auto keys = store_->AggregateUsage(q);
  int64_t n = 0;
  for (auto& r : *keys) n += r.generations;
  EXPECT_EQ(n, 15);
  UsageQuery ranged;
  ranged.from_us = DayOf(kT0 + kDay) * kDay;  // whole days: the range covers 2024-05-02 only
  ranged.to_us = ranged.from_us + kDay;
  EXPECT_EQ(Total(*store_, ranged).generations, 10);
  UsageQuery bad;
  bad.group_by = {"color"};
  EXPECT_FALSE(store_->AggregateUsage(bad));
}

TEST_P(StoreConformanceTest, TimeSeriesBucketsRequestsErrorsAndLatencyQuantiles) {
  constexpr int64_t kMin = 60'000'000;
  const int64_t t0 = kT0 - kT0 % (10 * kMin);
  std::vector<Item> items;
  // Minute 0: 100 generations of 10..1000 ms (TTFT a tenth); minute 3: 10, two of them errors.
  for (int i = 0; i < 110; ++i) {
    std::string tid = "t" + std::to_string(i);
    int64_t start = i < 100 ? t0 + i * 1000 : t0 + 3 * kMin + i * 1000;
    items.push_back(It(MakeTrace(tid, start)));
    Observation g = MakeGen("g" + std::to_string(i), tid, start, i % 2 ? "a" : "b", 10, 2, 0.5);
    int64_t ms = i < 100 ? 10 * (i + 1) : 50;
    g.end_us = start + ms * 1000;
    g.completion_start_us = start + ms * 100;
    if (i >= 108) g.status_code = 500;
    items.push_back(It(g));
  }
  MustWrite(*store_, items);
  TimeSeriesQuery q;
  q.from_us = t0;
  q.to_us = t0 + 5 * kMin;
  auto r = store_->TimeSeries(q);
  ASSERT_TRUE(r) << r.error();
  ASSERT_EQ(r->size(), 5u);  // empty minutes included
  const auto& m0 = (*r)[0];
  EXPECT_EQ(m0.start_us, t0);
  EXPECT_EQ(m0.requests, 100);
  EXPECT_EQ(m0.errors, 0);
  EXPECT_EQ(m0.input_tokens, 1000);
  EXPECT_NEAR(m0.cost, 50, 1e-9);
  EXPECT_NEAR(m0.latency_p50, 0.5, 0.5 * 0.15);  // log buckets: within 15%
  EXPECT_NEAR(m0.latency_p99, 0.99, 0.99 * 0.15);
  EXPECT_NEAR(m0.ttft_p90, 0.09, 0.09 * 0.15);
  EXPECT_EQ((*r)[1].requests, 0);
  EXPECT_EQ((*r)[1].latency_p50, -1);
  EXPECT_EQ((*r)[3].requests, 10);
  EXPECT_EQ((*r)[3].errors, 2);
  // Wider buckets sum the minutes; the model filter and an update's delta apply.
  q.step_us = 5 * kMin;
  q.model = "a";
  auto wide = store_->TimeSeries(q);
  ASSERT_TRUE(wide);
  ASSERT_EQ(wide->size(), 1u);
  EXPECT_EQ((*wide)[0].requests, 55);
  Observation upd;
  upd.id = "g0";
  upd.trace_id = "t0";
  upd.project = "p1";
  upd.type = ObservationType::kGeneration;
  upd.level = Level::kError;
  MustWrite(*store_, {It(upd)});
  q.model.reset();
  auto after = store_->TimeSeries(q);
  ASSERT_TRUE(after);
  EXPECT_EQ((*after)[0].requests, 110);
  EXPECT_EQ((*after)[0].errors, 3);
  TimeSeriesQuery other = q;
  other.project = "nobody";
  EXPECT_EQ((*store_->TimeSeries(other))[0].requests, 0);
}

TEST_P(StoreConformanceTest, RetentionDeletesWholeOldDays) {
  MustWrite(*store_, {It(MakeTrace("old", kT0 - 3 * kDay)), It(MakeGen("g-old", "old", kT0 - 3 * kDay, "m", 1, 1, 1)),
                      It(MakeTrace("new", kT0)), It(MakeGen("g-new", "new", kT0, "m", 1, 1, 1))});
  auto deleted = store_->DeleteOlderThan(kT0 - kDay);
  ASSERT_TRUE(deleted) << deleted.error();
  EXPECT_EQ(*deleted, 1);
  EXPECT_FALSE(*store_->GetTrace("p1", "old"));
  EXPECT_TRUE(*store_->GetTrace("p1", "new"));
  EXPECT_EQ(Total(*store_).generations, 1);
  ObservationQuery q;
  q.project = "p1";
  EXPECT_EQ(store_->ListObservations(q)->items.size(), 1u);
}

}  // namespace ap::telemetry
