// scheduler/replica_state.h — what the scheduler knows about one replica, and the parser of the
// vLLM /metrics text it learns it from.
//
// Two sources: the scraper (off the request path) publishes each /metrics sample into atomics,
// and the gateway's own OnStart/OnFinish count requests in flight. Pickers read both without
// locks. A sample older than `stale_after` is ignored (the replica is then judged on in-flight
// counts alone); a replica whose scrapes keep failing, or whose requests fail at the transport
// level, is marked down until a scrape succeeds again. Nothing here does I/O.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/client.h"

namespace ap::scheduler {

using Clock = std::chrono::steady_clock;

// One GPU as DCGM-exporter reports it (the simulator exposes the same series). Values < 0: the
// series was absent.
struct GpuSample {
  std::string gpu, uuid, device, model_name, hostname;
  std::string cluster;  // the `cluster` label when the exporter's relabelling adds one
  double util_percent = -1, fb_used_mib = -1, fb_free_mib = -1, temp_c = -1, power_w = -1;
};

// The vLLM series the scheduler reads from one scrape.
struct VllmMetrics {
  std::optional<double> waiting;    // vllm:num_requests_waiting
  std::optional<double> running;    // vllm:num_requests_running
  std::optional<double> kv_usage;   // vllm:kv_cache_usage_perc, else vllm:gpu_cache_usage_perc (0..1)
  std::optional<double> block_size;      // vllm:cache_config_info{block_size}
  std::optional<double> num_gpu_blocks;  // vllm:cache_config_info{num_gpu_blocks}
  bool has_lora_info = false;
  std::vector<std::string> running_loras, waiting_loras;  // vllm:lora_requests_info (latest)
  int max_lora = 0;
  std::optional<double> prefix_queries, prefix_hits;  // vllm:prefix_cache_{queries,hits}_total
  std::vector<GpuSample> gpus;                        // DCGM_FI_DEV_* gauges, by UUID (or gpu)
};

// Parses Prometheus text as vLLM exposes it. Series of several model_name labels are summed
// (waiting, running) or maxed (KV usage). Unknown lines are skipped.
VllmMetrics ParseVllmMetrics(std::string_view text);

// LoRA adapters as the scheduler sees them (published as one immutable snapshot).
struct LoraSnapshot {
  std::vector<std::string> running, waiting;
  int max_lora = 0;
};

struct ReplicaState {
  std::string name;        // the backend's name
  http::Endpoint endpoint; // where /metrics is scraped (a copy: outlives the route table)
  size_t index = 0;        // position in the pool

  // Published by the scraper.
  std::atomic<int64_t> scraped_at_ns{0};      // steady clock; 0: never
  std::atomic<int> waiting{0};
  std::atomic<int> running{0};
  std::atomic<double> kv_usage{-1};           // < 0: not reported
  std::atomic<int64_t> in_flight_at_scrape{0};
  std::atomic<int> scrape_failures{0};        // consecutive
  std::atomic<int64_t> capacity_tokens{0};    // num_gpu_blocks × block_size; 0: unknown
  std::atomic<std::shared_ptr<const LoraSnapshot>> lora;
  std::atomic<bool> scrape_busy{false};
  // For the dashboard (never read by decisions): prefix-cache counters and the GPUs behind the
  // replica, as last scraped.
  std::atomic<double> prefix_queries{-1}, prefix_hits{-1};
  std::atomic<std::shared_ptr<const std::vector<GpuSample>>> gpus;

  // Updated by the gateway on every attempt.
  std::atomic<int64_t> in_flight{0};
  std::atomic<bool> request_failed{false};    // transport error/5xx since the last good scrape
  std::atomic<uint64_t> picks{0};

  // Whether the latest sample is at most `stale_after` old at `now`.
  bool Fresh(Clock::time_point now, std::chrono::milliseconds stale_after) const;
  // Down: scrapes failed twice in a row, or a request failed and no scrape succeeded since.
  bool Down() const;
  // vLLM's waiting queue plus what the gateway sent since that sample (0 for stale samples).
  double EstimatedWaiting(bool fresh) const;

  // Stores a successful sample taken at `now`.
  void Publish(const VllmMetrics& m, Clock::time_point now);
  void PublishFailure();
};

}  // namespace ap::scheduler
