// telemetry/exporter.cc — see exporter.h. The exporter thread runs its own small io_context for
// each POST (http::UpstreamConnection gives plain TCP or TLS with the gateway's timeouts), so no
// event loop of the gateway ever waits on a collector.
#include "telemetry/exporter.h"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>

#include "base/log.h"
#include "base/thread.h"
#include "http/client.h"

namespace ap::telemetry {
namespace json = boost::json;
namespace net = http::net;
namespace bhttp = http::bhttp;

namespace {

int64_t Nanos(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// gen_ai.operation.name for the OpenAI-compatible paths.
std::string OperationOf(const std::string& path) {
  if (path.ends_with("/chat/completions") || path.ends_with("/messages")) return "chat";
  if (path.ends_with("/completions")) return "text_completion";
  if (path.ends_with("/embeddings")) return "embeddings";
  return "chat";
}

json::object Attribute(const std::string& key, const ExportSpan::Value& v) {
  json::object value;
  if (auto* s = std::get_if<std::string>(&v)) value["stringValue"] = *s;
  else if (auto* i = std::get_if<int64_t>(&v)) value["intValue"] = std::to_string(*i);  // int64: a string
  else if (auto* d = std::get_if<double>(&v)) value["doubleValue"] = *d;
  else value["boolValue"] = std::get<bool>(v);
  return json::object{{"key", key}, {"value", std::move(value)}};
}

constexpr auto kUse = net::as_tuple(net::use_awaitable);

}  // namespace

ExportSpan SpanOf(const gateway::CompletionRecord& r, const std::optional<Cost>& cost) {
  ExportSpan s;
  s.trace_id = r.trace_id;
  s.span_id = r.span_id;
  s.parent_span_id = r.parent_span_id;
  const std::string op = OperationOf(r.path);
  s.name = r.model.empty() ? op : op + " " + r.model;
  s.start_ns = Nanos(r.start);
  s.end_ns = s.start_ns + std::max<int64_t>(1, r.duration.count()) * 1000;
  auto add = [&](const char* key, ExportSpan::Value v) { s.attributes.emplace_back(key, std::move(v)); };
  add("gen_ai.operation.name", op);
  if (!r.model.empty()) add("gen_ai.request.model", r.model);
  if (!r.backend_model.empty()) add("gen_ai.response.model", r.backend_model);
  if (r.usage.known) {
    add("gen_ai.usage.input_tokens", r.usage.prompt_tokens);
    add("gen_ai.usage.output_tokens", r.usage.completion_tokens);
    if (r.usage.cached_tokens) add("gen_ai.usage.cache_read_input_tokens", r.usage.cached_tokens);
  }
  if (!r.user.empty()) add("user.id", r.user);
  if (!r.session_id.empty()) add("session.id", r.session_id);
  add("http.request.method", r.method.empty() ? std::string("POST") : r.method);
  add("url.path", r.path);
  add("http.response.status_code", int64_t{r.status});
  if (r.first_byte.count() >= 0)
    add("gen_ai.server.time_to_first_token", static_cast<double>(r.first_byte.count()) / 1e6);
  if (!r.request_id.empty()) add("agentplane.request_id", r.request_id);
  if (!r.backend.empty()) add("agentplane.backend", r.backend);
  if (!r.route.empty()) add("agentplane.route", r.route);
  if (!r.team.empty()) add("agentplane.team", r.team);
  if (!r.key_id.empty()) add("agentplane.key_id", r.key_id);
  add("agentplane.stream", r.stream);
  add("agentplane.attempts", int64_t{r.attempts});
  if (cost) add("agentplane.cost_usd", cost->total);
  if (r.status >= 400) {
    s.error = true;
    s.status_message = r.error.empty() ? "HTTP " + std::to_string(r.status) : r.error;
  }
  return s;
}

std::string EncodeOtlpJson(const std::vector<ExportSpan>& spans, const std::string& service_name) {
  json::array out;
  for (const auto& s : spans) {
    json::object span;
    span["traceId"] = s.trace_id;
    span["spanId"] = s.span_id;
    if (!s.parent_span_id.empty()) span["parentSpanId"] = s.parent_span_id;
    span["name"] = s.name;
    span["kind"] = s.kind;
    span["startTimeUnixNano"] = std::to_string(s.start_ns);
    span["endTimeUnixNano"] = std::to_string(s.end_ns);
    json::array attrs;
    for (const auto& [k, v] : s.attributes) attrs.push_back(Attribute(k, v));
    span["attributes"] = std::move(attrs);
    json::object status{{"code", s.error ? 2 : 1}};  // STATUS_CODE_ERROR / STATUS_CODE_OK
    if (!s.status_message.empty()) status["message"] = s.status_message;
    span["status"] = std::move(status);
    out.push_back(std::move(span));
  }
  json::object resource{{"attributes", json::array{Attribute("service.name", service_name)}}};
  json::object scope{{"scope", json::object{{"name", "agentplane.gateway"}}}, {"spans", std::move(out)}};
  json::object rs{{"resource", std::move(resource)}, {"scopeSpans", json::array{std::move(scope)}}};
  return json::serialize(json::object{{"resourceSpans", json::array{std::move(rs)}}});
}

// Where the POSTs go.
struct OtlpExporter::Target {
  http::Endpoint endpoint;
  std::string host_header;
  std::string path;
};

Result<std::unique_ptr<OtlpExporter>> OtlpExporter::Start(const config::TelemetryExportConfig& config) {
  auto url = config::ParseUrl(config.endpoint);
  if (!url) return "telemetry.export.endpoint: " + url.error();
  std::unique_ptr<OtlpExporter> e(new OtlpExporter(config));
  e->target_ = std::make_unique<Target>();
  auto& t = *e->target_;
  t.endpoint.host = url->host;
  t.endpoint.port = url->port;
  t.endpoint.key = config.endpoint;
  if (url->tls) {
    std::string error;
    t.endpoint.tls = http::MakeClientTlsContext("", true, &error);
    if (!t.endpoint.tls) return "telemetry.export: TLS: " + error;
  }
  t.host_header = url->HostHeader();
  t.path = url->base_path.empty() ? "/v1/traces" : url->base_path;
  e->thread_ = std::thread([raw = e.get()] {
    base::NameThisThread("ap-otlp-export");
    raw->Run();
  });
  // Host and port only: an endpoint's query string may carry a token.
  std::string shown = config.endpoint.substr(0, config.endpoint.find('?'));
  log::Info("telemetry", "OTLP export on", {{"endpoint", shown}, {"batch_size", config.batch_size}});
  return e;
}

OtlpExporter::OtlpExporter(const config::TelemetryExportConfig& config) : config_(config) {}

OtlpExporter::~OtlpExporter() { Stop(); }

bool OtlpExporter::Enqueue(ExportSpan span) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= config_.queue) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    queue_.push_back(std::move(span));
    ++enqueued_;
    wake = queue_.size() >= config_.batch_size;
  }
  if (wake) wake_.notify_one();
  return true;
}

int64_t OtlpExporter::depth() const {
  std::lock_guard lock(mu_);
  return static_cast<int64_t>(queue_.size());
}

void OtlpExporter::Flush() {
  std::unique_lock lock(mu_);
  const uint64_t target = enqueued_;
  flush_target_ = std::max(flush_target_, target);
  wake_.notify_one();
  flushed_.wait(lock, [&] { return finished_ >= target || exited_; });
}

void OtlpExporter::Stop() {
  std::thread thread;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    thread.swap(thread_);  // only one caller joins: a second Stop() finds nothing to join
  }
  wake_.notify_one();
  if (thread.joinable()) thread.join();
}

void OtlpExporter::Run() {
  for (;;) {
    std::vector<ExportSpan> batch;
    bool stopping;
    {
      std::unique_lock lock(mu_);
      // A batch leaves when it is full, when its oldest span waited `interval`, on Flush, or at
      // shutdown.
      wake_.wait_for(lock, config_.interval, [&] {
        return stopping_ || queue_.size() >= config_.batch_size || (!queue_.empty() && flush_target_ > finished_);
      });
      stopping = stopping_;
      if (stopping && collector_down_ && !queue_.empty()) {
        // Shutting down and the collector already failed: drop the rest instead of waiting a
        // timeout per batch.
        dropped_.fetch_add(static_cast<int64_t>(queue_.size()), std::memory_order_relaxed);
        finished_ += queue_.size();
        queue_.clear();
      }
      if (queue_.empty()) {
        if (stopping) {
          exited_ = true;
          break;
        }
        continue;
      }
      size_t n = std::min<size_t>(queue_.size(), config_.batch_size);
      batch.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    const size_t n = batch.size();
    Deliver(std::move(batch));
    {
      std::lock_guard lock(mu_);
      finished_ += n;
    }
    flushed_.notify_all();
  }
  flushed_.notify_all();
}

void OtlpExporter::Deliver(std::vector<ExportSpan> batch) {
  const std::string body = EncodeOtlpJson(batch, "agentplane");
  const int64_t n = static_cast<int64_t>(batch.size());
  auto backoff = std::chrono::milliseconds(100);
  for (int attempt = 0;; ++attempt) {
    const int status = Post(body);
    if (status >= 200 && status < 300) {
      exported_.fetch_add(n, std::memory_order_relaxed);
      return;
    }
    failed_requests_.fetch_add(1, std::memory_order_relaxed);
    const bool retryable = status == 0 || status == 429 || status >= 500;
    bool stopping;
    {
      std::lock_guard lock(mu_);
      stopping = stopping_;
    }
    if (!retryable || attempt >= config_.max_retries || stopping) {
      if (stopping) {
        std::lock_guard lock(mu_);
        collector_down_ = true;
      }
      dropped_.fetch_add(n, std::memory_order_relaxed);
      log::Warn("telemetry", "OTLP export dropped a batch",
                {{"spans", n}, {"status", status}, {"attempts", attempt + 1},
                 {"endpoint", config_.endpoint.substr(0, config_.endpoint.find('?'))}});
      return;
    }
    // Backoff, cut short by Stop() (then one last attempt is all shutdown waits for).
    std::unique_lock lock(mu_);
    wake_.wait_for(lock, backoff, [&] { return stopping_; });
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(5));
  }
}

int OtlpExporter::Post(const std::string& body) {
  net::io_context ioc;
  int status = 0;
  const auto& t = *target_;
  const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(config_.timeout);
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        http::UpstreamConnection conn(co_await net::this_coro::executor, t.endpoint);
        if (auto ec = co_await conn.Connect(t.endpoint, timeout)) co_return;
        bhttp::request<bhttp::string_body> req{bhttp::verb::post, t.path, 11};
        req.set(bhttp::field::host, t.host_header);
        req.set(bhttp::field::content_type, "application/json");
        req.set(bhttp::field::user_agent, "agentplane-otlp-exporter");
        for (const auto& [name, value] : config_.headers) req.set(name, value);
        req.keep_alive(false);
        req.body() = body;
        req.prepare_payload();
        conn.SetDeadline(std::chrono::steady_clock::now() + timeout);
        auto [wec, written] = co_await conn.WithStream([&](auto& s) { return bhttp::async_write(s, req, kUse); });
        if (wec) co_return;
        bhttp::response<bhttp::string_body> res;
        auto [rec, read] = co_await conn.WithStream([&](auto& s) { return bhttp::async_read(s, conn.buffer, res, kUse); });
        if (rec) co_return;
        status = res.result_int();
      },
      net::detached);
  ioc.run();
  return status;
}

void OtlpExporter::RenderMetrics(std::string* out) const {
  *out += "# HELP agentplane_telemetry_export_spans_total Gateway spans exported to the OTLP collector.\n"
          "# TYPE agentplane_telemetry_export_spans_total counter\n"
          "agentplane_telemetry_export_spans_total " + std::to_string(exported()) + "\n"
          "# HELP agentplane_telemetry_export_dropped_spans_total Gateway spans dropped: export queue full, or a batch failed after its retries.\n"
          "# TYPE agentplane_telemetry_export_dropped_spans_total counter\n"
          "agentplane_telemetry_export_dropped_spans_total " + std::to_string(dropped()) + "\n"
          "# HELP agentplane_telemetry_export_failed_requests_total OTLP export requests that failed (each retry counts).\n"
          "# TYPE agentplane_telemetry_export_failed_requests_total counter\n"
          "agentplane_telemetry_export_failed_requests_total " + std::to_string(failed_requests()) + "\n"
          "# HELP agentplane_telemetry_export_queue_depth Gateway spans waiting for export.\n"
          "# TYPE agentplane_telemetry_export_queue_depth gauge\n"
          "agentplane_telemetry_export_queue_depth " + std::to_string(depth()) + "\n";
}

}  // namespace ap::telemetry
