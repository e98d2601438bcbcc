// cmd/gateway_cmd.cc — `agentplane gateway`: the OpenAI-compatible gateway on its own.
//
// Loads the config (or builds the quick-start one from --backend), starts the server, prints
// `listening on http://HOST:PORT` once ready, reloads the config on SIGHUP (a bad file is
// reported and the running config kept) and drains on SIGTERM/SIGINT.
#include <cstdio>
#include <iostream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "base/log.h"
#include "cmd/commands.h"
#include "config/config.h"
#include "gateway/access_log.h"
#include "gateway/gateway.h"
#include "http/server.h"

namespace ap::cmd {
namespace {

struct GatewayFlags {
  std::string config_path;
  std::string backend_url;
  std::string backend_key_env;
  std::string host;
  int port = -1;
  int threads = -1;
  std::string access_log;
  std::string log_format = "text";
  std::string log_level = "info";
};

int RunGateway(const GatewayFlags& flags) {
  log::SetJson(flags.log_format == "json");
  if (flags.log_level == "debug") log::SetLevel(log::Level::kDebug);
  else if (flags.log_level == "warn") log::SetLevel(log::Level::kWarn);
  else if (flags.log_level == "error") log::SetLevel(log::Level::kError);

  config::ConfigResult loaded = [&]() -> config::ConfigResult {
    if (!flags.config_path.empty()) return config::LoadConfigFile(flags.config_path);
    if (!flags.backend_url.empty()) return config::SingleBackendConfig(flags.backend_url, flags.backend_key_env);
    return config::ConfigError{"agentplane gateway", 0, "", "give --config FILE or --backend URL"};
  }();
  if (!loaded) {
    std::fprintf(stderr, "error: %s\n", loaded.error().ToString().c_str());
    return 2;
  }
  config::Config cfg = *loaded;
  if (!flags.host.empty()) cfg.server.host = flags.host;
  if (flags.port >= 0) cfg.server.port = static_cast<uint16_t>(flags.port);
  if (flags.threads >= 0) cfg.server.threads = flags.threads;
  if (!flags.access_log.empty()) cfg.server.access_log = flags.access_log;

  auto table = gateway::RouteTable::Build(cfg, nullptr);
  if (!table) {
    std::fprintf(stderr, "error: %s\n", table.error().c_str());
    return 2;
  }
  std::shared_ptr<gateway::CompletionSink> sink;
  if (cfg.server.access_log != "off") sink = std::make_shared<gateway::AccessLog>(cfg.server.access_log == "json");
  auto gw = std::make_shared<gateway::Gateway>(*table, sink);

  http::ServerOptions so;
  so.host = cfg.server.host;
  so.port = cfg.server.port;
  so.threads = cfg.server.threads > 0 ? cfg.server.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  so.max_body_bytes = cfg.server.max_body_bytes;
  so.max_header_bytes = cfg.server.max_header_bytes;
  so.read_timeout = cfg.server.read_timeout;
  so.idle_timeout = cfg.server.idle_timeout;
  // Signals are blocked into the signal_set before "listening on" is printed, so a SIGTERM that
  // arrives right after readiness drains instead of killing the process.
  boost::asio::io_context signals_ctx;
  boost::asio::signal_set signals(signals_ctx, SIGINT, SIGTERM, SIGHUP);
  http::Server server(so, gw);
  if (!server.Start()) return 1;
  std::string host = so.host.find(':') != std::string::npos ? "[" + so.host + "]" : so.host;
  std::printf("listening on http://%s:%u\n", host.c_str(), server.port());
  std::fflush(stdout);
  log::Info("gateway", "started", {{"port", server.port()}, {"threads", so.threads},
                                   {"backends", cfg.backends.size()}, {"config", cfg.source}});

  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
          if (flags.config_path.empty()) {
            log::Warn("gateway", "SIGHUP ignored: no --config file to reload");
          } else if (auto next = config::LoadConfigFile(flags.config_path); !next) {
            log::Error("gateway", "config reload failed; keeping the running config",
                       {{"error", next.error().ToString()}});
          } else {
            std::string error;
            if (gw->Reload(*next, &error)) log::Info("gateway", "config reloaded", {{"config", flags.config_path}});
            else log::Error("gateway", "config reload failed; keeping the running config", {{"error", error}});
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

}  // namespace

void AddGatewayCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<GatewayFlags>();
  auto* cmd = app.add_subcommand("gateway", "Run the OpenAI-compatible gateway");
  cmd->footer(
      "Examples:\n"
      "  agentplane gateway --port 8080 --backend http://127.0.0.1:8000/v1\n"
      "  OPENAI_API_KEY=sk-... agentplane gateway --backend https://api.openai.com/v1 --backend-key-env OPENAI_API_KEY\n"
      "  agentplane gateway --config examples/gateway.yaml      # reload with: kill -HUP <pid>\n"
      "  curl http://127.0.0.1:8080/v1/chat/completions -H 'content-type: application/json' \\\n"
      "       -d '{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}'\n");
  cmd->add_option("-c,--config", flags->config_path, "YAML config file (see docs/configuration.md)");
  cmd->add_option("--backend", flags->backend_url, "Quick start: route every model to this OpenAI-compatible base URL");
  cmd->add_option("--backend-key-env", flags->backend_key_env, "Environment variable holding the --backend API key");
  cmd->add_option("--host", flags->host, "Listen address (default from config, else 127.0.0.1)");
  cmd->add_option("-p,--port", flags->port, "Listen port; 0 picks a free one (default from config, else 8080)");
  cmd->add_option("--threads", flags->threads, "Event-loop threads; 0 = one per core");
  cmd->add_option("--access-log", flags->access_log, "Access log: text, json or off")->check(CLI::IsMember({"text", "json", "off"}));
  cmd->add_option("--log-format", flags->log_format, "Log format: text or json")->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("--log-level", flags->log_level, "debug, info, warn or error")->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  cmd->callback([flags, exit_code] { *exit_code = RunGateway(*flags); });
}

}  // namespace ap::cmd
