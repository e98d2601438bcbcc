// scheduler/metrics.h — the scheduler's Prometheus metrics: picks per replica, decision latency
// and queue-wait histograms, the estimated prefix hit ratio, queue depth and refusals.
//
// Updated on the request path with relaxed atomics only (no locks, no allocation); rendered in
// Prometheus text format 0.0.4 with HELP and TYPE for /metrics. Per-replica series live in the
// pool (ReplicaState); this object holds the per-model ones and renders both.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace ap::scheduler {

// A fixed-bucket histogram with atomic counters (seconds).
class AtomicHistogram {
 public:
  static constexpr size_t kMaxBuckets = 24;
  explicit AtomicHistogram(std::initializer_list<double> bounds);
  void Observe(double seconds);
  // Appends the _bucket/_sum/_count lines of `name` with `labels` (without braces).
  void Render(std::string* out, std::string_view name, std::string_view labels) const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  // Upper bound of the bucket holding quantile q (for tests and logs).
  double Quantile(double q) const;

 private:
  std::array<double, kMaxBuckets> bounds_{};
  size_t n_ = 0;
  std::array<std::atomic<uint64_t>, kMaxBuckets + 1> counts_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_ns_{0};
};

struct PoolMetrics {
  AtomicHistogram decision{0.000001, 0.0000025, 0.000005, 0.00001, 0.00002, 0.00005, 0.0001,
                           0.00025, 0.0005, 0.001, 0.0025, 0.01};
  AtomicHistogram queue_wait{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  std::atomic<uint64_t> prefix_blocks_total{0};    // prompt blocks seen at decisions
  std::atomic<uint64_t> prefix_blocks_matched{0};  // of which the chosen replica held
  std::atomic<uint64_t> queued_total{0};
  std::atomic<uint64_t> records_dropped{0};         // prefix-index updates shed under overload
  std::atomic<uint64_t> rejected_full{0};
  std::atomic<uint64_t> rejected_timeout{0};
  std::atomic<int64_t> queue_depth{0};
};

// Writes "# HELP name help\n# TYPE name type\n".
void AppendFamily(std::string* out, std::string_view name, std::string_view type, std::string_view help);
// A label value escaped for the exposition format.
std::string EscapeLabel(std::string_view v);
void AppendNumber(std::string* out, double v);

}  // namespace ap::scheduler
