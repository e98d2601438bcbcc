// telemetry/pricing.h — what a request cost, in USD.
//
// Hosted models: a price table of (regex over the model name, start date, USD per input, output
// and cached-input token), built in for common OpenAI, Anthropic, Google and Mistral models and
// overridable from config (config entries are consulted first). Among matching entries the one
// with the latest start date not after the request wins, so a price change keeps old requests at
// their old price.
// Self-hosted models: GPU time. A gpu_price names a backend (regex) and its instance price per
// hour; the ThroughputMeter measures the tokens/s that backend actually serves over a sliding
// window, and cost per token = price per second / measured tokens per second (idle GPUs make
// tokens dearer, which is the truth). Thread-safe; no allocation-heavy work per call.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace re2 {
class RE2;
}

namespace ap::telemetry {

struct ModelPrice {
  std::string match;      // RE2 pattern, matched against the whole model name (case-insensitive)
  int64_t start_us = 0;   // in force from this time on
  double input = 0;       // USD per input token
  double output = 0;      // USD per output token
  double cached_input = -1;  // USD per cached input token; < 0: same as input
};

struct GpuPrice {
  std::string match;            // RE2 pattern over the backend name
  double usd_per_hour = 0;      // the whole instance (all its GPUs)
  double tokens_per_second = 0; // assumed until enough traffic was measured; 0: none
};

struct Cost {
  double input = 0, output = 0, total = 0;
  const char* source = "";  // "price_table" or "gpu_time" (static text: a Cost copies as four words)
};

// Measured tokens/s per key (backend) over a sliding window of one-second buckets.
class ThroughputMeter {
 public:
  explicit ThroughputMeter(int window_seconds = 60) : window_(window_seconds) {}
  void Add(const std::string& key, int64_t tokens, int64_t now_us);
  // Tokens per second over the window (or since the first sample, at least 5 s); 0 when none.
  double TokensPerSecond(const std::string& key, int64_t now_us);

 private:
  struct Series {
    std::vector<int64_t> buckets;  // tokens per second slot
    std::vector<int64_t> stamps;   // which second each slot holds
    int64_t first_second = 0;
  };
  int window_;
  std::mutex mu_;
  std::unordered_map<std::string, Series> series_;
};

class PriceTable {
 public:
  // Config prices first, then the built-in table.
  PriceTable(std::vector<ModelPrice> overrides, std::vector<GpuPrice> gpu_prices);
  ~PriceTable();

  static const std::vector<ModelPrice>& BuiltIn();

  // Token price of `model` at time `at_us`; nullopt: no entry matches.
  std::optional<Cost> ForTokens(const std::string& model, int64_t at_us, int64_t input_tokens,
                                int64_t output_tokens, int64_t cached_tokens) const;
  // Adds tokens that `backend` served to its throughput measurement.
  void MeasureServed(const std::string& backend, int64_t tokens, int64_t now_us);
  // GPU-time price of tokens served by `backend` at its measured throughput.
  std::optional<Cost> ForGpuTime(const std::string& backend, int64_t now_us, int64_t input_tokens,
                                 int64_t output_tokens);
  bool HasGpuPrice(const std::string& backend) const;

  // Swaps in new config prices (config reload). Atomic: a request prices with either the old or
  // the new table, never a mix; measured throughput is kept.
  void Replace(std::vector<ModelPrice> overrides, std::vector<GpuPrice> gpu_prices);
  // Counts Replace calls: a price remembered with an older generation is stale.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  struct Compiled {
    ModelPrice price;
    std::unique_ptr<re2::RE2> re;
  };
  struct CompiledGpu {
    GpuPrice price;
    std::unique_ptr<re2::RE2> re;
  };
  // The compiled entries, immutable once built except for the memo.
  struct Tables {
    std::vector<Compiled> prices;
    std::vector<CompiledGpu> gpu;
    // Entries whose pattern decides for a model name (empty: none), memoised per name so the
    // request path runs the regexes once per distinct model instead of once per request.
    mutable std::mutex cache_mu;
    mutable std::unordered_map<std::string, std::vector<size_t>> candidates;
    // Indexes into `prices` of the entries that may price `model` (memoised per name; never
    // waits for the memo's lock).
    std::vector<size_t> Candidates(const std::string& model) const;
    const CompiledGpu* FindGpu(const std::string& backend) const;
  };
  static std::shared_ptr<const Tables> Compile(std::vector<ModelPrice> overrides, std::vector<GpuPrice> gpu_prices);
  // The price in force for `model` at `at_us` (null: none), through the calling thread's memo of
  // its last model (below); the pointer is valid until that thread's next call.
  const ModelPrice* Best(const std::string& model, int64_t at_us) const;

  std::atomic<std::shared_ptr<const Tables>> tables_;

  std::atomic<uint64_t> generation_{0};
  const uint64_t serial_;  // tells this table from one later built at its address
  mutable ThroughputMeter meter_;
};

}  // namespace ap::telemetry
