// telemetry/api.h — telemetry's HTTP endpoints, served on the gateway's port through mounts:
//
//   POST /api/public/ingestion            Langfuse ingestion (Basic auth: public:secret key)
//   GET  /api/public/traces[/{id}]        Langfuse-compatible reads, page/limit paging
//   GET  /api/public/observations[/{id}]
//   GET  /api/public/sessions[/{id}]
//   GET  /api/public/scores[/{id}]       (and /api/public/v2/scores) filters, page paging
//   GET  /api/telemetry/traces            JSON API: filters (from, to, user, session, model, tag,
//   GET  /api/telemetry/traces/{id}         status), cursor paging; one trace as a tree
//   GET  /api/telemetry/sessions
//   GET  /api/telemetry/usage             usage and cost grouped by model, user, team, key, day
//   POST /v1/traces                       OTLP/HTTP traces (JSON or protobuf, gzip allowed)
//   GET  /metrics                         Prometheus text (MetricsHandler)
//
// The event loop never touches the database: reads run on a small query pool (2 threads) and
// ingestion awaits the writer's commit callback, so a 207 acknowledges only committed events.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "http/server.h"
#include "telemetry/metrics.h"
#include "telemetry/writer.h"

namespace ap::telemetry {

struct Project {
  std::string name;
  std::string public_key;
  std::string secret_key;
};

// Whom a request's credentials name: one project (a tenant: a Langfuse project or a team), or
// every project (the admin key, and loopback clients in local mode).
struct Tenant {
  std::string project;  // where ingested events go
  bool all = false;     // reads see every project
};

struct ApiOptions {
  std::vector<Project> projects;
  // Resolves `Authorization: Bearer <token>` / `x-api-key` (virtual keys, the admin key); unset or
  // nullopt: not a valid token.
  std::function<std::optional<Tenant>(std::string_view token)> resolve_bearer;
  // Local mode: loopback clients without credentials act as `local_project`.
  bool loopback_without_key = false;
  std::string local_project = "default";
  int query_threads = 2;
};

class TelemetryApi : public http::Handler {
 public:
  TelemetryApi(std::shared_ptr<Writer> writer, std::shared_ptr<Metrics> metrics, ApiOptions options);
  ~TelemetryApi() override;

  http::net::awaitable<void> Handle(http::Request& request, http::Responder& responder) override;
  http::Response ProtocolError(http::Status status, std::string_view message) override;

  // Set before the server starts (the limits module resolves virtual keys and the admin key).
  void SetBearerResolver(std::function<std::optional<Tenant>(std::string_view)> resolve) {
    options_.resolve_bearer = std::move(resolve);
  }

  // The path prefixes to mount on the gateway.
  static std::vector<std::string> Prefixes() { return {"/api/public/", "/api/telemetry/", "/v1/traces"}; }

 private:
  // The tenant the request's credentials name; nullopt when they name none.
  std::optional<Tenant> Authenticate(const http::Request& request, const http::Responder& responder) const;
  http::net::awaitable<void> Ingest(http::Request& request, http::Responder& responder, std::string project);
  http::net::awaitable<void> IngestOtlp(http::Request& request, http::Responder& responder, std::string project);

  std::shared_ptr<Writer> writer_;
  std::shared_ptr<Metrics> metrics_;
  ApiOptions options_;
  boost::asio::thread_pool pool_;
};

class MetricsHandler : public http::Handler {
 public:
  explicit MetricsHandler(std::shared_ptr<Metrics> metrics) : metrics_(std::move(metrics)) {}
  http::net::awaitable<void> Handle(http::Request& request, http::Responder& responder) override;
  http::Response ProtocolError(http::Status status, std::string_view message) override;

 private:
  std::shared_ptr<Metrics> metrics_;
};

}  // namespace ap::telemetry
