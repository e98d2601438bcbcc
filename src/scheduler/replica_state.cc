// scheduler/replica_state.cc — vLLM metrics text → VllmMetrics, and the replica's atomics.
#include "scheduler/replica_state.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>

namespace ap::scheduler {
namespace {

// One sample line: name{labels} value [timestamp].
struct Line {
  std::string_view name, labels;
  double value = 0;
};

bool ParseLine(std::string_view line, Line* out) {
  if (line.empty() || line[0] == '#') return false;
  size_t name_end = line.find_first_of("{ ");
  if (name_end == std::string_view::npos) return false;
  out->name = line.substr(0, name_end);
  size_t rest = name_end;
  out->labels = {};
  if (line[name_end] == '{') {
    // Label values may hold '}' inside quotes; find the closing brace outside quotes.
    bool quoted = false;
    size_t i = name_end + 1;
    for (; i < line.size(); ++i) {
      char c = line[i];
      if (c == '\\' && quoted) { ++i; continue; }
      if (c == '"') quoted = !quoted;
      else if (c == '}' && !quoted) break;
    }
    if (i >= line.size()) return false;
    out->labels = line.substr(name_end + 1, i - name_end - 1);
    rest = i + 1;
  }
  while (rest < line.size() && line[rest] == ' ') ++rest;
  std::string value(line.substr(rest, line.find(' ', rest) - rest));
  if (value.empty()) return false;
  char* end = nullptr;
  out->value = std::strtod(value.c_str(), &end);
  return end && *end == '\0';
}

// The value of label `key` in a label list (no unescaping beyond \" and \\).
std::optional<std::string> Label(std::string_view labels, std::string_view key) {
  size_t pos = 0;
  while (pos < labels.size()) {
    size_t eq = labels.find('=', pos);
    if (eq == std::string_view::npos || eq + 1 >= labels.size() || labels[eq + 1] != '"') return std::nullopt;
    std::string_view k = labels.substr(pos, eq - pos);
    while (!k.empty() && (k.front() == ' ' || k.front() == ',')) k.remove_prefix(1);
    std::string v;
    size_t i = eq + 2;
    for (; i < labels.size() && labels[i] != '"'; ++i) {
      if (labels[i] == '\\' && i + 1 < labels.size()) ++i;
      v.push_back(labels[i]);
    }
    if (k == key) return v;
    pos = i + 1;
    if (pos < labels.size() && labels[pos] == ',') ++pos;
  }
  return std::nullopt;
}

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    std::string item = s.substr(pos, comma - pos);
    if (!item.empty()) out.push_back(item);
    pos = comma + 1;
  }
  return out;
}

void Add(std::optional<double>& slot, double v) { slot = slot.value_or(0) + v; }

// DCGM_FI_DEV_<field>{gpu,UUID,device,modelName,Hostname[,cluster]} value → the GPU's sample.
void AddDcgm(const Line& line, std::vector<GpuSample>& gpus) {
  std::string_view field = line.name.substr(12);
  double GpuSample::*slot = field == "GPU_UTIL"     ? &GpuSample::util_percent
                            : field == "FB_USED"    ? &GpuSample::fb_used_mib
                            : field == "FB_FREE"    ? &GpuSample::fb_free_mib
                            : field == "GPU_TEMP"   ? &GpuSample::temp_c
                            : field == "POWER_USAGE" ? &GpuSample::power_w
                                                    : nullptr;
  if (!slot) return;
  std::string uuid = Label(line.labels, "UUID").value_or("");
  std::string gpu = Label(line.labels, "gpu").value_or("");
  GpuSample* g = nullptr;
  for (auto& x : gpus)
    if (x.uuid == uuid && x.gpu == gpu) g = &x;
  if (!g) {
    if (gpus.size() >= 64) return;  // a replica spans at most a node's GPUs
    g = &gpus.emplace_back();
    g->uuid = std::move(uuid);
    g->gpu = std::move(gpu);
    g->device = Label(line.labels, "device").value_or("");
    g->model_name = Label(line.labels, "modelName").value_or("");
    g->hostname = Label(line.labels, "Hostname").value_or("");
    g->cluster = Label(line.labels, "cluster").value_or("");
  }
  g->*slot = line.value;
}

}  // namespace

VllmMetrics ParseVllmMetrics(std::string_view text) {
  VllmMetrics m;
  std::optional<double> old_kv;
  double lora_time = -1;
  size_t pos = 0;
  Line line;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view raw = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    if (raw.size() > 12 && raw.substr(0, 12) == "DCGM_FI_DEV_") {
      if (ParseLine(raw, &line)) AddDcgm(line, m.gpus);
      continue;
    }
    if (raw.size() < 6 || raw.substr(0, 5) != "vllm:" || !ParseLine(raw, &line)) continue;
    std::string_view n = line.name.substr(5);
    if (n == "num_requests_waiting") Add(m.waiting, line.value);
    else if (n == "num_requests_running") Add(m.running, line.value);
    else if (n == "kv_cache_usage_perc") m.kv_usage = std::max(m.kv_usage.value_or(0), line.value);
    else if (n == "gpu_cache_usage_perc") old_kv = std::max(old_kv.value_or(0), line.value);
    else if (n == "prefix_cache_queries_total") Add(m.prefix_queries, line.value);
    else if (n == "prefix_cache_hits_total") Add(m.prefix_hits, line.value);
    else if (n == "cache_config_info") {
      if (auto b = Label(line.labels, "block_size")) m.block_size = std::strtod(b->c_str(), nullptr);
      if (auto b = Label(line.labels, "num_gpu_blocks")) m.num_gpu_blocks = std::strtod(b->c_str(), nullptr);
    } else if (n == "lora_requests_info" && line.value >= lora_time) {
      // Several samples may be exposed; the newest (largest timestamp value) wins, as in vLLM.
      lora_time = line.value;
      m.has_lora_info = true;
      m.running_loras = SplitList(Label(line.labels, "running_lora_adapters").value_or(""));
      m.waiting_loras = SplitList(Label(line.labels, "waiting_lora_adapters").value_or(""));
      m.max_lora = std::atoi(Label(line.labels, "max_lora").value_or("0").c_str());
    }
  }
  if (!m.kv_usage) m.kv_usage = old_kv;
  return m;
}

bool ReplicaState::Fresh(Clock::time_point now, std::chrono::milliseconds stale_after) const {
  int64_t at = scraped_at_ns.load(std::memory_order_relaxed);
  if (at == 0) return false;
  int64_t age = now.time_since_epoch().count() - at;
  return age <= std::chrono::duration_cast<std::chrono::nanoseconds>(stale_after).count();
}

bool ReplicaState::Down() const {
  return scrape_failures.load(std::memory_order_relaxed) >= 2 ||
         request_failed.load(std::memory_order_relaxed);
}

double ReplicaState::EstimatedWaiting(bool fresh) const {
  if (!fresh) return 0;
  int64_t delta = in_flight.load(std::memory_order_relaxed) - in_flight_at_scrape.load(std::memory_order_relaxed);
  return waiting.load(std::memory_order_relaxed) + static_cast<double>(std::max<int64_t>(delta, 0));
}

void ReplicaState::Publish(const VllmMetrics& m, Clock::time_point now) {
  waiting.store(static_cast<int>(m.waiting.value_or(0)), std::memory_order_relaxed);
  running.store(static_cast<int>(m.running.value_or(0)), std::memory_order_relaxed);
  kv_usage.store(m.kv_usage.value_or(-1), std::memory_order_relaxed);
  if (m.block_size && m.num_gpu_blocks)
    capacity_tokens.store(static_cast<int64_t>(*m.block_size * *m.num_gpu_blocks), std::memory_order_relaxed);
  if (m.has_lora_info) {
    auto snap = std::make_shared<LoraSnapshot>();
    snap->running = m.running_loras;
    snap->waiting = m.waiting_loras;
    snap->max_lora = m.max_lora;
    lora.store(std::move(snap));
  }
  prefix_queries.store(m.prefix_queries.value_or(-1), std::memory_order_relaxed);
  prefix_hits.store(m.prefix_hits.value_or(-1), std::memory_order_relaxed);
  if (!m.gpus.empty()) gpus.store(std::make_shared<const std::vector<GpuSample>>(m.gpus));
  in_flight_at_scrape.store(in_flight.load(std::memory_order_relaxed), std::memory_order_relaxed);
  scrape_failures.store(0, std::memory_order_relaxed);
  request_failed.store(false, std::memory_order_relaxed);
  scraped_at_ns.store(now.time_since_epoch().count(), std::memory_order_release);
}

void ReplicaState::PublishFailure() { scrape_failures.fetch_add(1, std::memory_order_relaxed); }

}  // namespace ap::scheduler
