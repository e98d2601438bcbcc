// scheduler/scorers.h — the filters and scorers of one scheduling decision, as pure functions
// over a small array of candidates, so each is tested in isolation and a pick allocates nothing.
//
// A decision: the pool fills one Candidate per replica from ReplicaState (a consistent-enough
// snapshot), the filters drop candidates, each scorer writes a score in [0,1] per candidate, the
// weighted sum ranks them and the best wins (ties broken at random). Scores follow the Gateway API
// Inference Extension's shapes: queue and in-flight are min-max normalised across candidates,
// KV-cache is 1 − usage, prefix is the share of the prompt's blocks the replica holds.
// Nothing here reads clocks, locks or the network.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "config/config.h"
#include "scheduler/replica_state.h"

namespace ap::scheduler {

enum Score : int { kQueue, kKvCache, kPrefix, kSession, kLora, kInFlight, kNumScores };
const char* ScoreName(int score);

struct Candidate {
  size_t replica = 0;           // index in the pool
  bool down = false;            // failing scrapes or requests
  bool fresh = false;           // metrics sample recent enough to use
  double waiting = 0;           // estimated waiting queue (fresh only)
  double kv_usage = -1;         // 0..1; < 0 unknown
  int64_t in_flight = 0;        // gateway's own count
  uint32_t prefix_blocks = 0;   // leading prompt blocks the replica is believed to hold
  std::shared_ptr<const LoraSnapshot> lora;  // only loaded when a LoRA weight/filter needs it
  std::array<double, kNumScores> scores{};
  double total = 0;
};

// Filters: compact `c` in place, returning the kept prefix. Each keeps the input when it would
// drop every candidate (a filter must never turn a slow answer into no answer).
std::span<Candidate> FilterHealthy(std::span<Candidate> c);
// Saturated: fresh metrics with waiting ≥ max_waiting or KV usage ≥ max_kv_cache. Returns the
// unsaturated ones (possibly none — the caller then queues).
std::span<Candidate> FilterUnsaturated(std::span<Candidate> c, int max_waiting, double max_kv_cache);
bool Saturated(const Candidate& c, int max_waiting, double max_kv_cache);
// Adapter available: the adapter is loaded (running/waiting) or the replica has a free LoRA slot.
std::span<Candidate> FilterLoraAvailable(std::span<Candidate> c, std::string_view adapter);

// Scorers.
void ScoreQueue(std::span<Candidate> c);
void ScoreKvCache(std::span<Candidate> c);
void ScorePrefix(std::span<Candidate> c, size_t prompt_blocks);
void ScoreInFlight(std::span<Candidate> c);
// Session affinity: rendezvous hashing of the session id over the replicas, so a session keeps
// its replica while the pool does not change and moves only when that replica is filtered out.
void ScoreSession(std::span<Candidate> c, uint64_t session_hash);
void ScoreLora(std::span<Candidate> c, std::string_view adapter);

// Weighted sum into Candidate::total; returns the index (into c) of the best, ties broken with
// `draw` in [0,1). c must not be empty.
size_t Rank(std::span<Candidate> c, const config::SchedulerConfig::Weights& w, double draw);

uint64_t HashString(std::string_view s);

}  // namespace ap::scheduler
