// cmd/up_cmd.cc — `agentplane up`: the whole platform on its embedded default, in one process.
//
// Starts the simulated fleet the config describes (`fleet:`), adds each replica as a backend of
// its public model, creates the local data directory, and serves the gateway in local mode
// (loopback clients need no key). Prints the URLs and a ready-to-paste curl command; Ctrl-C
// drains the gateway, then stops the replicas.
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "base/log.h"
#include "cmd/commands.h"
#include "cmd/dashboard.h"
#include "cmd/serve_gateway.h"
#include "config/config.h"
#include "scheduler/scheduler.h"
#include "sim/sim.h"

namespace ap::cmd {
namespace {

// Used when no --config is given and examples/local.yaml is not at hand.
constexpr const char* kDefaultConfig = R"(
server: {host: 127.0.0.1, port: 8080, access_log: text}
fleet:
  - {model: llama-3.1-8b, served_model: meta-llama/Llama-3.1-8B-Instruct, gpu: H100, replicas: 2}
  - {model: llama-3.1-70b, served_model: meta-llama/Llama-3.1-70B-Instruct, gpu: A100-80GB, replicas: 2}
)";

struct UpFlags {
  std::string config_path;
  std::string data_dir = "data";
  int port = -1;
  std::string log_level = "info";
  std::string log_format = "text";
};

struct RunningDeployment {
  config::FleetEntry entry;
  std::unique_ptr<sim::Simulator> simulator;
};

// Adds the replicas of every running deployment to `cfg` as backends of their public model.
void AddFleetBackends(config::Config& cfg, const std::vector<RunningDeployment>& fleet) {
  for (const auto& d : fleet) {
    config::ModelConfig* model = nullptr;
    for (auto& m : cfg.models)
      if (m.name == d.entry.model) model = &m;
    if (!model) {
      cfg.models.push_back({d.entry.model, {}, {}});
      model = &cfg.models.back();
      model->scheduler.emplace();  // a fleet's replicas are scheduled (docs/scheduler.md)
    }
    const auto& ports = d.simulator->ports();
    for (size_t i = 0; i < ports.size(); ++i) {
      config::BackendConfig b;
      b.name = "sim-" + d.entry.model + "-" + std::to_string(i);
      b.url = *config::ParseUrl("http://127.0.0.1:" + std::to_string(ports[i]) + "/v1");
      b.model = d.entry.served_model.empty() ? d.entry.model : d.entry.served_model;
      if (model->scheduler) b.retry.max_attempts = 1;  // a failed try moves to another replica
      cfg.backends.push_back(b);
      model->backends.push_back({b.name, 1});
    }
  }
}

// Prices the simulated replicas by GPU time, as their real counterparts would be: on-demand
// price per GPU-hour (AWS p5 / p4de / p4d / g6 / g5 list prices divided by their GPU count) times
// the GPUs a replica spans. Entries from the config's telemetry.gpu_prices come first and win.
void AddFleetGpuPrices(config::Config& cfg) {
  static const std::map<std::string, double> kPerGpuHour = {
      {"H100", 12.29}, {"A100-80GB", 5.12}, {"A100", 4.10}, {"L4", 0.98}, {"A10G", 1.01}};
  for (const auto& e : cfg.fleet) {
    auto it = kPerGpuHour.find(e.gpu);
    if (it == kPerGpuHour.end()) continue;
    config::TelemetryGpuPriceConfig g;
    std::string escaped;
    for (char c : e.model) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') escaped += '\\';
      escaped += c;
    }
    g.match = "sim-" + escaped + "-[0-9]+";
    g.usd_per_hour = it->second * std::max(1, e.tensor_parallel);
    g.tokens_per_second = 1000;  // assumed until the replica's real throughput was measured
    cfg.telemetry.gpu_prices.push_back(g);
  }
}

void WriteState(const std::string& dir, uint16_t port, const std::vector<RunningDeployment>& fleet) {
  boost::json::object state;
  state["gateway"] = "http://127.0.0.1:" + std::to_string(port);
  state["pid"] = static_cast<int64_t>(::getpid());
  boost::json::array replicas;
  for (const auto& d : fleet)
    for (auto p : d.simulator->ports()) {
      boost::json::object r;
      r["model"] = d.entry.model;
      r["gpu"] = d.entry.gpu;
      r["url"] = "http://127.0.0.1:" + std::to_string(p);
      replicas.push_back(std::move(r));
    }
  state["replicas"] = std::move(replicas);
  std::ofstream(dir + "/up.json") << boost::json::serialize(state) << "\n";
}

int RunUp(const UpFlags& flags) {
  log::Configure(flags.log_level, flags.log_format);
  std::string path = flags.config_path;
  if (path.empty() && std::filesystem::exists("examples/local.yaml")) path = "examples/local.yaml";
  auto loaded = path.empty() ? config::ParseConfig(kDefaultConfig, "<built-in default>")
                             : config::LoadConfigFile(path);
  if (!loaded) {
    std::fprintf(stderr, "error: %s\n", loaded.error().ToString().c_str());
    return 2;
  }
  config::Config cfg = *loaded;
  if (flags.port >= 0) cfg.server.port = static_cast<uint16_t>(flags.port);
  cfg.telemetry.data_dir = flags.data_dir;  // telemetry.db lives in the local data directory
  if (!cfg.telemetry.configured) cfg.telemetry.enabled = true;

  std::error_code ec;
  std::filesystem::create_directories(flags.data_dir, ec);
  if (ec) {
    std::fprintf(stderr, "error: cannot create data directory %s: %s\n", flags.data_dir.c_str(), ec.message().c_str());
    return 1;
  }

  std::vector<RunningDeployment> fleet;
  for (size_t i = 0; i < cfg.fleet.size(); ++i) {
    const auto& e = cfg.fleet[i];
    sim::SimOptions o;
    o.port = 0;
    o.replicas = e.replicas;
    o.gpu = e.gpu;
    o.model = e.served_model.empty() ? e.model : e.served_model;
    o.seed = i + 1;
    o.tensor_parallel = e.tensor_parallel;
    o.time_scale = e.time_scale;
    auto simulator = std::make_unique<sim::Simulator>(o);
    std::string error;
    if (!simulator->Start(&error)) {
      std::fprintf(stderr, "error: fleet[%zu] (%s on %s): %s\n", i, e.model.c_str(), e.gpu.c_str(), error.c_str());
      for (auto& d : fleet) d.simulator->Shutdown(std::chrono::milliseconds(0));
      return 1;
    }
    fleet.push_back({e, std::move(simulator)});
  }
  AddFleetBackends(cfg, fleet);
  AddFleetGpuPrices(cfg);

  ServeOptions options;
  options.config_path = path;
  auto schedulers = std::make_shared<scheduler::SchedulerFactory>();  // models with `scheduler:`
  options.gateway.pickers = schedulers;
  options.metrics_collectors.push_back([schedulers](std::string* out) { schedulers->AppendPrometheus(out); });
  options.gateway.loopback_without_key = true;
  MountDashboard(&options, schedulers);  // /ui and the replica/fleet state it shows
  options.complete_config = [&fleet](config::Config& next) { AddFleetBackends(next, fleet); };
  options.on_ready = [&](uint16_t port) {
    WriteState(flags.data_dir, port, fleet);
    std::string base = "http://127.0.0.1:" + std::to_string(port);
    std::printf("\nagentplane is up (local mode: clients on 127.0.0.1 need no key)\n\n");
    std::printf("  gateway      %s/v1   (OpenAI-compatible)\n", base.c_str());
    std::printf("  health       %s/healthz\n", base.c_str());
    std::printf("  dashboard    %s/ui/\n", base.c_str());
    std::printf("  admin        %s/admin/   (teams, users, keys: agentplane keys create --url %s …)\n", base.c_str(),
                base.c_str());
    for (const auto& d : fleet) {
      std::printf("  model        %-16s %d x %s replicas:", d.entry.model.c_str(), d.entry.replicas, d.entry.gpu.c_str());
      for (auto p : d.simulator->ports()) std::printf(" http://127.0.0.1:%u", p);
      std::printf("\n");
    }
    std::printf("  data         %s\n\n", std::filesystem::absolute(flags.data_dir).c_str());
    std::string model = fleet.empty() ? (cfg.models.empty() ? "MODEL" : cfg.models[0].name) : fleet[0].entry.model;
    std::printf("Try it:\n\n  curl %s/v1/chat/completions -H 'content-type: application/json' \\\n"
                "    -d '{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello!\"}]}'\n\n"
                "Ctrl-C stops everything.\n\n",
                base.c_str(), model.c_str());
    std::fflush(stdout);
  };
  int code = ServeGateway(std::move(cfg), options);
  for (auto& d : fleet) d.simulator->Shutdown(std::chrono::milliseconds(2000));
  for (auto& d : fleet) d.simulator->Wait();
  log::Info("up", "stopped");
  return code;
}

}  // namespace

void AddUpCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<UpFlags>();
  auto* cmd = app.add_subcommand("up", "Start the platform on its embedded default: gateway + simulated GPU fleet");
  cmd->footer(
      "Examples:\n"
      "  agentplane up                                  # examples/local.yaml, or the built-in default\n"
      "  agentplane up --config examples/local.yaml --port 9090 --data-dir /tmp/ap\n");
  cmd->add_option("-c,--config", flags->config_path, "Config with a fleet: section (default examples/local.yaml)");
  cmd->add_option("--data-dir", flags->data_dir, "Local data directory")->capture_default_str();
  cmd->add_option("-p,--port", flags->port, "Gateway port (default from config; 0 picks a free one)");
  cmd->add_option("--log-level", flags->log_level, "debug, info, warn or error")->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  cmd->add_option("--log-format", flags->log_format, "text or json")->check(CLI::IsMember({"text", "json"}));
  cmd->callback([flags, exit_code] { *exit_code = RunUp(*flags); });
}

}  // namespace ap::cmd
