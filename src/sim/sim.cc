// sim/sim.cc — replicas: one engine config, one handler and one single-threaded server each.
#include "sim/sim.h"

#include "base/log.h"
#include "sim/internal/replica.h"

namespace ap::sim {

std::optional<EngineConfig> BuildEngineConfig(const SimOptions& o, std::string* error) {
  auto gpu = FindGpu(o.gpu);
  if (!gpu) {
    std::string names;
    for (const auto& g : GpuProfiles()) names.append(names.empty() ? "" : ", ").append(g.name);
    *error = "unknown GPU '" + o.gpu + "' (known: " + names + ")";
    return std::nullopt;
  }
  if (o.gpu_memory_utilization <= 0 || o.gpu_memory_utilization > 1) {
    *error = "--gpu-memory-utilization must be in (0, 1]";
    return std::nullopt;
  }
  auto c = MakeEngineConfig(*gpu, ModelForName(o.model), o.tensor_parallel,
                            o.gpu_memory_utilization, error);
  if (!c) return std::nullopt;
  c->max_num_seqs = std::max(1, o.max_num_seqs);
  c->max_num_batched_tokens = std::max(c->block_size, o.max_num_batched_tokens);
  c->max_model_len = static_cast<int>(
      std::min<int64_t>(o.max_model_len, c->num_gpu_blocks * c->block_size));
  c->max_loras = std::max(1, o.max_loras);
  return c;
}

std::shared_ptr<http::Handler> MakeReplicaHandler(const SimOptions& options,
                                                  const EngineConfig& config, int index) {
  return std::make_shared<internal::ReplicaHandler>(options, config, index);
}

Simulator::Simulator(SimOptions options) : options_(std::move(options)) {}

Simulator::~Simulator() { Shutdown(std::chrono::milliseconds(0)); }

bool Simulator::Start(std::string* error) {
  config_ = BuildEngineConfig(options_, error);
  if (!config_) return false;
  if (options_.replicas < 1 || options_.time_scale <= 0) {
    *error = "--replicas must be at least 1 and --time-scale positive";
    return false;
  }
  for (int i = 0; i < options_.replicas; ++i) {
    http::ServerOptions so;
    so.host = options_.host;
    so.port = options_.port == 0 ? 0 : static_cast<uint16_t>(options_.port + i);
    so.threads = 1;  // the engine lives on this one loop
    so.idle_timeout = std::chrono::milliseconds(300'000);
    so.write_timeout = std::chrono::milliseconds(300'000);
    auto server = std::make_unique<http::Server>(so, MakeReplicaHandler(options_, *config_, i));
    if (!server->Start()) {
      *error = "cannot listen on " + options_.host + ":" + std::to_string(so.port);
      Shutdown(std::chrono::milliseconds(0));
      return false;
    }
    ports_.push_back(server->port());
    servers_.push_back(std::move(server));
  }
  log::Info("sim", "simulator started",
            {{"gpu", config_->gpu.name}, {"model", options_.model},
             {"tensor_parallel", config_->tensor_parallel},
             {"num_gpu_blocks", config_->num_gpu_blocks}, {"replicas", options_.replicas}});
  return true;
}

void Simulator::Shutdown(std::chrono::milliseconds drain) {
  for (auto& s : servers_) s->Shutdown(drain);
}

void Simulator::Wait() {
  for (auto& s : servers_) s->Wait();
}

}  // namespace ap::sim
