// sim/profiles.cc — datasheet tables and the KV-cache / step-time formulas (docs/sim.md).
#include "sim/profiles.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "base/strings.h"

namespace ap::sim {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;
constexpr double kGiB = 1024.0 * kMiB;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

const std::vector<GpuProfile>& GpuProfiles() {
  // Memory: what nvidia-smi reports (MiB). Bandwidth and dense BF16 from NVIDIA datasheets.
  static const std::vector<GpuProfile> kGpus = {
      {"A10G", "NVIDIA A10G", 23028 * kMiB, 600e9, 70e12, 300, 25, 8},
      {"L4", "NVIDIA L4", 23034 * kMiB, 300e9, 121e12, 72, 16, 8},
      {"L40S", "NVIDIA L40S", 46068 * kMiB, 864e9, 362e12, 350, 35, 4},
      {"A100-40GB", "NVIDIA A100-SXM4-40GB", 40960 * kMiB, 1555e9, 312e12, 400, 50, 8},
      {"A100-80GB", "NVIDIA A100-SXM4-80GB", 81920 * kMiB, 2039e9, 312e12, 400, 55, 4},
      {"H100", "NVIDIA H100 80GB HBM3", 81559 * kMiB, 3350e9, 989e12, 700, 70, 4},
      {"H200", "NVIDIA H200", 143771 * kMiB, 4800e9, 989e12, 700, 75, 2},
  };
  return kGpus;
}

const std::vector<ModelProfile>& ModelProfiles() {
  // From the models' config.json (num_hidden_layers, num_key_value_heads, head_dim, hidden_size).
  static const std::vector<ModelProfile> kModels = {
      {"Llama-3.1-8B", 8.03e9, 32, 8, 128, 4096, 2},
      {"Llama-3.1-70B", 70.6e9, 80, 8, 128, 8192, 2},
  };
  return kModels;
}

std::optional<GpuProfile> FindGpu(std::string_view name) {
  std::string want = Lower(name);
  if (want == "a100") want = "a100-80gb";
  if (want == "h100-80gb" || want == "h100-sxm") want = "h100";
  for (const auto& g : GpuProfiles())
    if (Lower(g.name) == want) return g;
  return std::nullopt;
}

ModelProfile ModelForName(std::string_view served_name) {
  std::string n = Lower(served_name);
  if (n.find("70b") != std::string::npos) return ModelProfiles()[1];
  return ModelProfiles()[0];
}

std::optional<EngineConfig> MakeEngineConfig(const GpuProfile& gpu, const ModelProfile& model,
                                             int tensor_parallel, double gpu_memory_utilization,
                                             std::string* error) {
  EngineConfig c;
  c.gpu = gpu;
  c.model = model;
  c.gpu_memory_utilization = gpu_memory_utilization;
  bool big = model.params > 30e9;
  c.tensor_parallel = tensor_parallel > 0 ? tensor_parallel : (big ? gpu.tp_70b : 1);
  double tp = c.tensor_parallel;
  c.weight_bytes_per_gpu = model.params * model.bytes_per_param / tp;
  // K and V, every layer, every KV head: the per-token cache over the whole replica.
  c.kv_bytes_per_token =
      2.0 * model.layers * model.kv_heads * model.head_dim * model.bytes_per_param;
  // Activations of one max-size batch (MLP intermediate ~3.5x hidden, in and out) plus
  // CUDA graphs / NCCL buffers: what vLLM's profiling run leaves out of the KV budget.
  c.activation_reserve_bytes =
      0.5 * kGiB + c.max_num_batched_tokens * 3.5 * model.hidden * 2.0 * 2.0 / tp;
  double kv_per_gpu = gpu.memory_bytes * gpu_memory_utilization - c.weight_bytes_per_gpu -
                      c.activation_reserve_bytes;
  double kv_total = kv_per_gpu * tp;
  c.num_gpu_blocks =
      kv_total > 0 ? static_cast<int64_t>(kv_total / c.kv_bytes_per_token / c.block_size) : 0;
  int64_t tokens = c.num_gpu_blocks * c.block_size;
  if (tokens < c.block_size * 64) {
    if (error)
      *error = model.name + " does not fit on " + std::to_string(c.tensor_parallel) + "x " +
               gpu.name + " (weights " + std::to_string(static_cast<int>(model.params * 2 / kGiB)) +
               " GiB); raise --tensor-parallel";
    return std::nullopt;
  }
  c.max_model_len = static_cast<int>(std::min<int64_t>(c.max_model_len, tokens));
  return c;
}

double StepSeconds(const EngineConfig& c, const StepLoad& load) {
  if (load.decode_seqs == 0 && load.prefill_tokens == 0) return 0;
  double tp = c.tensor_parallel;
  double bw = c.gpu.bandwidth * kBandwidthEfficiency;
  double params_per_gpu = c.model.params / tp;
  // Decode: every step streams all weights once (memory bound) or, in large batches, is bound by
  // the 2*P FLOPs per token; then reads each sequence's KV cache.
  double weights_read = c.weight_bytes_per_gpu / bw;
  double decode_compute = 2.0 * params_per_gpu * load.decode_seqs / (c.gpu.bf16_flops * kDecodeMfu);
  double kv_read = static_cast<double>(load.kv_tokens_read) * c.kv_bytes_per_token / tp / bw;
  // Prefill: 2*P FLOPs per token plus attention over the context (4 * layers * hidden * ctx).
  double prefill_flops =
      load.prefill_tokens *
      (2.0 * params_per_gpu + 4.0 * c.model.layers * c.model.hidden * load.prefill_context / tp);
  double prefill = prefill_flops / (c.gpu.bf16_flops * kPrefillMfu);
  double comm = tp > 1 ? 2.0 * c.model.layers * kAllReduceSeconds : 0.0;
  double seqs = load.decode_seqs + (load.prefill_tokens > 0 ? 1 : 0);
  return kStepOverheadSeconds + std::max(weights_read, decode_compute) + kv_read + prefill + comm +
         seqs * kPerSeqOverheadSeconds;
}

}  // namespace ap::sim
