// gateway/gateway.h — the gateway's http::Handler: endpoints, auth, request ids, hand-off to the
// proxy, and the completion record at the end of every request.
//
// Runs on the server's worker threads and never blocks them: everything slow is awaited. The
// routing state is an immutable RouteTable behind an atomic shared_ptr: Reload() swaps it (SIGHUP)
// while requests in flight finish on the table they started with.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <memory>
#include <string>

#include "gateway/admission.h"
#include "gateway/completion.h"
#include "gateway/route_table.h"
#include "http/server.h"

namespace ap::gateway {

// Another module's endpoints served on the gateway's port: telemetry's ingestion and query APIs,
// /metrics, the dashboard. The mounted handler does its own authentication.
struct Mount {
  std::string path_prefix;  // e.g. "/api/public/"
  std::shared_ptr<http::Handler> handler;
};

struct GatewayOptions {
  // Local mode (`agentplane up`): clients on loopback need no key even when keys are configured.
  bool loopback_without_key = false;
  uint64_t max_response_bytes = 64ull << 20;  // non-streaming upstream bodies
  uint64_t capture_bytes = 0;  // payload capture into the completion record; 0: off
  std::vector<Mount> mounts;                  // matched by path prefix before the OpenAI API
  std::shared_ptr<PickerFactory> pickers;     // schedulers for models; used again on Reload
  // The request's cost in USD once its usage is known (telemetry's price table); when it returns
  // a value, non-streaming replies carry it as `x-agentplane-cost-usd`.
  std::function<std::optional<double>(const CompletionRecord&)> cost_estimator;
  // Keys, teams, rate limits and budgets (the limits module); null: only the config's static keys.
  std::shared_ptr<Admitter> admitter;
};

class Gateway : public http::Handler {
 public:
  Gateway(std::shared_ptr<const RouteTable> table, std::shared_ptr<CompletionSink> sink,
          GatewayOptions options = {});

  // Builds a new table from `config` and swaps it in; on error keeps the old one.
  bool Reload(const config::Config& config, std::string* error);
  void SetDraining(bool draining) { draining_ = draining; }
  std::shared_ptr<const RouteTable> table() const { return table_.load(); }

  http::net::awaitable<void> Handle(http::Request& request, http::Responder& responder) override;
  http::Response ProtocolError(http::Status status, std::string_view message) override;

 private:
  // Static keys of the config first, then the admitter's keys. Fills `caller` on success.
  std::optional<api::ApiError> Authenticate(const http::Request& request, const http::Responder& responder,
                                            const RouteTable& table, Caller* caller) const;

  std::atomic<std::shared_ptr<const RouteTable>> table_;
  std::shared_ptr<CompletionSink> sink_;
  GatewayOptions options_;
  std::atomic<bool> draining_{false};
};

// Reads the W3C traceparent ("00-<32 hex trace>-<16 hex span>-<2 hex flags>"); false if malformed.
bool ParseTraceparent(std::string_view value, std::string* trace_id, std::string* span_id);

// A stable, non-reversible name for a client key, safe to log and store ("key-" + 12 hex).
std::string KeyIdFor(std::string_view key);

// Accepts a client's x-request-id when it is 1–128 characters of [A-Za-z0-9._:-]; else mints one.
std::string RequestIdFor(std::string_view incoming);

}  // namespace ap::gateway
