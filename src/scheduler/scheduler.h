// scheduler/scheduler.h — the inference scheduler: picks the replica of a model's pool for each
// request (filters → weighted scorers → pick), queues requests at the gateway while every replica
// is saturated, and learns which replica holds which prompt prefix (docs/scheduler.md).
//
// A Pool is the gateway's ReplicaPicker for one model. Its replicas are the model's backends
// (a static list from config; a Kubernetes endpoint source would build the same ReplicaStates).
// Pick runs on the request's event loop and never blocks it: the decision reads atomics and a
// sharded prefix index, waiting is an awaited timer. The SchedulerFactory builds pools from config
// and owns the scraper thread that polls every replica's /metrics off the request path.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>

#include <boost/asio/any_io_executor.hpp>
#include <string>
#include <vector>

#include "config/config.h"
#include "gateway/picker.h"
#include "gateway/route_table.h"
#include "scheduler/admission_queue.h"
#include "scheduler/metrics.h"
#include "scheduler/prefix_index.h"
#include "scheduler/replica_state.h"
#include "scheduler/scorers.h"

namespace ap::scheduler {

class Scraper;

class Pool : public gateway::ReplicaPicker, public std::enable_shared_from_this<Pool> {
 public:
  static constexpr size_t kCharsPerToken = 4;           // prefix index capacity conversion
  static constexpr size_t kMaxPromptBlocks = 4096;      // hash at most this many blocks
  static constexpr size_t kDefaultCapacityTokens = 100'000;  // until cache_config_info is seen

  // `bookkeeping`: where prefix-index updates run (the scraper's thread), off the request path;
  // none: inline (tests, benchmarks).
  Pool(std::string model, config::SchedulerConfig config, std::vector<const gateway::BackendState*> members,
       std::optional<boost::asio::any_io_executor> bookkeeping = std::nullopt);

  boost::asio::awaitable<gateway::PickResult> Pick(const gateway::BackendGroup& group,
                                                    const gateway::PickContext& ctx) override;
  void OnStart(const gateway::BackendState& backend, const gateway::PickContext& ctx) override;
  void OnFinish(const gateway::BackendState& backend, const gateway::PickContext& ctx, int status) override;

  // One decision without waiting: the chosen backend, or why none (for Pick and benchmarks).
  enum class Verdict { kPicked, kSaturated, kNone };
  struct Decision {
    Verdict verdict = Verdict::kNone;
    const gateway::BackendState* backend = nullptr;
    std::string debug;
  };
  Decision Decide(const gateway::PickContext& ctx, Clock::time_point now);

  // Called by the scraper after each scrape of `replica`.
  void AfterScrape(ReplicaState& replica);

  const std::string& model() const { return model_; }
  const config::SchedulerConfig& config() const { return config_; }
  std::vector<std::unique_ptr<ReplicaState>>& replicas() { return replicas_; }
  PrefixIndex& prefix_index() { return index_; }
  PoolMetrics& metrics() { return metrics_; }
  // Prefix-index updates queued for the bookkeeping thread and not yet applied.
  int pending_records() const { return pending_records_.load(std::memory_order_relaxed); }
  AdmissionQueue& queue() { return queue_; }
  // Appends this pool's samples of the family `family` (see SchedulerFactory::AppendPrometheus).
  void AppendSamples(std::string* out, int family) const;

  // The latest decisions (at most kRecentPicks), oldest first, for the dashboard.
  struct RecentPick {
    Clock::time_point at;
    size_t replica = 0;
    double score = 0;
    double prefix_share = -1;  // matched ÷ prompt blocks; < 0: the prefix scorer was off
  };
  static constexpr size_t kRecentPicks = 32;
  std::vector<RecentPick> RecentPicks() const;

 private:
  bool UsesQueue() const { return mode_ != Mode::kRoundRobin && mode_ != Mode::kRandom; }
  int IndexOf(const gateway::BackendState* b) const;
  // Some healthy, not excluded replica is under the saturation thresholds.
  bool HasCapacity(const gateway::PickContext& ctx, Clock::time_point now) const;
  std::string DebugString(const Candidate& c, size_t prompt_blocks) const;
  void RecordPrefix(size_t replica, const std::vector<uint64_t>& hashes);

  enum class Mode { kDefault, kRoundRobin, kRandom, kLoad, kPrefix };
  const std::string model_;
  const config::SchedulerConfig config_;
  Mode mode_ = Mode::kDefault;
  config::SchedulerConfig::Weights weights_;
  std::string adapter_;  // the LoRA adapter requests name upstream (the backends' model)
  std::vector<const gateway::BackendState*> members_;
  std::vector<std::unique_ptr<ReplicaState>> replicas_;
  PrefixIndex index_;
  AdmissionQueue queue_;
  PoolMetrics metrics_;
  std::atomic<uint64_t> round_robin_{0};
  std::optional<boost::asio::any_io_executor> bookkeeping_;
  static constexpr int kMaxPendingRecords = 4096;
  std::atomic<int> pending_records_{0};
  // Ring of recent picks, written with relaxed atomics on the request path (no lock); a reader
  // may see a slot mid-update, which only blurs one line of a dashboard.
  struct PickSlot {
    std::atomic<uint64_t> packed{0};  // steady ms (42 bits) | replica (12) | prefix per-mille+1 (10)
    std::atomic<float> score{0};
  };
  void RememberPick(Clock::time_point now, size_t replica, double score, size_t matched, size_t blocks);
  std::array<PickSlot, kRecentPicks> recent_;
  std::atomic<uint64_t> recent_next_{0};
};

// Builds a Pool for every model with a `scheduler:` block and keeps their replicas scraped.
class SchedulerFactory : public gateway::PickerFactory {
 public:
  SchedulerFactory();
  ~SchedulerFactory() override;

  std::shared_ptr<gateway::ReplicaPicker> ForModel(const config::ModelConfig& model,
                                                   const std::vector<const gateway::BackendState*>& members) override;

  // Prometheus text (HELP/TYPE per family) for the live pools: picks, decision latency, queue
  // wait and depth, refusals, estimated prefix hit ratio, per-replica in-flight and health.
  void AppendPrometheus(std::string* out) const;
  // The live pool of `model` (latest built), or null.
  std::shared_ptr<Pool> FindPool(const std::string& model) const;
  // The newest live pool of every model, by model name.
  std::vector<std::shared_ptr<Pool>> LivePools() const;

 private:
  std::unique_ptr<Scraper> scraper_;
  mutable std::mutex mu_;
  std::vector<std::weak_ptr<Pool>> pools_;
};

}  // namespace ap::scheduler
