// telemetry/telemetry.cc — see telemetry.h.
#include "telemetry/telemetry.h"

#include "base/log.h"
#include "telemetry/sqlite_store.h"

namespace ap::telemetry {

std::vector<ModelPrice> PricesFromConfig(const config::TelemetryConfig& config) {
  std::vector<ModelPrice> out;
  for (const auto& p : config.prices) {
    ModelPrice m;
    m.match = p.match;
    m.start_us = p.start_date.empty() ? 0 : ParseIsoTime(p.start_date).value_or(0);
    m.input = p.input_per_million * 1e-6;
    m.output = p.output_per_million * 1e-6;
    m.cached_input = p.cached_input_per_million < 0 ? -1 : p.cached_input_per_million * 1e-6;
    out.push_back(m);
  }
  return out;
}

namespace {

CaptureMode CaptureModeOf(const config::TelemetryConfig& config) {
  return config.capture == "full" ? CaptureMode::kFull
         : config.capture == "metadata" ? CaptureMode::kMetadata : CaptureMode::kOff;
}

std::vector<GpuPrice> GpuPricesFromConfig(const config::TelemetryConfig& config) {
  std::vector<GpuPrice> gpu;
  for (const auto& g : config.gpu_prices) gpu.push_back({g.match, g.usd_per_hour, g.tokens_per_second});
  return gpu;
}

}  // namespace

Result<std::unique_ptr<Telemetry>> Telemetry::Start(const config::TelemetryConfig& config, bool loopback_without_key) {
  std::unique_ptr<Telemetry> t(new Telemetry());
  SqliteOptions so;
  so.path = config.data_dir + "/telemetry.db";
  so.synchronous_full = config.synchronous_full;
  auto store = SqliteStore::Open(so);
  if (!store) return store.error();
  t->database_path_ = so.path;
  t->prices_ = std::make_shared<PriceTable>(PricesFromConfig(config), GpuPricesFromConfig(config));
  std::shared_ptr<Store> shared = std::move(*store);
  PriceTable* prices = t->prices_.get();
  shared->set_pricer([prices](Observation& o) {
    if (!o.model || (!o.input_tokens && !o.output_tokens)) return;
    auto c = prices->ForTokens(*o.model, o.start_us, o.input_tokens.value_or(0), o.output_tokens.value_or(0),
                               o.cached_tokens.value_or(0));
    if (!c) return;
    o.input_cost = c->input;
    o.output_cost = c->output;
    o.total_cost = c->total;
  });
  t->store_ = shared;
  WriterOptions wo;
  wo.queue_capacity = config.queue;
  wo.background = config.writer_background;
  wo.retention = std::chrono::duration_cast<std::chrono::seconds>(config.retention);
  t->writer_ = std::make_shared<Writer>(shared, wo);
  t->metrics_ = std::make_shared<Metrics>();
  t->metrics_->SetWriter(t->writer_.get());
  SinkOptions sink;
  sink.project = config.project;
  sink.capture = CaptureModeOf(config);
  sink.capture_limit = config.capture_limit;
  sink.redact = config.redact;
  t->capture_bytes_.store(sink.capture == CaptureMode::kFull ? config.capture_limit : 0);
  t->sink_ = std::make_shared<GatewaySink>(t->writer_, t->prices_, t->metrics_, sink);
  if (!config.otlp_export.endpoint.empty()) {
    auto exporter = OtlpExporter::Start(config.otlp_export);
    if (!exporter) return exporter.error();
    t->exporter_ = std::move(*exporter);
    t->sink_->set_exporter(t->exporter_);
    t->metrics_->AddCollector([e = t->exporter_.get()](std::string* out) { e->RenderMetrics(out); });
  }
  ApiOptions api;
  for (const auto& p : config.projects) api.projects.push_back({p.name, p.public_key, p.secret_key});
  api.loopback_without_key = loopback_without_key;
  api.local_project = config.project;
  t->api_ = std::make_shared<TelemetryApi>(t->writer_, t->metrics_, api);
  t->metrics_handler_ = std::make_shared<MetricsHandler>(t->metrics_);
  log::Info("telemetry", "store open", {{"path", so.path}, {"queue", config.queue}, {"capture", config.capture}});
  return t;
}

Telemetry::~Telemetry() { Stop(); }

std::vector<gateway::Mount> Telemetry::Mounts() const {
  std::vector<gateway::Mount> mounts;
  for (const auto& prefix : TelemetryApi::Prefixes()) mounts.push_back({prefix, api_});
  mounts.push_back({"/metrics", metrics_handler_});
  return mounts;
}

Result<void> Telemetry::Reload(const config::TelemetryConfig& config) {
  const CaptureMode capture = CaptureModeOf(config);
  if (std::string error = sink_->Reload(capture, config.capture_limit, config.redact); !error.empty()) {
    log::Error("telemetry", "config reload failed; keeping the running telemetry config", {{"error", error}});
    return "telemetry reload: " + error;
  }
  prices_->Replace(PricesFromConfig(config), GpuPricesFromConfig(config));
  capture_bytes_.store(capture == CaptureMode::kFull ? config.capture_limit : 0);
  log::Info("telemetry", "config reloaded", {{"capture", config.capture}, {"prices", config.prices.size()},
                                             {"gpu_prices", config.gpu_prices.size()}, {"redact", config.redact.size()}});
  return {};
}

void Telemetry::Stop() {
  if (writer_) writer_->Stop();
  if (exporter_) exporter_->Stop();
}

}  // namespace ap::telemetry
