// telemetry/pricing.cc — the built-in price table and cost arithmetic (see pricing.h).
//
// Built-in prices are list prices in USD per million tokens as published by each provider; the
// table is data, kept short and easy to override with `telemetry.prices` in config.
#include "telemetry/pricing.h"

#include <re2/re2.h>

#include "base/thread.h"
#include "telemetry/model.h"

namespace ap::telemetry {
namespace {

constexpr double kPerM = 1e-6;

ModelPrice P(const char* match, const char* start, double in_per_m, double out_per_m, double cached_per_m = -1) {
  ModelPrice p;
  p.match = match;
  p.start_us = start[0] ? ParseIsoTime(start).value_or(0) : 0;
  p.input = in_per_m * kPerM;
  p.output = out_per_m * kPerM;
  p.cached_input = cached_per_m < 0 ? -1 : cached_per_m * kPerM;
  return p;
}

// Optional provider prefix ("openai/", "anthropic/", …) and dated snapshot suffixes match too.
#define AP_M(name) "(?:[a-z0-9-]+/)?" name "(?:-\\d{4}-?\\d{2}-?\\d{2}|-latest|-preview)?"

}  // namespace

const std::vector<ModelPrice>& PriceTable::BuiltIn() {
  static const std::vector<ModelPrice> kTable = {
      P(AP_M("gpt-4o-mini"), "", 0.15, 0.60, 0.075),
      P(AP_M("gpt-4o"), "", 5.00, 15.00),
      P(AP_M("gpt-4o"), "2024-10-01", 2.50, 10.00, 1.25),
      P(AP_M("gpt-4\\.1-nano"), "", 0.10, 0.40, 0.025),
      P(AP_M("gpt-4\\.1-mini"), "", 0.40, 1.60, 0.10),
      P(AP_M("gpt-4\\.1"), "", 2.00, 8.00, 0.50),
      P(AP_M("gpt-4-turbo"), "", 10.00, 30.00),
      P(AP_M("gpt-4"), "", 30.00, 60.00),
      P(AP_M("gpt-3\\.5-turbo(?:-\\d+)?"), "", 0.50, 1.50),
      P(AP_M("o1-mini"), "", 1.10, 4.40, 0.55),
      P(AP_M("o1"), "", 15.00, 60.00, 7.50),
      P(AP_M("o3-mini"), "", 1.10, 4.40, 0.55),
      P(AP_M("o3"), "", 10.00, 40.00, 2.50),
      P(AP_M("o3"), "2025-06-10", 2.00, 8.00, 0.50),
      P(AP_M("o4-mini"), "", 1.10, 4.40, 0.275),
      P(AP_M("text-embedding-3-small"), "", 0.02, 0),
      P(AP_M("text-embedding-3-large"), "", 0.13, 0),
      P(AP_M("text-embedding-ada-002"), "", 0.10, 0),
      P(AP_M("claude-3-haiku"), "", 0.25, 1.25, 0.03),
      P(AP_M("claude-3-5-haiku"), "", 0.80, 4.00, 0.08),
      P(AP_M("claude-(?:3-5|3-7)-sonnet"), "", 3.00, 15.00, 0.30),
      P(AP_M("claude-(?:sonnet-4|sonnet-4-5|4-sonnet)"), "", 3.00, 15.00, 0.30),
      P(AP_M("claude-3-opus"), "", 15.00, 75.00, 1.50),
      P(AP_M("claude-(?:opus-4|opus-4-1|4-opus)"), "", 15.00, 75.00, 1.50),
      P(AP_M("gemini-1\\.5-flash"), "", 0.075, 0.30),
      P(AP_M("gemini-1\\.5-pro"), "", 1.25, 5.00),
      P(AP_M("gemini-2\\.0-flash"), "", 0.10, 0.40, 0.025),
      P(AP_M("gemini-2\\.5-flash"), "", 0.30, 2.50, 0.075),
      P(AP_M("gemini-2\\.5-pro"), "", 1.25, 10.00, 0.31),
      P(AP_M("mistral-large"), "", 2.00, 6.00),
      P(AP_M("mistral-small"), "", 0.20, 0.60),
  };
  return kTable;
}

void ThroughputMeter::Add(const std::string& key, int64_t tokens, int64_t now_us) {
  int64_t sec = now_us / 1'000'000;
  std::lock_guard lock(mu_);
  auto& s = series_[key];
  if (s.buckets.empty()) {
    s.buckets.assign(window_, 0);
    s.stamps.assign(window_, -1);
    s.first_second = sec;
  }
  size_t slot = static_cast<size_t>(sec % window_);
  if (s.stamps[slot] != sec) {
    s.stamps[slot] = sec;
    s.buckets[slot] = 0;
  }
  s.buckets[slot] += tokens;
}

double ThroughputMeter::TokensPerSecond(const std::string& key, int64_t now_us) {
  int64_t sec = now_us / 1'000'000;
  std::lock_guard lock(mu_);
  auto it = series_.find(key);
  if (it == series_.end()) return 0;
  const auto& s = it->second;
  int64_t tokens = 0;
  for (int i = 0; i < window_; ++i)
    if (s.stamps[i] > sec - window_ && s.stamps[i] <= sec) tokens += s.buckets[i];
  int64_t span = std::min<int64_t>(window_, std::max<int64_t>(5, sec - s.first_second + 1));
  return static_cast<double>(tokens) / static_cast<double>(span);
}

std::shared_ptr<const PriceTable::Tables> PriceTable::Compile(std::vector<ModelPrice> overrides,
                                                             std::vector<GpuPrice> gpu_prices) {
  auto t = std::make_shared<Tables>();
  RE2::Options opts;
  opts.set_case_sensitive(false);
  opts.set_log_errors(false);
  auto add = [&](const ModelPrice& p) {
    auto re = std::make_unique<RE2>(p.match, opts);
    if (re->ok()) t->prices.push_back({p, std::move(re)});
  };
  for (const auto& p : overrides) add(p);
  for (const auto& p : BuiltIn()) add(p);
  for (auto& g : gpu_prices) {
    auto re = std::make_unique<RE2>(g.match, opts);
    if (re->ok()) t->gpu.push_back({g, std::move(re)});
  }
  return t;
}

PriceTable::PriceTable(std::vector<ModelPrice> overrides, std::vector<GpuPrice> gpu_prices)
    : tables_(Compile(std::move(overrides), std::move(gpu_prices))), serial_(base::NextSerial()) {}

PriceTable::~PriceTable() = default;

void PriceTable::Replace(std::vector<ModelPrice> overrides, std::vector<GpuPrice> gpu_prices) {
  tables_.store(Compile(std::move(overrides), std::move(gpu_prices)));
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

std::vector<size_t> PriceTable::Tables::Candidates(const std::string& model) const {
  // Nobody waits for this lock: the telemetry writer prices unpriced records here at idle
  // priority and may be preempted holding it, so a caller that finds it taken matches the
  // patterns itself (the same answer, a few microseconds) instead of waiting.
  {
    std::unique_lock lock(cache_mu, std::try_to_lock);
    if (lock.owns_lock())
      if (auto it = candidates.find(model); it != candidates.end()) return it->second;
  }
  std::vector<size_t> out;
  const std::string* pattern = nullptr;
  for (size_t i = 0; i < prices.size(); ++i) {
    // The first pattern that matches decides; other entries with that same pattern (other
    // start dates) stay candidates.
    if (pattern && prices[i].price.match != *pattern) continue;
    if (!RE2::FullMatch(model, *prices[i].re)) continue;
    pattern = &prices[i].price.match;
    out.push_back(i);
  }
  std::unique_lock lock(cache_mu, std::try_to_lock);
  if (lock.owns_lock()) {
    if (candidates.size() > 10'000) candidates.clear();  // bounded: model names come from clients
    candidates.emplace(model, out);
  }
  return out;
}

namespace {
// The tables and candidates of the model this thread priced last: a gateway thread prices the
// same model request after request, and comparing one name is cheaper than the shared memo's
// lock and hash. It holds the tables it points into, so a Replace on another thread never frees
// them under it; a new generation (or another PriceTable) refreshes it.
struct ThreadMemo {
  uint64_t serial = 0, generation = 0;
  std::shared_ptr<const void> tables;
  bool has_model = false;
  std::string model;
  std::vector<size_t> candidates;
};
thread_local ThreadMemo thread_memo;
}  // namespace

const ModelPrice* PriceTable::Best(const std::string& model, int64_t at_us) const {
  ThreadMemo& memo = thread_memo;
  const uint64_t generation = generation_.load(std::memory_order_acquire);
  if (memo.serial != serial_ || memo.generation != generation || !memo.tables) {
    memo.tables = tables_.load();
    memo.serial = serial_;
    memo.generation = generation;
    memo.has_model = false;
  }
  const auto* tables = static_cast<const Tables*>(memo.tables.get());
  if (!memo.has_model || memo.model != model) {
    memo.candidates = tables->Candidates(model);
    memo.model = model;
    memo.has_model = true;
  }
  const ModelPrice* best = nullptr;
  for (size_t i : memo.candidates) {
    const auto& p = tables->prices[i].price;
    if (p.start_us <= at_us && (!best || p.start_us >= best->start_us)) best = &p;
  }
  return best;
}

std::optional<Cost> PriceTable::ForTokens(const std::string& model, int64_t at_us, int64_t input_tokens,
                                          int64_t output_tokens, int64_t cached_tokens) const {
  const ModelPrice* best = Best(model, at_us);
  if (!best) return std::nullopt;
  int64_t cached = std::clamp<int64_t>(cached_tokens, 0, std::max<int64_t>(input_tokens, 0));
  double cached_rate = best->cached_input < 0 ? best->input : best->cached_input;
  Cost c;
  c.input = static_cast<double>(input_tokens - cached) * best->input + static_cast<double>(cached) * cached_rate;
  c.output = static_cast<double>(output_tokens) * best->output;
  c.total = c.input + c.output;
  c.source = "price_table";
  return c;
}

const PriceTable::CompiledGpu* PriceTable::Tables::FindGpu(const std::string& backend) const {
  for (const auto& g : gpu)
    if (RE2::FullMatch(backend, *g.re)) return &g;
  return nullptr;
}

void PriceTable::MeasureServed(const std::string& backend, int64_t tokens, int64_t now_us) {
  if (tables_.load()->FindGpu(backend)) meter_.Add(backend, std::max<int64_t>(0, tokens), now_us);
}

bool PriceTable::HasGpuPrice(const std::string& backend) const { return tables_.load()->FindGpu(backend) != nullptr; }

std::optional<Cost> PriceTable::ForGpuTime(const std::string& backend, int64_t now_us, int64_t input_tokens,
                                           int64_t output_tokens) {
  auto tables = tables_.load();
  const CompiledGpu* g = tables->FindGpu(backend);
  if (!g) return std::nullopt;
  double tps = meter_.TokensPerSecond(backend, now_us);
  if (tps <= 0 || (g->price.tokens_per_second > 0 && tps < 1)) tps = g->price.tokens_per_second;
  if (tps <= 0) return std::nullopt;
  double per_token = g->price.usd_per_hour / 3600.0 / tps;
  Cost c;
  c.input = per_token * static_cast<double>(std::max<int64_t>(0, input_tokens));
  c.output = per_token * static_cast<double>(std::max<int64_t>(0, output_tokens));
  c.total = c.input + c.output;
  c.source = "gpu_time";
  return c;
}

}  // namespace ap::telemetry
