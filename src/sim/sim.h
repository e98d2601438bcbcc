// sim/sim.h — the public face of the vLLM-compatible engine simulator (`agentplane sim`).
//
// A Simulator runs N replicas; each replica is one simulated engine behind its own
// ap::http::Server on its own port, with one event-loop thread that runs both the HTTP
// connections and the engine's step timer, so a replica needs no locks. The simulator is a test
// double for GPU servers: it must never pretend to be more than that (no real inference), and it
// must stay deterministic for a given seed so tests and benchmarks can be repeated.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/server.h"
#include "sim/profiles.h"

namespace ap::sim {

struct SimOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8000;  // replica i listens on port + i; 0: each picks a free port
  int replicas = 1;
  std::string gpu = "H100";
  std::string model = "meta-llama/Llama-3.1-8B-Instruct";
  uint64_t seed = 0;
  int tensor_parallel = 0;  // 0: the usual degree for the model on this GPU
  double gpu_memory_utilization = 0.9;
  int max_num_seqs = 256;
  int max_num_batched_tokens = 8192;
  int max_model_len = 32768;
  int max_loras = 1;
  int default_max_tokens = 128;
  int embedding_dim = 768;
  // Failure injection.
  double error_rate = 0;          // fraction of generation requests answered 500
  double latency_spike_rate = 0;  // fraction delayed by latency_spike before the first byte
  std::chrono::milliseconds latency_spike{2000};
  double drop_rate = 0;  // fraction of streams cut mid-way by closing the connection
  // Real seconds per simulated second (0.1 runs ten times faster than the hardware would).
  double time_scale = 1.0;
  std::string hostname;  // DCGM Hostname label; empty: this machine's name
};

// The engine configuration for `options` (GPU, model, tensor parallelism, limits).
std::optional<EngineConfig> BuildEngineConfig(const SimOptions& options, std::string* error);

// The HTTP handler of replica `index`. It must be served by a Server with exactly one thread.
std::shared_ptr<http::Handler> MakeReplicaHandler(const SimOptions& options,
                                                  const EngineConfig& config, int index);

class Simulator {
 public:
  explicit Simulator(SimOptions options);
  ~Simulator();
  // Starts every replica; false (with *error) when the config is invalid or a port is taken.
  bool Start(std::string* error);
  const std::vector<uint16_t>& ports() const { return ports_; }
  const EngineConfig& config() const { return *config_; }
  void Shutdown(std::chrono::milliseconds drain);
  void Wait();

 private:
  SimOptions options_;
  std::optional<EngineConfig> config_;
  std::vector<std::unique_ptr<http::Server>> servers_;
  std::vector<uint16_t> ports_;
};

}  // namespace ap::sim
