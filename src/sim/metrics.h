// sim/metrics.h — the engine's counters and latency histograms, and their Prometheus text.
//
// Names, label sets and histogram buckets copy what vLLM exposes on /metrics (vllm:*), and the
// simulated GPUs appear as DCGM-exporter gauges (DCGM_FI_DEV_*), so a scheduler, an autoscaler or
// a dashboard built against real servers reads the simulator unchanged. Every family carries HELP
// and TYPE lines; the output must pass `promtool check metrics`. No locks: the owning engine's
// thread updates and renders.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ap::sim {

class Histogram {
 public:
  explicit Histogram(std::span<const double> bounds);
  void Observe(double v);
  // Appends `name_bucket{labels,le=..}`, `_sum` and `_count` lines (labels without braces).
  void Render(std::string& out, const std::string& name, const std::string& labels) const;
  uint64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  std::span<const double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative
  uint64_t count_ = 0;
  double sum_ = 0;
};

// vLLM's bucket boundaries.
std::span<const double> TtftBuckets();
std::span<const double> InterTokenBuckets();
std::span<const double> E2eBuckets();

struct EngineStats {
  EngineStats();
  uint64_t prompt_tokens = 0;
  uint64_t generation_tokens = 0;
  uint64_t prefix_queries = 0;  // prompt tokens looked up in the prefix cache
  uint64_t prefix_hits = 0;     // of which served from it
  uint64_t preemptions = 0;
  uint64_t finished_stop = 0, finished_length = 0, finished_abort = 0;
  double busy_seconds = 0;  // total time spent in steps (GPU utilisation)
  Histogram ttft, itl, e2e;
};

// One simulated GPU as DCGM exporter labels it.
struct GpuSample {
  int index;
  std::string uuid;
  std::string model_name;
  double util_percent;
  double fb_used_mib, fb_free_mib;
  double temp_c;
  double power_w;
};

struct MetricsView {
  std::string model_name;
  std::string hostname;
  int64_t running = 0, waiting = 0;
  double kv_usage = 0;
  int block_size = 16;
  int64_t num_gpu_blocks = 0;
  std::string running_loras, waiting_loras;
  int max_loras = 1;
  double gpu_memory_utilization = 0.9;
  double now_unix = 0;
  const EngineStats* stats = nullptr;
  std::vector<GpuSample> gpus;
};

std::string RenderMetrics(const MetricsView& view);

}  // namespace ap::sim
