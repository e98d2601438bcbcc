// cmd/serve_gateway.cc
#include "cmd/serve_gateway.h"

#include <cstdio>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "base/log.h"
#include "gateway/access_log.h"
#include "http/server.h"
#include "limits/limits.h"
#include "telemetry/telemetry.h"

namespace ap::cmd {
namespace {
// The listener's own figures for /metrics: connections, requests in flight, and where the
// connections live (docs/gateway.md, "Connection placement").
void AppendServerMetrics(const http::Server& server, std::string* out) {
  auto family = [&](const char* name, const char* type, const char* help) {
    *out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  family("agentplane_http_open_connections", "gauge", "Client connections open.");
  *out += "agentplane_http_open_connections " + std::to_string(server.open_connections()) + "\n";
  family("agentplane_http_active_requests", "gauge", "Requests being handled.");
  *out += "agentplane_http_active_requests " + std::to_string(server.active_requests()) + "\n";
  family("agentplane_http_connections_moved_total", "counter",
         "Connections moved to another event loop between two of their requests.");
  *out += "agentplane_http_connections_moved_total " + std::to_string(server.connections_moved()) + "\n";
  const auto loads = server.worker_loads();
  family("agentplane_http_worker_busy_ratio", "gauge", "Share of the last sample an event loop's thread ran on a CPU.");
  char busy[32];
  for (size_t i = 0; i < loads.size(); ++i) {
    std::snprintf(busy, sizeof busy, "%.3f", loads[i].busy);
    *out += "agentplane_http_worker_busy_ratio{worker=\"" + std::to_string(i) + "\"} " + busy + "\n";
  }
  family("agentplane_http_worker_connections", "gauge", "Client connections an event loop holds.");
  for (size_t i = 0; i < loads.size(); ++i)
    *out += "agentplane_http_worker_connections{worker=\"" + std::to_string(i) + "\"} " +
            std::to_string(loads[i].connections) + "\n";
}
}  // namespace

int ServeGateway(config::Config cfg, const ServeOptions& options) {
  auto table = gateway::RouteTable::Build(cfg, nullptr, options.gateway.pickers.get());
  if (!table) {
    std::fprintf(stderr, "error: %s\n", table.error().c_str());
    return 2;
  }
  // Every request's record goes to the access log and to telemetry (traces, cost, /metrics).
  auto sinks = std::make_shared<gateway::MultiSink>();
  bool any_sink = false;
  if (cfg.server.access_log != "off") {
    sinks->Add(std::make_shared<gateway::AccessLog>(cfg.server.access_log == "json"));
    any_sink = true;
  }
  gateway::GatewayOptions gateway_options = options.gateway;
  std::unique_ptr<telemetry::Telemetry> tel;
  if (cfg.telemetry.enabled) {
    auto started = telemetry::Telemetry::Start(cfg.telemetry, gateway_options.loopback_without_key);
    if (!started) {
      std::fprintf(stderr, "error: telemetry: %s\n", started.error().c_str());
      return 1;
    }
    tel = std::move(*started);
    sinks->Add(tel->sink());
    any_sink = true;
    for (auto& m : tel->Mounts()) gateway_options.mounts.push_back(std::move(m));
    for (const auto& c : options.metrics_collectors) tel->metrics()->AddCollector(c);
    gateway_options.capture_bytes = std::max(gateway_options.capture_bytes, tel->capture_bytes());
    gateway_options.cost_estimator = [sink = tel->sink()](const gateway::CompletionRecord& r) -> std::optional<double> {
      auto cost = sink->CostOf(r);
      return cost ? std::optional<double>(cost->total) : std::nullopt;
    };
  }
  // Keys, teams, rate limits and budgets: with a limits: block, and always in local mode (`up`).
  std::unique_ptr<limits::Service> lim;
  if (cfg.limits.configured || gateway_options.loopback_without_key) {
    limits::ServiceOptions lo;
    lo.data_dir = cfg.limits.data_dir.empty() ? cfg.telemetry.data_dir : cfg.limits.data_dir;
    lo.local_mode = gateway_options.loopback_without_key;
    // Budgets need prices whether or not telemetry records anything: without telemetry, the
    // price table (built-in list prices and the config's overrides) stands alone.
    if (!tel) {
      auto prices = std::make_shared<telemetry::PriceTable>(telemetry::PricesFromConfig(cfg.telemetry),
                                                             std::vector<telemetry::GpuPrice>{});
      gateway_options.cost_estimator = [prices](const gateway::CompletionRecord& r) -> std::optional<double> {
        auto cost = telemetry::CostOfRecord(*prices, r);
        return cost ? std::optional<double>(cost->total) : std::nullopt;
      };
    }
    lo.price = [estimate = gateway_options.cost_estimator](const std::string& model, int64_t prompt,
                                                           int64_t completion) -> std::optional<double> {
      if (!estimate) return std::nullopt;
      gateway::CompletionRecord r;
      r.model = model;
      r.start = std::chrono::system_clock::now();
      r.usage = {prompt, completion, prompt + completion, 0, true};
      return estimate(r);
    };
    auto started = limits::Service::Start(cfg.limits, std::move(lo));
    if (!started) {
      std::fprintf(stderr, "error: %s\n", started.error().c_str());
      return 1;
    }
    lim = std::move(*started);
    gateway_options.admitter = lim->limiter();
    if (options.on_limits) options.on_limits(lim->limiter());
    gateway_options.mounts.push_back(lim->AdminMount());
    if (tel) {
      tel->metrics()->AddCollector([l = lim.get()](std::string* out) { l->AppendPrometheus(out); });
      // Tenancy: a team's key reads its team's traces; the admin key reads every project.
      tel->api()->SetBearerResolver([limiter = lim->limiter(), project = cfg.telemetry.project](
                                        std::string_view token) -> std::optional<telemetry::Tenant> {
        auto id = limiter->Identify(token);
        if (!id) return std::nullopt;
        if (id->admin) return telemetry::Tenant{project, true};
        return telemetry::Tenant{id->project(), false};
      });
    }
  }
  std::shared_ptr<gateway::CompletionSink> sink;
  if (any_sink) sink = sinks;
  auto gw = std::make_shared<gateway::Gateway>(*table, sink, gateway_options);

  http::ServerOptions so;
  so.host = cfg.server.host;
  so.port = cfg.server.port;
  so.threads = cfg.server.threads > 0
                   ? cfg.server.threads
                   : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  so.max_body_bytes = cfg.server.max_body_bytes;
  so.max_header_bytes = cfg.server.max_header_bytes;
  so.read_timeout = cfg.server.read_timeout;
  so.idle_timeout = cfg.server.idle_timeout;
  so.placement.pack = cfg.server.connection_placement == "pack";

  // Signals are caught before "listening on" is printed, so a SIGTERM that arrives right after
  // readiness drains instead of killing the process.
  boost::asio::io_context signals_ctx;
  boost::asio::signal_set signals(signals_ctx, SIGINT, SIGTERM, SIGHUP);
  http::Server server(so, gw);
  if (tel) tel->metrics()->AddCollector([&server](std::string* out) { AppendServerMetrics(server, out); });
  if (!server.Start()) return 1;
  // The writer's background writes stay off the event loops' cores (telemetry/writer.h); cleared
  // before `server` goes, on every path.
  telemetry::KeptOffCpus writer_placement(tel ? tel->writer().get() : nullptr,
                                          [&server] { return server.LoopCpus(); });
  std::string host = so.host.find(':') != std::string::npos ? "[" + so.host + "]" : so.host;
  std::printf("listening on http://%s:%u\n", host.c_str(), server.port());
  std::fflush(stdout);
  log::Info("gateway", "started", {{"port", server.port()}, {"threads", so.threads},
                                   {"backends", cfg.backends.size()}, {"config", cfg.source}});
  if (options.on_ready) options.on_ready(server.port());

  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
          if (options.config_path.empty()) {
            log::Warn("gateway", "SIGHUP ignored: no --config file to reload");
          } else if (auto next = config::LoadConfigFile(options.config_path); !next) {
            log::Error("gateway", "config reload failed; keeping the running config",
                       {{"error", next.error().ToString()}});
          } else {
            if (options.complete_config) options.complete_config(*next);
            std::string error;
            if (gw->Reload(*next, &error)) {
              log::Info("gateway", "config reloaded", {{"config", options.config_path}});
              if (tel) tel->Reload(next->telemetry);  // prices, capture, redaction; logs its outcome
              // Keys, counters and Redis connections are built once at start-up.
              if (!(next->limits == cfg.limits))
                log::Warn("limits", "the limits block changed; it takes effect when the gateway restarts");
            } else {
              log::Error("gateway", "config reload failed; keeping the running config", {{"error", error}});
            }
          }
          signals.async_wait(on_signal);
          return;
        }
        log::Info("gateway", "draining", {{"signal", sig}, {"in_flight", server.active_requests()},
                                          {"drain_timeout_ms", cfg.server.drain_timeout.count()}});
        gw->SetDraining(true);
        server.Shutdown(cfg.server.drain_timeout);
        log::Info("gateway", "stopped");
      };
  signals.async_wait(on_signal);
  signals_ctx.run();
  if (lim) lim->Stop();  // settles and saves the drained requests' spend
  if (tel) tel->Stop();  // commits what the drained requests queued
  return 0;
}

}  // namespace ap::cmd
