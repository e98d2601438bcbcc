// scheduler/scorers_test.cc — each filter and scorer in isolation, and the weighted ranking.
#include "scheduler/scorers.h"

#include <gtest/gtest.h>

#include <set>

#include "scheduler/request_info.h"

namespace ap::scheduler {
namespace {

std::vector<Candidate> Make(size_t n) {
  std::vector<Candidate> c(n);
  for (size_t i = 0; i < n; ++i) {
    c[i].replica = i;
    c[i].fresh = true;
    c[i].kv_usage = 0.1;
  }
  return c;
}

TEST(Filters, HealthyDropsDownReplicasButNeverAll) {
  auto c = Make(3);
  c[1].down = true;
  auto kept = FilterHealthy(c);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].replica, 0u);
  EXPECT_EQ(kept[1].replica, 2u);
  auto all_down = Make(2);
  all_down[0].down = all_down[1].down = true;
  EXPECT_EQ(FilterHealthy(all_down).size(), 2u);
}

TEST(Filters, UnsaturatedUsesWaitingAndKvCacheOfFreshSamplesOnly) {
  auto c = Make(4);
  c[0].waiting = 5;      // at the bound: saturated
  c[1].kv_usage = 0.95;  // over: saturated
  c[2].waiting = 4;      // under
  c[3].fresh = false;    // stale: unknown, kept
  c[3].waiting = 100;
  auto kept = FilterUnsaturated(c, 5, 0.9);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].replica, 2u);
  EXPECT_EQ(kept[1].replica, 3u);
  auto sat = Make(2);
  sat[0].waiting = sat[1].waiting = 9;
  EXPECT_TRUE(FilterUnsaturated(sat, 5, 0.9).empty());  // the caller queues
}

TEST(Filters, LoraAdapterAvailable) {
  auto c = Make(3);
  auto full_other = std::make_shared<LoraSnapshot>(LoraSnapshot{{"other"}, {}, 1});
  auto has_it = std::make_shared<LoraSnapshot>(LoraSnapshot{{"mine"}, {}, 1});
  c[0].lora = full_other;  // its only slot holds another adapter
  c[1].lora = has_it;
  // c[2] reports nothing: assumed able to load it
  auto kept = FilterLoraAvailable(c, "mine");
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].replica, 1u);
  EXPECT_EQ(kept[1].replica, 2u);
}

TEST(Scorers, QueueAndInFlightAreMinMaxNormalised) {
  auto c = Make(3);
  c[0].waiting = 0, c[1].waiting = 2, c[2].waiting = 4;
  c[0].in_flight = 10, c[1].in_flight = 10, c[2].in_flight = 10;
  ScoreQueue(c);
  ScoreInFlight(c);
  EXPECT_DOUBLE_EQ(c[0].scores[kQueue], 1.0);
  EXPECT_DOUBLE_EQ(c[1].scores[kQueue], 0.5);
  EXPECT_DOUBLE_EQ(c[2].scores[kQueue], 0.0);
  for (auto& x : c) EXPECT_DOUBLE_EQ(x.scores[kInFlight], 1.0);  // all equal: all best
}

TEST(Scorers, KvCacheIsFreeShareAndNeutralWhenUnknown) {
  auto c = Make(2);
  c[0].kv_usage = 0.25;
  c[1].fresh = false;
  ScoreKvCache(c);
  EXPECT_DOUBLE_EQ(c[0].scores[kKvCache], 0.75);
  EXPECT_DOUBLE_EQ(c[1].scores[kKvCache], 0.5);
}

TEST(Scorers, PrefixIsShareOfPromptBlocksHeld) {
  auto c = Make(2);
  c[0].prefix_blocks = 30;
  ScorePrefix(c, 40);
  EXPECT_DOUBLE_EQ(c[0].scores[kPrefix], 0.75);
  EXPECT_DOUBLE_EQ(c[1].scores[kPrefix], 0.0);
}

TEST(Scorers, SessionAffinityIsStableAndMovesOnlyWhenItsReplicaGoes) {
  auto c = Make(5);
  uint64_t h = HashString("session-42") | 1;
  ScoreSession(c, h);
  size_t chosen = 99, ones = 0;
  for (auto& x : c)
    if (x.scores[kSession] == 1.0) chosen = x.replica, ++ones;
  ASSERT_EQ(ones, 1u);
  auto again = Make(5);
  ScoreSession(again, h);
  EXPECT_EQ(again[chosen].scores[kSession], 1.0);
  // Drop a different replica: the session stays put.
  std::vector<Candidate> fewer;
  for (auto& x : Make(5))
    if (x.replica != (chosen + 1) % 5) fewer.push_back(x);
  ScoreSession(fewer, h);
  for (auto& x : fewer) EXPECT_EQ(x.scores[kSession], x.replica == chosen ? 1.0 : 0.0);
  // Different sessions spread.
  std::set<size_t> used;
  for (int s = 0; s < 50; ++s) {
    auto d = Make(5);
    ScoreSession(d, HashString("s" + std::to_string(s)) | 1);
    for (auto& x : d)
      if (x.scores[kSession] == 1.0) used.insert(x.replica);
  }
  EXPECT_GE(used.size(), 4u);
}

TEST(Scorers, LoraPrefersLoadedAdapter) {
  auto c = Make(4);
  c[0].lora = std::make_shared<LoraSnapshot>(LoraSnapshot{{"mine"}, {}, 2});
  c[1].lora = std::make_shared<LoraSnapshot>(LoraSnapshot{{}, {"mine"}, 2});
  c[2].lora = std::make_shared<LoraSnapshot>(LoraSnapshot{{"a"}, {}, 2});
  c[3].lora = std::make_shared<LoraSnapshot>(LoraSnapshot{{"a", "b"}, {}, 2});
  ScoreLora(c, "mine");
  EXPECT_GT(c[0].scores[kLora], c[1].scores[kLora]);
  EXPECT_GT(c[1].scores[kLora], c[2].scores[kLora]);
  EXPECT_GT(c[2].scores[kLora], c[3].scores[kLora]);
}

TEST(Rank, WeightedSumPicksBestAndBreaksTiesRandomly) {
  auto c = Make(3);
  c[0].scores[kPrefix] = 1.0, c[0].scores[kQueue] = 0.0;
  c[1].scores[kPrefix] = 0.0, c[1].scores[kQueue] = 1.0;
  c[2].scores[kPrefix] = 0.5, c[2].scores[kQueue] = 0.5;
  config::SchedulerConfig::Weights w{2, 0, 3, 0, 0, 0};
  EXPECT_EQ(Rank(c, w, 0.0), 0u);
  EXPECT_DOUBLE_EQ(c[0].total, 3.0);
  config::SchedulerConfig::Weights queue_only{1, 0, 0, 0, 0, 0};
  EXPECT_EQ(Rank(c, queue_only, 0.9), 1u);
  auto tie = Make(4);
  std::set<size_t> seen;
  for (double d : {0.0, 0.3, 0.6, 0.99}) seen.insert(Rank(tie, w, d));
  EXPECT_EQ(seen.size(), 4u);
}

TEST(RequestInfo, PromptRegionAndUserWithoutParsing) {
  std::string chat = R"({"model":"m","messages":[{"role":"user","content":"say \"messages\": hi"}],"user":"u1"})";
  EXPECT_EQ(PromptRegion(chat).substr(0, 10), R"([{"role":")");
  EXPECT_EQ(JsonStringField(chat, "user"), "u1");  // "role":"user" is a value, not the key
  std::string completion = R"({"prompt": "abc", "model": "m"})";
  EXPECT_EQ(PromptRegion(completion).substr(0, 5), R"("abc")");
  EXPECT_EQ(PromptRegion("{}"), "{}");
}

}  // namespace
}  // namespace ap::scheduler
