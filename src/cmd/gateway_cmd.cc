// cmd/gateway_cmd.cc — `agentplane gateway`: the OpenAI-compatible gateway on its own.
//
// Loads the config (or builds the quick-start one from --backend) and serves it (serve_gateway.h:
// `listening on http://HOST:PORT` once ready, SIGHUP reload keeping the running config when the
// new file is bad, drain on SIGTERM/SIGINT).
#include <cstdio>

#include "base/log.h"
#include "cmd/commands.h"
#include "cmd/dashboard.h"
#include "cmd/serve_gateway.h"
#include "config/config.h"
#include "scheduler/scheduler.h"

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
  log::Configure(flags.log_level, flags.log_format);
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
  ServeOptions options;
  options.config_path = flags.config_path;
  auto schedulers = std::make_shared<scheduler::SchedulerFactory>();  // models with `scheduler:`
  options.gateway.pickers = schedulers;
  options.metrics_collectors.push_back([schedulers](std::string* out) { schedulers->AppendPrometheus(out); });
  MountDashboard(&options, schedulers);  // /ui and the replica/fleet state it shows
  return ServeGateway(std::move(cfg), options);
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
