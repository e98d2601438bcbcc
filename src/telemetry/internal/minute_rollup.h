// telemetry/internal/minute_rollup.h — the per-minute rollup behind the dashboard's time series.
//
// Two tables (migration 4): usage_minute (minute × project × model → requests, errors, tokens,
// cost) and latency_minute (minute × project × model × kind × bucket → count), where kind 0 is
// end-to-end latency and kind 1 time to first token, and buckets are log-spaced (×1.25 from
// 1 ms, so a quantile read back is within 12% of the true value). Like usage_daily they are
// maintained in the writer's transaction with signed deltas (an updated generation first
// removes its old contribution), so they stay exact under Langfuse upserts, and a time series
// over a million traces reads a few thousand rollup rows instead of the observations.
#pragma once

#include <sqlite3.h>

#include <array>
#include <cstdint>
#include <map>
#include <tuple>
#include <vector>

#include "telemetry/model.h"

namespace ap::telemetry::internal {

constexpr int kLatencyBuckets = 64;
constexpr int kKindLatency = 0;
constexpr int kKindTtft = 1;

// The bucket of a duration in microseconds: 0 holds ≤ 1 ms, the last everything past ~20 min.
int LatencyBucket(int64_t micros);
// The same by its definition (a logarithm): what LatencyBucket's table is built from.
int LatencyBucketByLog(int64_t micros);
// The upper bound of bucket `b` in seconds.
double LatencyBucketUpper(int b);
// Registers ap_latency_bucket(micros) → LatencyBucket on `db`, so SQL (migration 4's back-fill)
// buckets exactly as the writer does. Returns false when SQLite refused it.
bool RegisterLatencyBucketFunction(sqlite3* db);

// The q-quantile (0..1) in seconds of a histogram (counts per bucket), interpolated
// geometrically inside the bucket; -1 when it is empty.
double HistogramQuantile(const std::vector<int64_t>& counts, double q);

// One batch's changes to the rollup, flushed by the writer in its transaction.
class MinuteRollup {
 public:
  // Adds (sign +1) or removes (-1) a generation's contribution; other observations are ignored.
  // Ids are the store's interned ids of project and model (0: none).
  void Add(int64_t project, int64_t model, const Observation& o, int sign);
  // The same for a generation given by its fields (end_us, completion_start_us: 0 when unknown).
  void AddGeneration(int64_t project, int64_t model, int64_t start_us, int64_t end_us, int64_t completion_start_us,
                     bool error, int64_t in, int64_t out, double cost, int sign);

  struct Totals {
    int64_t n = 0, errors = 0, in = 0, out = 0;
    double cost = 0;
  };
  using Key = std::tuple<int64_t, int64_t, int64_t>;                // minute, project, model
  using HistKey = std::tuple<int64_t, int64_t, int64_t, int, int>;  // + kind, bucket
  // A series' totals and its entries in histogram(), each found once per batch (std::map nodes
  // stay put; nothing is erased during a batch).
  struct Series {
    Totals totals;
    std::array<int64_t*, 2 * kLatencyBuckets> hist{};  // [kind * kLatencyBuckets + bucket]
  };
  const std::map<Key, Series>& totals() const { return series_; }
  const std::map<HistKey, int64_t>& histogram() const { return hist_; }

 private:
  std::map<Key, Series> series_;
  std::map<HistKey, int64_t> hist_;
  // The last series: consecutive generations mostly share one and skip the search.
  Key last_key_;
  Series* last_ = nullptr;  // null until the first generation
};

}  // namespace ap::telemetry::internal
