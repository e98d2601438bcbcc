// sim/profiles.h — the simulated hardware and model: GPU datasheet figures, model shapes, and the
// engine configuration derived from them (KV-cache size in blocks, step-time formulas).
//
// Every number here comes from a vendor datasheet or a model's config.json and is documented
// with its formula in docs/sim.md; the simulator must never invent a figure that is not traceable
// there. This file is pure arithmetic: no clocks, no I/O, no randomness.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ap::sim {

struct GpuProfile {
  std::string name;        // the --gpu flag value, e.g. "H100"
  std::string model_name;  // as nvidia-smi / DCGM report it, e.g. "NVIDIA H100 80GB HBM3"
  double memory_bytes;     // framebuffer as nvidia-smi reports it
  double bandwidth;        // HBM/GDDR bandwidth, bytes/s
  double bf16_flops;       // dense BF16 tensor-core FLOP/s
  double tdp_watts;
  double idle_watts;
  int tp_70b;  // tensor-parallel degree commonly deployed for a 70B model on this GPU
};

struct ModelProfile {
  std::string name;  // class name, e.g. "Llama-3.1-8B"
  double params;     // parameter count
  int layers;
  int kv_heads;
  int head_dim;
  int hidden;
  int bytes_per_param = 2;  // BF16 weights and KV cache
};

// The engine's knobs, as vLLM names them where it has a name.
struct EngineConfig {
  GpuProfile gpu;
  ModelProfile model;
  int tensor_parallel = 1;
  double gpu_memory_utilization = 0.9;
  int block_size = 16;
  int64_t num_gpu_blocks = 0;
  int max_num_seqs = 256;
  int max_num_batched_tokens = 8192;
  int max_model_len = 32768;
  int max_loras = 1;
  // Derived per-step cost model (seconds); see StepSeconds.
  double weight_bytes_per_gpu = 0;
  double kv_bytes_per_token = 0;  // over all GPUs of the replica
  double activation_reserve_bytes = 0;
};

// Efficiency factors of the timing model (documented in docs/sim.md).
inline constexpr double kBandwidthEfficiency = 0.8;  // achieved / peak memory bandwidth
inline constexpr double kPrefillMfu = 0.5;           // achieved / peak FLOPs in prefill
inline constexpr double kDecodeMfu = 0.35;           // achieved / peak FLOPs in large decode batches
inline constexpr double kStepOverheadSeconds = 0.0008;   // scheduler + launch per step
inline constexpr double kPerSeqOverheadSeconds = 0.00002;  // sampling + detokenising per sequence
inline constexpr double kAllReduceSeconds = 0.000008;   // one all-reduce of a decode step (NVLink)

const std::vector<GpuProfile>& GpuProfiles();
const std::vector<ModelProfile>& ModelProfiles();
std::optional<GpuProfile> FindGpu(std::string_view name);  // case-insensitive, "a100" = A100-80GB
// Picks the model class from a served name: names with "70b" are the 70B class, others 8B.
ModelProfile ModelForName(std::string_view served_name);

// Builds the config: tensor_parallel 0 picks the smallest power of two that fits the weights.
// Returns nullopt (and sets *error) when the model cannot fit at all.
std::optional<EngineConfig> MakeEngineConfig(const GpuProfile& gpu, const ModelProfile& model,
                                             int tensor_parallel, double gpu_memory_utilization,
                                             std::string* error);

// What one engine step costs. `decode_seqs` sequences each add one token reading `kv_tokens_read`
// cached tokens in total; `prefill_tokens` new prompt tokens attend to `prefill_context` tokens
// on average.
struct StepLoad {
  int decode_seqs = 0;
  int64_t kv_tokens_read = 0;
  int64_t prefill_tokens = 0;
  double prefill_context = 0;
};
double StepSeconds(const EngineConfig& config, const StepLoad& load);

}  // namespace ap::sim
