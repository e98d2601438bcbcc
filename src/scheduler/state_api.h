// scheduler/state_api.h — the scheduler's live state as JSON for the dashboard, served on the
// gateway's port (mounted by cmd):
//
//   GET /api/scheduler/replicas  every scheduled model: queue, refusals, estimated prefix hit
//                                ratio, recent picks; per replica health, freshness, waiting and
//                                running requests, KV-cache use, vLLM's prefix-cache hit rate,
//                                in-flight requests and picks
//   GET /api/fleet/gpus          the GPUs behind the replicas (DCGM-exporter series the scraper
//                                already fetched), grouped by cluster and node
//
// Operator data: it shows every tenant's load, so only the admin key (or, in local mode, a
// loopback client without a key) may read it; other keys get 403. Answers are built from the
// scraper's atomics on the calling event loop: no I/O, no waiting.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "http/server.h"
#include "scheduler/scheduler.h"

namespace ap::scheduler {

struct StateApiOptions {
  bool loopback_without_key = false;  // local mode
  // Whether a bearer token is the operator's (admin) key; unset: no key is.
  std::function<bool(std::string_view token)> is_admin;
};

class StateApi : public http::Handler {
 public:
  StateApi(std::shared_ptr<const SchedulerFactory> factory, StateApiOptions options)
      : factory_(std::move(factory)), options_(std::move(options)) {}

  http::net::awaitable<void> Handle(http::Request& request, http::Responder& responder) override;
  http::Response ProtocolError(http::Status status, std::string_view message) override;

  // The JSON bodies (for tests and Handle).
  std::string ReplicasJson() const;
  std::string FleetJson() const;

  static std::vector<std::string> Prefixes() { return {"/api/scheduler/", "/api/fleet/"}; }

 private:
  std::shared_ptr<const SchedulerFactory> factory_;
  StateApiOptions options_;
};

}  // namespace ap::scheduler
