// telemetry/sink.h — turns every gateway CompletionRecord into a trace and a generation and
// queues them for the writer; prices the request and feeds /metrics.
//
// Runs on the gateway's worker threads at the end of each request, so it only builds one compact
// record (a trace the gateway minted, capture off: gateway_request.h) or two small items and calls
// Writer::TryEnqueue (never disk, never a wait). Capture modes: off (no payloads,
// no metadata: the compact row), metadata (sizes, backend, attempts … but no bodies), full
// (request and response bodies up to capture_limit, after the redaction patterns replaced what
// they match with "[REDACTED]"). Usage comes from the backend's reply or streamed usage chunk;
// when the backend sent none and bodies were captured it is estimated (about 4 bytes per token)
// and marked {"estimated": true} in usage_details.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gateway/completion.h"
#include "telemetry/gateway_request.h"
#include "telemetry/model.h"
#include "telemetry/pricing.h"

namespace re2 {
class RE2;
}

namespace ap::telemetry {

class Writer;
class Metrics;
class OtlpExporter;

enum class CaptureMode { kOff, kMetadata, kFull };

struct SinkOptions {
  std::string project = "default";
  std::string environment;            // empty: none
  CaptureMode capture = CaptureMode::kOff;
  uint64_t capture_limit = 32 << 10;  // bytes per payload in kFull
  std::vector<std::string> redact;    // RE2 patterns
};

// A gateway request's cost from `prices`: the backend's model name first, then the public one,
// then GPU time on the backend; nullopt when its usage is unknown or nothing prices it.
std::optional<Cost> CostOfRecord(PriceTable& prices, const gateway::CompletionRecord& r);

class GatewaySink : public gateway::CompletionSink {
 public:
  GatewaySink(std::shared_ptr<Writer> writer, std::shared_ptr<PriceTable> prices, std::shared_ptr<Metrics> metrics,
              SinkOptions options);
  ~GatewaySink() override;

  void Record(const gateway::CompletionRecord& record) override;

  // What the request cost (USD): the price table by backend model then public model, else GPU
  // time of its backend; nullopt when neither knows. Usable before Record (cost header).
  std::optional<Cost> CostOf(const gateway::CompletionRecord& record) const;
  // The trace and generation a record becomes (exposed for tests and benchmarks).
  std::vector<Item> ToItems(const gateway::CompletionRecord& record, const std::optional<Cost>& cost) const;

  // The same as one compact record (gateway_request.h), which Record queues instead of the items
  // when it can: a trace the gateway minted (32 hex), payload capture off, text that fits. False
  // (and *out unspecified) otherwise.
  bool ToRequest(const gateway::CompletionRecord& record, const std::optional<Cost>& cost, GatewayRequest* out) const;

  // Also hands every record to an OTLP exporter as a span (set once, before traffic).
  void set_exporter(std::shared_ptr<OtlpExporter> exporter) { exporter_ = std::move(exporter); }

  // Config reload: swaps capture mode, capture limit and redaction patterns atomically (a
  // record sees the old set or the new one). An invalid pattern is refused with its error and
  // nothing changes. project and environment stay as started.
  std::string Reload(CaptureMode capture, uint64_t capture_limit, const std::vector<std::string>& redact);

 private:
  // What to capture and what to redact: immutable, replaced whole by Reload.
  struct Capture {
    CaptureMode mode = CaptureMode::kOff;
    uint64_t limit = 0;
    std::vector<std::unique_ptr<re2::RE2>> redact;
  };
  // ToRequest in two halves: whether the record has a compact form (cheap; no copying), and
  // writing it (only after Compacts said yes), which Record does straight into the writer's queue.
  bool Compacts(const gateway::CompletionRecord& record) const;
  void FillRequest(const gateway::CompletionRecord& record, const std::optional<Cost>& cost, GatewayRequest& q) const;
  // nullptr and `error` set when a pattern does not compile.
  static std::shared_ptr<const Capture> Compile(CaptureMode mode, uint64_t limit,
                                                const std::vector<std::string>& patterns, std::string* error);

  std::shared_ptr<Writer> writer_;
  std::shared_ptr<PriceTable> prices_;
  std::shared_ptr<Metrics> metrics_;
  SinkOptions options_;  // as started; capture/capture_limit/redact live in capture_
  std::atomic<std::shared_ptr<const Capture>> capture_;
  // capture_->mode == kOff, readable without the shared pointer's lock (Compacts, per request).
  // A Reload racing a request may let that one request pick its form by the other mode.
  std::atomic<bool> capture_off_{true};
  std::mutex reload_mu_;  // one Reload at a time
  std::shared_ptr<OtlpExporter> exporter_;
};

}  // namespace ap::telemetry
