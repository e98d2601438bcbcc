// scheduler/scheduler_benchmark.cc — decision latency of the scheduler (Google Benchmark):
// 64 replicas, 8k-token prompts (~32 KB of chat JSON), a warm prefix index, fresh metrics.
//
// BM_Decide is one whole decision as Pick takes it: candidate snapshot, filters, prompt hashing,
// prefix matching, every scorer, ranking, the breaker check and the index update. The target is
// p99 ≤ 20 µs; run with --benchmark_repetitions and look at the per-iteration distribution that
// BM_DecideP99 reports (it times each decision and keeps a histogram). Nothing here is asserted.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "scheduler/request_info.h"
#include "scheduler/scheduler.h"

namespace ap::scheduler {
namespace {

constexpr size_t kReplicas = 64;
constexpr int kGroups = 128;
constexpr int kPromptTokens = 8192;

std::string Words(int seed, int n) {
  static const char* kWords[] = {"the", "cat", "sat", "on", "mat", "dog", "ran", "far", "red", "sky",
                                 "blue", "word", "and", "then", "fox", "jump"};
  std::string s;
  uint64_t x = static_cast<uint64_t>(seed) * 0x9E3779B97F4A7C15ull + 1;
  for (int i = 0; i < n; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    if (i) s.push_back(' ');
    s += kWords[x % 16];
  }
  return s;
}

struct Fixture {
  Fixture() {
    config::SchedulerConfig cfg;
    for (size_t i = 0; i < kReplicas; ++i) {
      auto b = std::make_unique<gateway::BackendState>();
      b->config.name = "replica-" + std::to_string(i);
      b->breaker = std::make_shared<gateway::CircuitBreaker>(config::CircuitBreakerConfig{});
      members.push_back(b.get());
      backends.push_back(std::move(b));
    }
    // Index updates run on a bookkeeping thread, as in the gateway (the scraper's thread).
    bookkeeping_thread = std::thread([this] { bookkeeping.run(); });
    pool = std::make_shared<Pool>("m", cfg, members, bookkeeping.get_executor());
    for (size_t i = 0; i < kReplicas; ++i) {
      VllmMetrics m;
      m.waiting = static_cast<double>(i % 3);
      m.running = 10;
      m.kv_usage = 0.3 + 0.005 * static_cast<double>(i);
      m.block_size = 16;
      m.num_gpu_blocks = 28'000;
      pool->replicas()[i]->Publish(m, Clock::now() + std::chrono::hours(1));  // stays fresh
      pool->AfterScrape(*pool->replicas()[i]);
    }
    // 8k-token prompts: a 6k-token shared system prompt per group, a 2k-token question.
    for (int g = 0; g < kGroups; ++g) prefixes.push_back(Words(g, kPromptTokens * 3 / 4));
    for (int q = 0; q < 64; ++q) {
      int g = q % kGroups;
      bodies.push_back(R"({"model":"m","stream":true,"messages":[{"role":"system","content":")" + prefixes[g] +
                       R"("},{"role":"user","content":")" + Words(1000 + q, kPromptTokens / 4) + R"("}]})");
    }
    // Warm the index: every group already routed somewhere.
    for (int g = 0; g < kGroups; ++g) Decide(g % bodies.size());
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ~Fixture() {
    work.reset();
    bookkeeping.stop();
    bookkeeping_thread.join();
  }
  const gateway::BackendState* Decide(size_t i) {
    body.body = bodies[i % bodies.size()];
    gateway::PickContext ctx{body, incoming, exclude};
    return pool->Decide(ctx, Clock::now()).backend;
  }
  boost::asio::io_context bookkeeping;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{bookkeeping.get_executor()};
  std::thread bookkeeping_thread;
  std::vector<std::unique_ptr<gateway::BackendState>> backends;
  std::vector<const gateway::BackendState*> members;
  std::shared_ptr<Pool> pool;
  std::vector<std::string> prefixes, bodies;
  api::InferenceRequest body;
  http::Request incoming;
  std::vector<const gateway::BackendState*> exclude;
};

Fixture& Shared() {
  static Fixture f;
  return f;
}

void BM_Decide(benchmark::State& state) {
  auto& f = Shared();
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(f.Decide(i++));
  state.counters["prompt_bytes"] = static_cast<double>(f.bodies[0].size());
}
BENCHMARK(BM_Decide);

// Same decision, each one timed: reports p50/p99/max in microseconds as counters.
void BM_DecideP99(benchmark::State& state) {
  auto& f = Shared();
  std::vector<double> us;
  us.reserve(1 << 20);
  size_t i = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(f.Decide(i++));
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  auto q = [&](double p) { return us.empty() ? 0 : us[std::min(us.size() - 1, static_cast<size_t>(p * us.size()))]; };
  state.counters["p50_us"] = q(0.50);
  state.counters["p99_us"] = q(0.99);
  state.counters["max_us"] = us.empty() ? 0 : us.back();
}
BENCHMARK(BM_DecideP99)->Iterations(20000);

// The parts: hashing an 8k-token prompt; matching it against the index of 64 replicas.
void BM_HashPrompt(benchmark::State& state) {
  auto& f = Shared();
  std::vector<uint64_t> h;
  for (auto _ : state) {
    HashPromptBlocks(f.bodies[0], 64, Pool::kMaxPromptBlocks, &h);
    benchmark::DoNotOptimize(h.data());
  }
}
BENCHMARK(BM_HashPrompt);

void BM_MatchPrefix(benchmark::State& state) {
  auto& f = Shared();
  std::vector<uint64_t> h;
  HashPromptBlocks(PromptRegion(f.bodies[3]), 64, Pool::kMaxPromptBlocks, &h);
  std::vector<uint32_t> out(kReplicas);
  for (auto _ : state) {
    f.pool->prefix_index().Match(h, ~0ull, out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_MatchPrefix);

// The index update after a decision (runs on the scraper's thread in the gateway, not in Pick).
void BM_RecordPrefix(benchmark::State& state) {
  auto& f = Shared();
  std::vector<uint64_t> h;
  HashPromptBlocks(PromptRegion(f.bodies[5]), 64, Pool::kMaxPromptBlocks, &h);
  size_t i = 0;
  for (auto _ : state) f.pool->prefix_index().Record(i++ % kReplicas, h);
}
BENCHMARK(BM_RecordPrefix);

}  // namespace
}  // namespace ap::scheduler
