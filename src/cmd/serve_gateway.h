// cmd/serve_gateway.h — runs a gateway until SIGINT/SIGTERM: shared by `agentplane gateway` and
// `agentplane up`, so start-up, readiness output, SIGHUP reload and draining behave the same in
// both. Blocks the calling thread; signals are caught before readiness is announced.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "config/config.h"
#include "gateway/gateway.h"
#include "limits/limiter.h"

namespace ap::cmd {

struct ServeOptions {
  std::string config_path;  // reloaded on SIGHUP; empty: SIGHUP is ignored
  gateway::GatewayOptions gateway;
  // Called once the gateway listens (after `listening on` is printed), with the bound port.
  std::function<void(uint16_t port)> on_ready;
  // Applied to every config loaded on SIGHUP before it is swapped in (for example to add the
  // backends of a simulated fleet that the file does not list).
  std::function<void(config::Config&)> complete_config;
  // Called once the limits module is up, with its limiter (who holds the admin key, which team a
  // key belongs to), for handlers mounted before it existed (the dashboard's state API).
  std::function<void(std::shared_ptr<limits::Limiter>)> on_limits;
  // Extra Prometheus text appended to GET /metrics (other modules' AppendPrometheus).
  std::vector<std::function<void(std::string*)>> metrics_collectors;
};

// Returns the process exit code.
int ServeGateway(config::Config config, const ServeOptions& options);

}  // namespace ap::cmd
