// cmd/serve_gateway.cc
#include "cmd/serve_gateway.h"

#include <cstdio>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "base/log.h"
#include "gateway/access_log.h"
#include "http/server.h"

namespace ap::cmd {

int ServeGateway(config::Config cfg, const ServeOptions& options) {
  auto table = gateway::RouteTable::Build(cfg, nullptr, options.gateway.pickers.get());
  if (!table) {
    std::fprintf(stderr, "error: %s\n", table.error().c_str());
    return 2;
  }
  std::shared_ptr<gateway::CompletionSink> sink;
  if (cfg.server.access_log != "off")
    sink = std::make_shared<gateway::AccessLog>(cfg.server.access_log == "json");
  auto gw = std::make_shared<gateway::Gateway>(*table, sink, options.gateway);

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

  // Signals are caught before "listening on" is printed, so a SIGTERM that arrives right after
  // readiness drains instead of killing the process.
  boost::asio::io_context signals_ctx;
  boost::asio::signal_set signals(signals_ctx, SIGINT, SIGTERM, SIGHUP);
  http::Server server(so, gw);
  if (!server.Start()) return 1;
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
            if (gw->Reload(*next, &error))
              log::Info("gateway", "config reloaded", {{"config", options.config_path}});
            else
              log::Error("gateway", "config reload failed; keeping the running config", {{"error", error}});
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
  return 0;
}

}  // namespace ap::cmd
