// sim/engine.h — one simulated vLLM engine: continuous batching over a paged, prefix-cached KV
// cache, in virtual time.
//
// The engine never reads a clock and never sleeps: the caller passes `now` (seconds) and runs
// steps as BeginStep (choose the batch, return how long it takes) then EndStep (emit tokens).
// The real-time driver (sim/runner.h) does that on an asio timer; tests do it with a fake clock.
// Scheduling follows vLLM v1: running requests first (decode or chunked prefill) within a token
// budget, then waiting requests FCFS while KV blocks, max_num_seqs and max_loras allow;
// preemption by recompute when a running request cannot get a block. Single-threaded by design.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "sim/kv_cache.h"
#include "sim/metrics.h"
#include "sim/profiles.h"

namespace ap::sim {

struct EngineRequest {
  std::vector<uint32_t> prompt;
  std::vector<uint32_t> output;  // the planned output token ids; its size is the output length
  std::string lora;              // adapter name, empty for the base model
  bool hits_max_tokens = false;  // the output was cut by max_tokens (finish_reason "length")
};

struct TokenEvent {
  uint64_t id;
  int new_tokens;  // tokens emitted by this step (0 or 1)
  bool finished;
  int64_t cached_tokens;  // prompt tokens served from the prefix cache (at admission)
};

class Engine {
 public:
  explicit Engine(EngineConfig config);
  ~Engine();

  const EngineConfig& config() const { return config_; }
  uint64_t Add(EngineRequest request, double now);
  // Drops a request wherever it is and frees its blocks. False when unknown or finished.
  bool Abort(uint64_t id);

  // Chooses the next batch at `now`; returns the step's duration, or nullopt when idle.
  std::optional<double> BeginStep(double now);
  // Completes the step begun by BeginStep at `now`, appending token events.
  void EndStep(double now, std::vector<TokenEvent>* events);
  bool in_step() const { return in_step_; }

  size_t num_running() const { return running_.size(); }
  size_t num_waiting() const { return waiting_.size(); }
  const KvCache& kv_cache() const { return kv_; }
  const EngineStats& stats() const { return stats_; }
  // Tokens of a request served from the prefix cache at its (last) admission; -1 if unknown.
  int64_t CachedTokens(uint64_t id) const;
  // Comma-separated adapter names of running / waiting requests (vllm:lora_requests_info).
  std::string RunningLoras() const;
  std::string WaitingLoras() const;

 private:
  struct Seq;
  bool Admit(Seq& s, int64_t* budget);
  bool Schedule(Seq& s, int64_t* budget, bool allow_preempt);
  void Preempt(Seq& s);
  void Finish(Seq& s, double now);
  void EnsureHashes(Seq& s, int64_t tokens);

  EngineConfig config_;
  KvCache kv_;
  EngineStats stats_;
  std::unordered_map<uint64_t, std::unique_ptr<Seq>> seqs_;
  std::vector<Seq*> running_;
  std::deque<Seq*> waiting_;
  std::vector<Seq*> step_;  // scheduled in the current step
  uint64_t next_id_ = 1;
  bool in_step_ = false;
  double step_started_ = 0;
};

}  // namespace ap::sim
