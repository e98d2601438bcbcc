// limits/slices_test.cc — what a replica holds of shared counters: taking, fetching ahead,
// remembered refusals, giving back, and the exact mode (slices.h).
#include "limits/slices.h"

#include <gtest/gtest.h>

namespace ap::limits {
namespace {

using Outcome = SliceTable::Take::Outcome;

struct SlicesTest : ::testing::Test {
  int64_t now = 1'000'000;
  SliceTable table{1.0 / 256, [this] { return now; }};
};

TEST_F(SlicesTest, AnEmptySliceAsksForWhatIsMissingAndASliceMore) {
  Check rpm{CounterKind::kRequests, "ap:key:k:r", 25600, 1, 0};  // slice: 100
  auto t = table.TakeFrom({rpm});
  ASSERT_EQ(t.outcome, Outcome::kShort);
  ASSERT_EQ(t.grants.size(), 1u);
  EXPECT_EQ(t.grants[0].key, "ap:key:k:r");
  EXPECT_DOUBLE_EQ(t.grants[0].need, 1);
  EXPECT_DOUBLE_EQ(t.grants[0].want, 100);
  table.Answer(t.grants[0], 100, 25500);
  for (int i = 0; i < 50; ++i) {  // 100 held: taken here, no Redis, down to half a slice
    auto taken = table.TakeFrom({rpm});
    ASSERT_EQ(taken.outcome, Outcome::kTaken) << i;
    EXPECT_TRUE(taken.grants.empty()) << i;
  }
  auto low = table.TakeFrom({rpm});  // 50 left → 49: fetch a slice ahead, once
  ASSERT_EQ(low.outcome, Outcome::kTaken);
  ASSERT_EQ(low.grants.size(), 1u);
  EXPECT_DOUBLE_EQ(low.grants[0].need, 0);
  EXPECT_DOUBLE_EQ(low.grants[0].want, 100);
  EXPECT_DOUBLE_EQ(low.levels[0], 25500 + 49);  // Redis's level plus what is held here
  EXPECT_TRUE(table.TakeFrom({rpm}).grants.empty());  // already on its way
  table.Answer(low.grants[0], 100, 25400);
  EXPECT_DOUBLE_EQ(table.Held("ap:key:k:r"), 148);
}

TEST_F(SlicesTest, AllOrNothingAcrossCounters) {
  Check key{CounterKind::kRequests, "k:r", 25600, 1, 0};
  Check team{CounterKind::kTokens, "t:t", 25600, 300, 0};
  auto t = table.TakeFrom({key, team});
  ASSERT_EQ(t.outcome, Outcome::kShort);
  ASSERT_EQ(t.grants.size(), 2u);
  EXPECT_DOUBLE_EQ(t.grants[1].need, 300);
  EXPECT_DOUBLE_EQ(t.grants[1].want, 300);  // more than a slice (100): what the request needs
  table.Answer(t.grants[0], 100, 0);
  EXPECT_EQ(table.TakeFrom({key, team}).outcome, Outcome::kShort);
  EXPECT_DOUBLE_EQ(table.Held("k:r"), 100);  // nothing taken from the key
  table.Answer(t.grants[1], 300, 0);
  EXPECT_EQ(table.TakeFrom({key, team}).outcome, Outcome::kTaken);
  EXPECT_DOUBLE_EQ(table.Held("k:r"), 99);
  EXPECT_DOUBLE_EQ(table.Held("t:t"), 0);
}

TEST_F(SlicesTest, ARefusalFromRedisIsRememberedUntilTheBucketCouldHaveRefilled) {
  Check rpm{CounterKind::kRequests, "k:r", 600, 1, 0};  // refills 10/s: one request per 100 ms
  auto t = table.TakeFrom({rpm});
  table.Answer(t.grants[0], -1, 0.5);  // half a request left: 50 ms to refill
  auto refused = table.TakeFrom({rpm});
  EXPECT_EQ(refused.outcome, Outcome::kRefused);
  EXPECT_EQ(refused.refused, 0);
  EXPECT_DOUBLE_EQ(refused.levels[0], 0.5);
  now += 49;
  EXPECT_EQ(table.TakeFrom({rpm}).outcome, Outcome::kRefused);
  now += 1;
  EXPECT_EQ(table.TakeFrom({rpm}).outcome, Outcome::kShort);  // asks Redis again

  Check par{CounterKind::kParallel, "k:p", 4, 1, 0};
  auto p = table.TakeFrom({par});
  table.Answer(p.grants[0], -1, 0);
  EXPECT_EQ(table.TakeFrom({par}).outcome, Outcome::kRefused);
  now += 10;  // slots come back from other replicas at any time: 10 ms
  EXPECT_EQ(table.TakeFrom({par}).outcome, Outcome::kShort);
}

TEST_F(SlicesTest, SettlementsGiveBackToTheSlices) {
  Check tpm{CounterKind::kTokens, "k:t", 25600, 300, 0};
  Check par{CounterKind::kParallel, "k:p", 1000, 1, 0};  // slice: 3 slots
  Check spend{CounterKind::kSpend, "k:s@0", 256, 0.5, 3600};  // slice: $1
  auto t = table.TakeFrom({tpm, par, spend});
  ASSERT_EQ(t.grants.size(), 3u);
  for (const auto& g : t.grants) table.Answer(g, g.want, 0);
  ASSERT_EQ(table.TakeFrom({tpm, par, spend}).outcome, Outcome::kTaken);
  EXPECT_DOUBLE_EQ(table.Held("k:t"), 0);
  EXPECT_DOUBLE_EQ(table.Held("k:p"), 2);
  EXPECT_DOUBLE_EQ(table.Held("k:s@0"), 0.5);
  table.Release({CounterKind::kTokens, "k:t", 25600, 40 - 300, -1, ""});      // used 40 of 300
  table.Release({CounterKind::kParallel, "k:p", 1000, 0, -1, ""});
  table.Release({CounterKind::kSpend, "k:s@0", 256, 0.2 - 0.5, -1, "", 0.2, 3600});  // cost $0.20
  EXPECT_DOUBLE_EQ(table.Held("k:t"), 260);
  EXPECT_DOUBLE_EQ(table.Held("k:p"), 3);
  EXPECT_DOUBLE_EQ(table.Held("k:s@0"), 0.8);
  table.Release({CounterKind::kTokens, "k:t", 25600, 500, -1, ""});  // a request that overran
  EXPECT_DOUBLE_EQ(table.Held("k:t"), -240);
}

TEST_F(SlicesTest, KeepsTwoSlicesAndGivesEverythingBackOnceUnused) {
  Check tpm{CounterKind::kTokens, "k:t", 25600, 300, 0};  // slice: 100
  auto t = table.TakeFrom({tpm});
  table.Answer(t.grants[0], 300, 0);
  ASSERT_EQ(table.TakeFrom({tpm}).outcome, Outcome::kTaken);
  table.Release({CounterKind::kTokens, "k:t", 25600, 20 - 300, -1, ""});  // 280 refunded
  auto gives = table.TakeGiveBacks(false);
  ASSERT_EQ(gives.size(), 1u);
  EXPECT_DOUBLE_EQ(gives[0].amount, 80);  // beyond two slices
  EXPECT_DOUBLE_EQ(table.Held("k:t"), 200);
  EXPECT_TRUE(table.TakeGiveBacks(false).empty());
  now += 1000;  // a second unused: all of it
  gives = table.TakeGiveBacks(false);
  ASSERT_EQ(gives.size(), 1u);
  EXPECT_DOUBLE_EQ(gives[0].amount, 200);
  table.Restore(gives[0]);  // did not reach Redis: held again
  EXPECT_DOUBLE_EQ(table.Held("k:t"), 200);
  EXPECT_DOUBLE_EQ(table.TakeGiveBacks(true)[0].amount, 200);
  EXPECT_DOUBLE_EQ(table.Held("k:t"), 0);
}

TEST_F(SlicesTest, DebtsArePaidOnceTheSliceRests) {
  Check tpm{CounterKind::kTokens, "k:t", 25600, 300, 0};
  auto t = table.TakeFrom({tpm});
  table.Answer(t.grants[0], 300, 0);
  ASSERT_EQ(table.TakeFrom({tpm}).outcome, Outcome::kTaken);
  table.Release({CounterKind::kTokens, "k:t", 25600, 450 - 300, -1, ""});
  EXPECT_TRUE(table.TakeGiveBacks(false).empty());
  now += 1000;
  auto gives = table.TakeGiveBacks(false);
  ASSERT_EQ(gives.size(), 1u);
  EXPECT_DOUBLE_EQ(gives[0].amount, -150);
}

TEST_F(SlicesTest, ReclaimedSharesAreForgottenButBucketsAreKept) {
  Check tpm{CounterKind::kTokens, "k:t", 25600, 1, 0};
  Check par{CounterKind::kParallel, "k:p", 1000, 1, 0};
  auto t = table.TakeFrom({tpm, par});
  for (const auto& g : t.grants) table.Answer(g, g.want, 0);
  table.DropShares();
  EXPECT_DOUBLE_EQ(table.Held("k:t"), 100);
  EXPECT_DOUBLE_EQ(table.Held("k:p"), 0);
}

TEST(Slices, ExactModeAsksRedisForEveryAdmissionAndNeverAhead) {
  int64_t now = 0;
  SliceTable exact(0, [&] { return now; });
  Check rpm{CounterKind::kRequests, "k:r", 1'000'000, 1, 0};
  auto t = exact.TakeFrom({rpm});
  ASSERT_EQ(t.outcome, Outcome::kShort);
  EXPECT_DOUBLE_EQ(t.grants[0].want, 1);
  exact.Answer(t.grants[0], 1, 999'999);
  auto taken = exact.TakeFrom({rpm});
  EXPECT_EQ(taken.outcome, Outcome::kTaken);
  EXPECT_TRUE(taken.grants.empty());
  EXPECT_EQ(exact.TakeFrom({rpm}).outcome, Outcome::kShort);
}

TEST(Slices, AnUnpricedRequestNeedsSomethingLeftOfTheBudget) {
  int64_t now = 0;
  SliceTable exact(0, [&] { return now; });
  Check spend{CounterKind::kSpend, "k:s@0", 1.0, 0, 3600};
  auto t = exact.TakeFrom({spend});
  ASSERT_EQ(t.outcome, Outcome::kShort);
  EXPECT_GT(t.grants[0].need, 0);
  exact.Answer(t.grants[0], t.grants[0].need, 0.5);
  EXPECT_EQ(exact.TakeFrom({spend}).outcome, Outcome::kTaken);
}

}  // namespace
}  // namespace ap::limits
