// scheduler/replica_state_test.cc — vLLM metrics parsing (current and older names, LoRA info,
// cache config) and stale-sample detection.
#include "scheduler/replica_state.h"

#include <gtest/gtest.h>

namespace ap::scheduler {
namespace {

constexpr const char* kVllm = R"(# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m"} 7.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="m"} 3.0
vllm:kv_cache_usage_perc{model_name="m"} 0.42
vllm:gpu_cache_usage_perc{model_name="m"} 0.99
vllm:cache_config_info{block_size="16",cache_dtype="auto",num_gpu_blocks="2048",prefix_caching="True"} 1.0
vllm:lora_requests_info{max_lora="2",running_lora_adapters="sql,chat",waiting_lora_adapters=""} 1.7e9
vllm:lora_requests_info{max_lora="2",running_lora_adapters="old",waiting_lora_adapters="x"} 1.6e9
vllm:prefix_cache_hits_total{model_name="m"} 1234
)";

TEST(ParseVllmMetrics, ReadsTheSeriesTheSchedulerUses) {
  auto m = ParseVllmMetrics(kVllm);
  EXPECT_EQ(m.running.value(), 7);
  EXPECT_EQ(m.waiting.value(), 3);
  EXPECT_DOUBLE_EQ(m.kv_usage.value(), 0.42);  // the current name wins over the older one
  EXPECT_EQ(m.block_size.value(), 16);
  EXPECT_EQ(m.num_gpu_blocks.value(), 2048);
  ASSERT_TRUE(m.has_lora_info);
  EXPECT_EQ(m.running_loras, (std::vector<std::string>{"sql", "chat"}));  // newest sample
  EXPECT_TRUE(m.waiting_loras.empty());
  EXPECT_EQ(m.max_lora, 2);
}

TEST(ParseVllmMetrics, FallsBackToGpuCacheUsageAndSumsModels) {
  auto m = ParseVllmMetrics(
      "vllm:gpu_cache_usage_perc{model_name=\"a\"} 0.3\r\n"
      "vllm:num_requests_waiting{model_name=\"a\"} 1\n"
      "vllm:num_requests_waiting{model_name=\"b\"} 2\n"
      "garbage line\nvllm:num_requests_running{oops 3\n");
  EXPECT_DOUBLE_EQ(m.kv_usage.value(), 0.3);
  EXPECT_EQ(m.waiting.value(), 3);
  EXPECT_FALSE(m.running);
  EXPECT_FALSE(m.has_lora_info);
  auto empty = ParseVllmMetrics("");
  EXPECT_FALSE(empty.kv_usage);
}

TEST(ReplicaState, StaleSamplesAreIgnored) {
  ReplicaState r;
  auto t0 = Clock::now();
  EXPECT_FALSE(r.Fresh(t0, std::chrono::milliseconds(500)));  // never scraped
  r.Publish(ParseVllmMetrics(kVllm), t0);
  EXPECT_TRUE(r.Fresh(t0 + std::chrono::milliseconds(400), std::chrono::milliseconds(500)));
  EXPECT_FALSE(r.Fresh(t0 + std::chrono::milliseconds(600), std::chrono::milliseconds(500)));
  EXPECT_EQ(r.EstimatedWaiting(true), 3);
  EXPECT_EQ(r.EstimatedWaiting(false), 0);  // a stale queue length is not used
  EXPECT_EQ(r.capacity_tokens.load(), 16 * 2048);
  ASSERT_TRUE(r.lora.load());
  EXPECT_EQ(r.lora.load()->max_lora, 2);
}

TEST(ReplicaState, InFlightSinceTheSampleCountsAsWaiting) {
  ReplicaState r;
  r.in_flight = 4;
  r.Publish(ParseVllmMetrics(kVllm), Clock::now());
  r.in_flight = 9;  // the gateway sent 5 more since the sample
  EXPECT_EQ(r.EstimatedWaiting(true), 3 + 5);
  r.in_flight = 1;  // finished meanwhile: never below the sample
  EXPECT_EQ(r.EstimatedWaiting(true), 3);
}

TEST(ReplicaState, DownAfterTwoFailedScrapesOrAFailedRequestUntilAGoodScrape) {
  ReplicaState r;
  EXPECT_FALSE(r.Down());
  r.PublishFailure();
  EXPECT_FALSE(r.Down());  // one miss is tolerated
  r.PublishFailure();
  EXPECT_TRUE(r.Down());
  r.Publish({}, Clock::now());
  EXPECT_FALSE(r.Down());
  r.request_failed = true;
  EXPECT_TRUE(r.Down());
  r.Publish({}, Clock::now());
  EXPECT_FALSE(r.Down());
}

}  // namespace
}  // namespace ap::scheduler
