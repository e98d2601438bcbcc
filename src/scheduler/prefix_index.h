// scheduler/prefix_index.h — an approximate, per-replica picture of which prompt prefixes each
// replica holds in its KV cache, learned from the scheduler's own routing decisions.
//
// A prompt is cut into fixed blocks of characters (64 ≈ 16 tokens); block i's hash chains the
// hash of block i−1, so equal hashes mean equal text up to and including that block (as vLLM's
// block hashes). Each replica keeps an LRU of block hashes bounded by its KV-cache capacity (in
// the same block units); a global map from block hash to the set of replicas holding it answers
// "longest prefix held by each replica" with O(replicas × log blocks) lookups, assuming (as the
// chaining makes nearly true) that a replica holding block i also holds blocks 0..i−1.
// It never touches the network and never blocks for long: every lock is held for a few lookups.
// Replica sets are 64-bit masks: pools larger than 64 replicas share bits (index mod 64), which
// only makes the estimate coarser.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ap::scheduler {

// Chained hashes of the full `block_chars`-sized blocks of `text`, at most `max_blocks` of them
// (appended to `out`, which is cleared first).
void HashPromptBlocks(std::string_view text, size_t block_chars, size_t max_blocks,
                      std::vector<uint64_t>* out);

class PrefixIndex {
 public:
  // `capacity_blocks`: the initial per-replica capacity (until SetCapacity learns the real one).
  PrefixIndex(size_t replicas, size_t capacity_blocks);

  size_t replicas() const { return replicas_.size(); }
  void SetCapacity(size_t replica, size_t blocks);
  size_t Capacity(size_t replica) const;
  size_t Size(size_t replica) const;

  // For every replica whose bit is set in `candidates`, the number of leading blocks of `hashes`
  // it holds (written to out[replica]; others are left at 0). `out` must have replicas() slots.
  void Match(std::span<const uint64_t> hashes, uint64_t candidates, std::span<uint32_t> out) const;

  // The request with these blocks was routed to `replica`: it now holds them (most recent).
  void Record(size_t replica, std::span<const uint64_t> hashes);

  static uint64_t Bit(size_t replica) { return uint64_t{1} << (replica % 64); }

 private:
  static constexpr size_t kShards = 64;
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<uint64_t, uint64_t> holders;  // block hash → replica mask
  };
  // Lazy LRU: `last_use` maps a block to the sequence number of its latest use; `order` lists
  // (block, sequence) in use order, stale entries (a later use exists) are skipped on eviction.
  struct Replica {
    mutable std::mutex mu;
    size_t capacity = 0;
    uint64_t seq = 0;
    std::unordered_map<uint64_t, uint64_t> last_use;
    std::deque<std::pair<uint64_t, uint64_t>> order;
  };

  Shard& ShardOf(uint64_t h) const { return shards_[(h >> 58) % kShards]; }
  uint64_t Holders(uint64_t h) const;
  void SetHolder(uint64_t h, uint64_t bit, bool on);
  void EvictLocked(size_t replica, Replica& r);
  void CompactLocked(Replica& r);

  std::unique_ptr<Shard[]> shards_;
  std::vector<std::unique_ptr<Replica>> replicas_;
};

}  // namespace ap::scheduler
