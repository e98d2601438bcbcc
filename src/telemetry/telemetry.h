// telemetry/telemetry.h — telemetry assembled from config: the store, its writer thread, the
// price table, metrics, the gateway sink and the HTTP handlers to mount on the gateway's port.
//
// Built once at start-up by cmd (serve_gateway.cc). Start() opens the database (creating and
// migrating it) before the gateway listens, so a bad data directory fails start-up instead of
// failing requests. Stop() commits what is queued; call it after the gateway drained.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "gateway/gateway.h"
#include "telemetry/api.h"
#include "telemetry/exporter.h"
#include "telemetry/metrics.h"
#include "telemetry/pricing.h"
#include "telemetry/sink.h"
#include "telemetry/store.h"
#include "telemetry/writer.h"

namespace ap::telemetry {

class Telemetry {
 public:
  // `loopback_without_key`: local mode, loopback clients may read and ingest without keys.
  static Result<std::unique_ptr<Telemetry>> Start(const config::TelemetryConfig& config, bool loopback_without_key);
  ~Telemetry();

  std::shared_ptr<GatewaySink> sink() const { return sink_; }
  std::shared_ptr<Metrics> metrics() const { return metrics_; }
  std::shared_ptr<Writer> writer() const { return writer_; }
  std::shared_ptr<TelemetryApi> api() const { return api_; }
  // Ingestion/query APIs and /metrics, for GatewayOptions::mounts.
  std::vector<gateway::Mount> Mounts() const;
  // Bytes of each payload the gateway should capture into its records (0: none); follows Reload.
  uint64_t capture_bytes() const { return capture_bytes_.load(std::memory_order_relaxed); }
  // Config reload (SIGHUP): the price table (prices, gpu_prices), capture mode and limit, and the
  // redaction patterns are swapped atomically; requests in flight finish with the old set. The
  // store, queue, retention and project keys stay as started. An invalid redaction pattern
  // fails the reload and nothing changes.
  Result<void> Reload(const config::TelemetryConfig& config);
  std::string database_path() const { return database_path_; }
  // The OTLP exporter of telemetry.export; null when not configured.
  std::shared_ptr<OtlpExporter> exporter() const { return exporter_; }
  void Stop();

 private:
  Telemetry() = default;
  std::shared_ptr<Store> store_;
  std::shared_ptr<Writer> writer_;
  std::shared_ptr<PriceTable> prices_;
  std::shared_ptr<Metrics> metrics_;
  std::shared_ptr<GatewaySink> sink_;
  std::shared_ptr<TelemetryApi> api_;
  std::shared_ptr<MetricsHandler> metrics_handler_;
  std::shared_ptr<OtlpExporter> exporter_;  // telemetry.export; null when not configured
  std::atomic<uint64_t> capture_bytes_{0};
  std::string database_path_;
};

// Config prices (USD per million tokens, ISO start dates) → price table entries.
std::vector<ModelPrice> PricesFromConfig(const config::TelemetryConfig& config);

}  // namespace ap::telemetry
