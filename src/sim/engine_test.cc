// sim/engine_test.cc — the engine on a fake clock: batching, prefix caching, queueing, timing.
#include "sim/engine.h"

#include <gtest/gtest.h>

#include <map>

#include "sim/tokenizer.h"

namespace ap::sim {
namespace {

EngineConfig Config(int64_t blocks = 0) {
  std::string error;
  auto c = MakeEngineConfig(*FindGpu("H100"), ModelForName("meta-llama/Llama-3.1-8B-Instruct"), 0,
                            0.9, &error);
  EXPECT_TRUE(c) << error;
  if (blocks > 0) c->num_gpu_blocks = blocks;
  return *c;
}

EngineRequest Req(uint32_t base, int prompt_tokens, int output_tokens) {
  EngineRequest r;
  for (int i = 0; i < prompt_tokens; ++i) r.prompt.push_back(base + static_cast<uint32_t>(i));
  for (int i = 0; i < output_tokens; ++i) r.output.push_back(7 + static_cast<uint32_t>(i));
  return r;
}

// Runs steps until every request finished; returns the finish time. Records first-token times.
struct Driver {
  explicit Driver(Engine& e, double start = 0) : engine(e), now(start) {}
  Engine& engine;
  double now;
  std::map<uint64_t, double> first_token, done;
  void Run(int max_steps = 100000) {
    std::vector<TokenEvent> ev;
    for (int i = 0; i < max_steps; ++i) {
      auto d = engine.BeginStep(now);
      if (!d) return;
      now += *d;
      ev.clear();
      engine.EndStep(now, &ev);
      for (auto& e : ev) {
        first_token.emplace(e.id, now);
        if (e.finished) done[e.id] = now;
      }
    }
  }
};

TEST(Profiles, KvBlocksFollowMemory) {
  auto h100 = Config();
  EXPECT_EQ(h100.kv_bytes_per_token, 131072);  // 2 * 32 layers * 8 heads * 128 dims * 2 bytes
  EXPECT_GT(h100.num_gpu_blocks, 20000);
  EXPECT_LT(h100.num_gpu_blocks, 40000);
  std::string error;
  auto h200 = MakeEngineConfig(*FindGpu("H200"), ModelForName("llama-3.1-8b"), 0, 0.9, &error);
  EXPECT_GT(h200->num_gpu_blocks, h100.num_gpu_blocks);
  auto big = MakeEngineConfig(*FindGpu("H100"), ModelForName("Llama-3.1-70B-Instruct"), 0, 0.9,
                              &error);
  ASSERT_TRUE(big) << error;
  EXPECT_EQ(big->tensor_parallel, 4);
  EXPECT_FALSE(MakeEngineConfig(*FindGpu("L4"), ModelForName("70b"), 1, 0.9, &error));
  for (const auto& g : GpuProfiles()) {
    EXPECT_TRUE(MakeEngineConfig(g, ModelProfiles()[0], 0, 0.9, &error)) << g.name << error;
    EXPECT_TRUE(MakeEngineConfig(g, ModelProfiles()[1], 0, 0.9, &error)) << g.name << error;
  }
}

TEST(Engine, GeneratesPlannedTokens) {
  Engine e(Config());
  auto id = e.Add(Req(1000, 100, 5), 0);
  Driver d(e);
  d.Run();
  EXPECT_TRUE(d.done.count(id));
  EXPECT_EQ(e.stats().generation_tokens, 5u);
  EXPECT_EQ(e.stats().prompt_tokens, 100u);
  EXPECT_EQ(e.stats().ttft.count(), 1u);
  EXPECT_EQ(e.stats().itl.count(), 4u);
  EXPECT_EQ(e.num_running(), 0u);
  EXPECT_EQ(e.kv_cache().num_free(), e.kv_cache().num_blocks());
}

TEST(Engine, RepeatedPrefixHitsCache) {
  Engine e(Config());
  e.Add(Req(1000, 640, 2), 0);
  Driver d(e);
  d.Run();
  EXPECT_EQ(e.stats().prefix_hits, 0u);
  e.Add(Req(1000, 640, 2), d.now);
  d.Run();
  // Everything but the last block is served from the cache.
  EXPECT_EQ(e.stats().prefix_hits, 624u);
  EXPECT_EQ(e.stats().prefix_queries, 1280u);
}

TEST(Engine, PrefixMissAfterEviction) {
  Engine e(Config(/*blocks=*/64));
  e.Add(Req(1000, 320, 1), 0);
  Driver d(e);
  d.Run();
  e.Add(Req(50000, 1020, 1), d.now);  // all 64 blocks: evicts the first prompt's blocks
  d.Run();
  uint64_t hits = e.stats().prefix_hits;
  e.Add(Req(1000, 320, 1), d.now);
  d.Run();
  EXPECT_EQ(e.stats().prefix_hits, hits);
  EXPECT_GT(e.kv_cache().evictions(), 0);
}

TEST(Engine, QueuesWhenKvCacheFull) {
  Engine e(Config(/*blocks=*/40));
  auto a = e.Add(Req(1000, 400, 100), 0);  // 25 blocks now, 32 by the end
  auto b = e.Add(Req(9000, 400, 10), 0);   // 25 more do not fit: b waits
  ASSERT_TRUE(e.BeginStep(0));
  EXPECT_EQ(e.num_running(), 1u);
  EXPECT_EQ(e.num_waiting(), 1u);
  std::vector<TokenEvent> ev;
  e.EndStep(0.01, &ev);
  Driver d(e, 0.01);
  d.Run();
  EXPECT_TRUE(d.done.count(a));
  EXPECT_TRUE(d.done.count(b));
  EXPECT_EQ(e.num_waiting(), 0u);
}

TEST(Engine, BatchesConcurrentRequests) {
  Engine e(Config());
  for (int i = 0; i < 10; ++i) e.Add(Req(1000 * (i + 1), 50, 20), 0);
  ASSERT_TRUE(e.BeginStep(0));
  EXPECT_EQ(e.num_running(), 10u);
}

TEST(Engine, MoreUncachedPromptTokensMeanLongerTtft) {
  auto ttft = [](int prompt, bool warm) {
    Engine e(Config());
    Driver d(e);
    if (warm) {
      e.Add(Req(1000, prompt, 1), 0);
      d.Run();
    }
    double start = d.now;
    auto id = e.Add(Req(1000, prompt, 1), start);
    d.Run();
    return d.first_token[id] - start;
  };
  EXPECT_LT(ttft(100, false), ttft(4000, false));
  EXPECT_LT(ttft(4000, true), ttft(4000, false));
}

TEST(Engine, DecodeStepGrowsWithBatch) {
  auto cfg = Config();
  StepLoad one{1, 1000, 0, 0}, many{200, 200000, 0, 0};
  EXPECT_LT(StepSeconds(cfg, one), StepSeconds(cfg, many));
  EXPECT_GT(StepSeconds(cfg, one), 0.004);  // 16 GB of weights at ~2.7 TB/s
}

TEST(Engine, MaxLorasLimitsAdaptersInBatch) {
  auto cfg = Config();
  cfg.max_loras = 1;
  Engine e(cfg);
  auto r1 = Req(1000, 20, 5);
  r1.lora = "a";
  auto r2 = Req(2000, 20, 5);
  r2.lora = "b";
  e.Add(r1, 0);
  e.Add(r2, 0);
  e.Add(Req(3000, 20, 5), 0);
  ASSERT_TRUE(e.BeginStep(0));
  EXPECT_EQ(e.num_running(), 2u);  // "a" and the base-model request
  EXPECT_EQ(e.RunningLoras(), "a");
  EXPECT_EQ(e.WaitingLoras(), "b");
}

TEST(Engine, AbortFreesBlocks) {
  Engine e(Config());
  auto id = e.Add(Req(1000, 100, 50), 0);
  Driver d(e);
  d.Run(3);
  EXPECT_TRUE(e.Abort(id));
  EXPECT_EQ(e.kv_cache().num_free(), e.kv_cache().num_blocks());
  EXPECT_FALSE(e.BeginStep(d.now));
}

TEST(Tokenizer, DeterministicAndLossless) {
  std::string text = "Hello, world! The simulator's tokenizer   splits internationalization.";
  auto a = TokenizePieces(text);
  auto b = TokenizePieces(text);
  ASSERT_EQ(a.size(), b.size());
  std::string joined;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].id, b[i].id);
    joined += a[i].text;
  }
  EXPECT_EQ(joined, text);
  EXPECT_GT(a.size(), text.size() / 6);
  EXPECT_LT(a.size(), text.size() / 2);
  EXPECT_GE(CountTokens(FillerText(3, 50)), 50u);
  EXPECT_EQ(FillerText(3, 50), FillerText(3, 50));
}

}  // namespace
}  // namespace ap::sim
