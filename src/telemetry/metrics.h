// telemetry/metrics.h — the gateway's Prometheus metrics, rendered in text exposition format.
//
// Requests by model, backend and status; latency, time to first token, time per output token and
// token counts as histograms under the OpenTelemetry GenAI metric names with their recommended
// bucket boundaries (gen_ai.client.operation.duration → gen_ai_client_operation_duration_seconds,
// …); cost counters by team and model; the telemetry queue's depth, capacity and drops.
// Updates take one short mutex per request (label lookup + a few additions) and never allocate
// once a label set exists; rendering copies under the same mutex. Other modules add their own
// text through collectors (std::function appending to the output).
#pragma once

#include <array>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/thread.h"
#include "gateway/completion.h"

namespace ap::telemetry {

class Writer;

class Metrics {
 public:
  using Collector = std::function<void(std::string*)>;

  // One finished gateway request and its cost (USD; < 0: unknown).
  void ObserveRequest(const gateway::CompletionRecord& record, const std::string& team, double cost);
  void CountIngested(const std::string& source, int64_t events);

  void SetWriter(const Writer* writer) { writer_ = writer; }
  void AddCollector(Collector collector);

  // The whole exposition (ends with a newline), extra collectors appended.
  std::string Render() const;

 private:
  static constexpr size_t kMaxBounds = 16;
  struct Histogram {
    const std::vector<double>* bounds = nullptr;  // at most kMaxBounds
    std::array<uint64_t, kMaxBounds + 1> counts{};  // per bucket (not cumulative); [bounds->size()]: +Inf
    double sum = 0;
    uint64_t count = 0;
    void Observe(double v) {
      const double* b = bounds->data();
      const size_t n = bounds->size();
      size_t i = 0;
      while (i < n && v > b[i]) ++i;
      ++counts[i];
      sum += v;
      ++count;
    }
  };
  using Labels = std::vector<std::pair<std::string, std::string>>;
  struct Family {
    std::string name, help, type;
    std::map<Labels, double> counters;
    std::map<Labels, Histogram> histograms;
  };
  // Pointers to the series one label set (model, backend, status, team) updates on every
  // request; `cost` is found on the first priced request (an unpriced one adds no cost series).
  struct RequestSeries {
    double* requests = nullptr;
    Histogram *duration = nullptr, *ttft = nullptr, *tpot = nullptr, *tokens_in = nullptr, *tokens_out = nullptr;
    double *total_in = nullptr, *total_out = nullptr, *cost = nullptr;
  };
  RequestSeries& SeriesFor(const gateway::CompletionRecord& record, const std::string& team);
  RequestSeries& FindSeries(const gateway::CompletionRecord& record, const std::string& model, const std::string& team);
  Family& Get(const std::string& name, const char* help, const char* type);
  static void RenderFamily(const Family& f, std::string* out);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
  std::unordered_map<std::string, RequestSeries> series_;
  std::string series_key_;  // SeriesFor's lookup key, reused: no allocation per request
  // Which cache of series a thread's last lookup refers to (this object, and how often series_
  // was cleared): SeriesFor's per-thread shortcut for a repeat of the last label set.
  const uint64_t instance_ = base::NextSerial();
  uint64_t series_generation_ = 0;
  std::vector<Collector> collectors_;
  const Writer* writer_ = nullptr;
};

}  // namespace ap::telemetry
