// sim/metrics.cc — histogram bookkeeping and the Prometheus text exposition (format 0.0.4).
#include "sim/metrics.h"

#include <algorithm>
#include <charconv>

namespace ap::sim {
namespace {

// vllm/engine/metrics.py (v0.6+) and vllm/v1/metrics/loggers.py.
constexpr double kTtft[] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,   0.25,   0.5,  0.75,
                            1.0,   2.5,   5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
constexpr double kItl[] = {0.01, 0.025, 0.05, 0.075, 0.1,  0.15, 0.2,  0.3,  0.4, 0.5,
                           0.75, 1.0,   2.5,  5.0,   7.5,  10.0, 20.0, 40.0, 80.0};
constexpr double kE2e[] = {0.3,  0.5,  0.8,  1.0,  1.5,   2.0,   2.5,   5.0,   10.0,   15.0,  20.0,
                           30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};

void AppendNumber(std::string& out, double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

std::string Escape(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

void Family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void Sample(std::string& out, std::string_view name, const std::string& labels, double v) {
  out.append(name);
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out.push_back(' ');
  AppendNumber(out, v);
  out.push_back('\n');
}

}  // namespace

std::span<const double> TtftBuckets() { return kTtft; }
std::span<const double> InterTokenBuckets() { return kItl; }
std::span<const double> E2eBuckets() { return kE2e; }

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds), counts_(bounds.size() + 1, 0) {}

void Histogram::Observe(double v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  ++counts_[i];
  ++count_;
  sum_ += v;
}

void Histogram::Render(std::string& out, const std::string& name, const std::string& labels) const {
  uint64_t cumulative = 0;
  std::string prefix = labels.empty() ? std::string() : labels + ",";
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    out.append(name).append("_bucket{").append(prefix).append("le=\"");
    if (i < bounds_.size()) AppendNumber(out, bounds_[i]); else out.append("+Inf");
    out.append("\"} ");
    AppendNumber(out, static_cast<double>(cumulative));
    out.push_back('\n');
  }
  Sample(out, name + "_sum", labels, sum_);
  Sample(out, name + "_count", labels, static_cast<double>(count_));
}

EngineStats::EngineStats() : ttft(TtftBuckets()), itl(InterTokenBuckets()), e2e(E2eBuckets()) {}

std::string RenderMetrics(const MetricsView& v) {
  std::string out;
  out.reserve(16 << 10);
  const EngineStats& s = *v.stats;
  std::string model = "model_name=\"" + Escape(v.model_name) + "\"";

  Family(out, "vllm:num_requests_running", "gauge", "Number of requests in model execution batches.");
  Sample(out, "vllm:num_requests_running", model, static_cast<double>(v.running));
  Family(out, "vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.");
  Sample(out, "vllm:num_requests_waiting", model, static_cast<double>(v.waiting));
  Family(out, "vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.");
  Sample(out, "vllm:kv_cache_usage_perc", model, v.kv_usage);
  Family(out, "vllm:gpu_cache_usage_perc", "gauge",
         "GPU KV-cache usage. 1 means 100 percent usage (older name of kv_cache_usage_perc).");
  Sample(out, "vllm:gpu_cache_usage_perc", model, v.kv_usage);

  Family(out, "vllm:prefix_cache_queries_total", "counter",
         "Prefix cache queries, in terms of number of queried tokens.");
  Sample(out, "vllm:prefix_cache_queries_total", model, static_cast<double>(s.prefix_queries));
  Family(out, "vllm:prefix_cache_hits_total", "counter",
         "Prefix cache hits, in terms of number of cached tokens.");
  Sample(out, "vllm:prefix_cache_hits_total", model, static_cast<double>(s.prefix_hits));
  Family(out, "vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.");
  Sample(out, "vllm:prompt_tokens_total", model, static_cast<double>(s.prompt_tokens));
  Family(out, "vllm:generation_tokens_total", "counter", "Number of generation tokens processed.");
  Sample(out, "vllm:generation_tokens_total", model, static_cast<double>(s.generation_tokens));
  Family(out, "vllm:num_preemptions_total", "counter", "Cumulative number of preemption from the engine.");
  Sample(out, "vllm:num_preemptions_total", model, static_cast<double>(s.preemptions));
  Family(out, "vllm:request_success_total", "counter", "Count of successfully processed requests.");
  Sample(out, "vllm:request_success_total", model + ",finished_reason=\"stop\"",
         static_cast<double>(s.finished_stop));
  Sample(out, "vllm:request_success_total", model + ",finished_reason=\"length\"",
         static_cast<double>(s.finished_length));
  Sample(out, "vllm:request_success_total", model + ",finished_reason=\"abort\"",
         static_cast<double>(s.finished_abort));

  Family(out, "vllm:cache_config_info", "gauge", "Information of the LLMEngine CacheConfig");
  Sample(out, "vllm:cache_config_info",
         "block_size=\"" + std::to_string(v.block_size) + "\",cache_dtype=\"auto\"," +
             "enable_prefix_caching=\"True\",gpu_memory_utilization=\"" +
             std::to_string(v.gpu_memory_utilization).substr(0, 4) + "\",num_gpu_blocks=\"" +
             std::to_string(v.num_gpu_blocks) + "\"," + model,
         1);
  Family(out, "vllm:lora_requests_info", "gauge", "Running stats on lora requests.");
  Sample(out, "vllm:lora_requests_info",
         "max_lora=\"" + std::to_string(v.max_loras) + "\"," + model + ",running_lora_adapters=\"" +
             Escape(v.running_loras) + "\",waiting_lora_adapters=\"" + Escape(v.waiting_loras) +
             "\"",
         v.now_unix);

  Family(out, "vllm:time_to_first_token_seconds", "histogram",
         "Histogram of time to first token in seconds.");
  s.ttft.Render(out, "vllm:time_to_first_token_seconds", model);
  Family(out, "vllm:inter_token_latency_seconds", "histogram",
         "Histogram of inter-token latency in seconds.");
  s.itl.Render(out, "vllm:inter_token_latency_seconds", model);
  Family(out, "vllm:e2e_request_latency_seconds", "histogram",
         "Histogram of e2e request latency in seconds.");
  s.e2e.Render(out, "vllm:e2e_request_latency_seconds", model);

  struct Dcgm {
    const char* name;
    const char* help;
    double GpuSample::*field;
  };
  static constexpr Dcgm kDcgm[] = {
      {"DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", &GpuSample::util_percent},
      {"DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", &GpuSample::fb_used_mib},
      {"DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", &GpuSample::fb_free_mib},
      {"DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", &GpuSample::temp_c},
      {"DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", &GpuSample::power_w},
  };
  for (const auto& d : kDcgm) {
    Family(out, d.name, "gauge", d.help);
    for (const auto& g : v.gpus) {
      std::string labels = "gpu=\"" + std::to_string(g.index) + "\",UUID=\"" + g.uuid +
                           "\",device=\"nvidia" + std::to_string(g.index) + "\",modelName=\"" +
                           Escape(g.model_name) + "\",Hostname=\"" + Escape(v.hostname) + "\"";
      Sample(out, d.name, labels, g.*(d.field));
    }
  }
  return out;
}

}  // namespace ap::sim
