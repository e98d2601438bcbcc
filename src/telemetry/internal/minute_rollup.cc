// telemetry/internal/minute_rollup.cc — see minute_rollup.h.
#include "telemetry/internal/minute_rollup.h"

#include <algorithm>
#include <array>
#include <limits>
#include <cmath>

namespace ap::telemetry::internal {
namespace {

constexpr double kFactor = 1.25;
const double kLogFactor = std::log(kFactor);

}  // namespace

int LatencyBucketByLog(int64_t micros) {
  if (micros <= 1000) return 0;
  int b = static_cast<int>(
      std::ceil(std::log(static_cast<double>(micros) / 1000.0) / kLogFactor - 1e-9));
  return std::clamp(b, 0, kLatencyBuckets - 1);
}

// The smallest duration of each bucket 1.., found once with LatencyBucketByLog itself, so the
// writer's per-request lookup (a binary search instead of a log) buckets exactly as it does.
const std::array<int64_t, kLatencyBuckets>& BucketStarts() {
  static const auto starts = [] {
    std::array<int64_t, kLatencyBuckets> s{};
    for (int b = 1; b < kLatencyBuckets; ++b) {
      int64_t lo = 1, hi = int64_t{1} << 62;  // LatencyBucketByLog(hi) is the last bucket
      while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (LatencyBucketByLog(mid) >= b) hi = mid;
        else lo = mid + 1;
      }
      s[b] = lo;
    }
    s[0] = std::numeric_limits<int64_t>::min();
    return s;
  }();
  return starts;
}

int LatencyBucket(int64_t micros) {
  const auto& starts = BucketStarts();
  return static_cast<int>(std::upper_bound(starts.begin() + 1, starts.end(), micros) - starts.begin()) - 1;
}

bool RegisterLatencyBucketFunction(sqlite3* db) {
  auto fn = [](sqlite3_context* ctx, int, sqlite3_value** argv) {
    sqlite3_result_int(ctx, LatencyBucket(sqlite3_value_int64(argv[0])));
  };
  return sqlite3_create_function_v2(db, "ap_latency_bucket", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                    nullptr, fn, nullptr, nullptr, nullptr) == SQLITE_OK;
}

double LatencyBucketUpper(int b) { return 0.001 * std::pow(kFactor, b); }

double HistogramQuantile(const std::vector<int64_t>& counts, double q) {
  int64_t total = 0;
  for (int64_t c : counts) total += std::max<int64_t>(c, 0);
  if (total == 0) return -1;
  double rank = q * static_cast<double>(total);
  int64_t seen = 0;
  for (size_t b = 0; b < counts.size(); ++b) {
    int64_t c = std::max<int64_t>(counts[b], 0);
    if (c == 0) continue;
    if (static_cast<double>(seen + c) >= rank) {
      double hi = LatencyBucketUpper(static_cast<int>(b));
      double lo = b == 0 ? hi / kFactor : LatencyBucketUpper(static_cast<int>(b) - 1);
      double frac =
          std::clamp((rank - static_cast<double>(seen)) / static_cast<double>(c), 0.0, 1.0);
      return lo * std::pow(hi / lo, frac);
    }
    seen += c;
  }
  return LatencyBucketUpper(static_cast<int>(counts.size()) - 1);
}

void MinuteRollup::Add(int64_t project, int64_t model, const Observation& o, int sign) {
  if (o.type != ObservationType::kGeneration) return;
  bool error = (o.level && *o.level == Level::kError) || (o.status_code && *o.status_code >= 400);
  AddGeneration(project, model, o.start_us, o.end_us, o.completion_start_us, error, o.input_tokens.value_or(0),
                o.output_tokens.value_or(0), o.total_cost.value_or(0), sign);
}

void MinuteRollup::AddGeneration(int64_t project, int64_t model, int64_t start_us, int64_t end_us,
                                 int64_t completion_start_us, bool error, int64_t in, int64_t out, double cost,
                                 int sign) {
  const int64_t minute = start_us / 60'000'000;
  const Key key{minute, project, model};
  if (!last_ || key != last_key_) {
    last_key_ = key;
    last_ = &series_[key];
  }
  Totals& t = last_->totals;
  t.n += sign;
  if (error) t.errors += sign;
  t.in += sign * in;
  t.out += sign * out;
  t.cost += sign * cost;
  auto count = [&](int kind, int bucket) {
    int64_t*& slot = last_->hist[static_cast<size_t>(kind * kLatencyBuckets + bucket)];
    if (!slot) slot = &hist_[{minute, project, model, kind, bucket}];
    *slot += sign;
  };
  if (end_us > start_us) count(kKindLatency, LatencyBucket(end_us - start_us));
  if (completion_start_us >= start_us && completion_start_us)
    count(kKindTtft, LatencyBucket(completion_start_us - start_us));
}

}  // namespace ap::telemetry::internal
