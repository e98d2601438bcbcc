// telemetry/exporter.h — optional OTLP/HTTP export of the gateway's own spans to an external
// collector (an OpenTelemetry Collector, Jaeger, Tempo, Langfuse's OTLP endpoint, another
// agentplane's /v1/traces).
//
// Each gateway request becomes one span with the OpenTelemetry GenAI semantic-convention
// attributes (gen_ai.operation.name, gen_ai.request.model, gen_ai.response.model,
// gen_ai.usage.input_tokens/output_tokens …); its trace id, span id and parent come from the
// request's W3C traceparent (see gateway.cc), so the gateway's span joins the caller's trace.
//
// Never on the request path: Enqueue() copies a few strings into a bounded queue under a short
// mutex and returns; when the queue is full the span is dropped and counted. One thread of its
// own batches spans (batch_size, or whatever arrived within `interval`), encodes them as OTLP
// JSON and POSTs them, retrying 429, 5xx and transport errors with exponential backoff
// (100 ms doubling to 5 s, max_retries times) before dropping the batch and counting its spans.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "config/config.h"
#include "gateway/completion.h"
#include "telemetry/pricing.h"
#include "telemetry/store.h"

namespace ap::telemetry {

// One span as exported: ids are lowercase hex (32 and 16 characters).
struct ExportSpan {
  using Value = std::variant<std::string, int64_t, double, bool>;
  std::string trace_id, span_id, parent_span_id, name;
  int kind = 2;  // OTLP SpanKind: 2 = SERVER (the gateway serving the caller's request)
  int64_t start_ns = 0, end_ns = 0;
  std::vector<std::pair<std::string, Value>> attributes;
  bool error = false;
  std::string status_message;
};

// The span a finished gateway request becomes.
ExportSpan SpanOf(const gateway::CompletionRecord& record, const std::optional<Cost>& cost);
// An OTLP ExportTraceServiceRequest in the JSON encoding (hex ids, int64 as strings).
std::string EncodeOtlpJson(const std::vector<ExportSpan>& spans, const std::string& service_name);

class OtlpExporter {
 public:
  static Result<std::unique_ptr<OtlpExporter>> Start(const config::TelemetryExportConfig& config);
  ~OtlpExporter();
  OtlpExporter(const OtlpExporter&) = delete;
  OtlpExporter& operator=(const OtlpExporter&) = delete;

  // Never blocks on I/O; false (and counted as dropped) when the queue is full or stopped.
  bool Enqueue(ExportSpan span);
  // Blocks until everything enqueued before the call was exported or dropped (tests, shutdown).
  void Flush();
  // Exports what is queued and stops the thread: one attempt per batch, and once an attempt
  // fails during shutdown the remaining spans are dropped (counted) rather than each batch
  // waiting out its timeout.
  void Stop();

  int64_t exported() const { return exported_.load(std::memory_order_relaxed); }
  int64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  int64_t failed_requests() const { return failed_requests_.load(std::memory_order_relaxed); }
  int64_t depth() const;
  // Prometheus text for /metrics (Metrics::AddCollector).
  void RenderMetrics(std::string* out) const;

 private:
  explicit OtlpExporter(const config::TelemetryExportConfig& config);
  void Run();
  // One POST; the HTTP status, or 0 when the request did not complete (connect, write, read).
  int Post(const std::string& body);
  void Deliver(std::vector<ExportSpan> batch);

  config::TelemetryExportConfig config_;
  struct Target;
  std::unique_ptr<Target> target_;
  mutable std::mutex mu_;
  std::condition_variable wake_, flushed_;
  std::deque<ExportSpan> queue_;
  bool stopping_ = false;
  bool exited_ = false;                   // the thread has left Run()
  bool collector_down_ = false;           // an export failed during Stop(): drop the rest
  uint64_t enqueued_ = 0, finished_ = 0;  // spans accepted / exported or dropped after acceptance
  uint64_t flush_target_ = 0;             // Flush() waits for finished_ to reach it
  std::atomic<int64_t> exported_{0}, dropped_{0}, failed_requests_{0};
  std::thread thread_;
};

}  // namespace ap::telemetry
