// sim/kv_cache.h — the paged KV cache of one simulated engine, with vLLM's automatic prefix caching.
//
// The cache is `num_blocks` blocks of `block_size` tokens. A full block is identified by a
// chained hash (the previous block's hash combined with this block's token ids), so two requests
// share a block only when everything before it is equal too. Blocks no request references stay
// cached on a free list in LRU order and are evicted (their hash forgotten) only when a block is
// needed. It is single-threaded and never allocates per token: the engine owns it on its loop.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

namespace ap::sim {

using BlockId = int32_t;

// The chained hash of one full block.
uint64_t BlockHash(uint64_t parent_hash, std::span<const uint32_t> tokens);

class KvCache {
 public:
  KvCache(int64_t num_blocks, int block_size);

  int block_size() const { return block_size_; }
  int64_t num_blocks() const { return static_cast<int64_t>(blocks_.size()); }
  // Blocks on the free list (unreferenced, cached or empty): vLLM's "free" blocks.
  int64_t num_free() const { return num_free_; }
  // 1 - free/total, as vLLM's kv_cache_usage_perc.
  double Usage() const;

  // Looks up the longest chain of cached blocks for the given full-block hashes and takes a
  // reference on each; returns how many blocks hit. The caller appends them to its table.
  int AcquireCached(std::span<const uint64_t> hashes, std::vector<BlockId>* table);
  // Takes `n` fresh blocks (evicting LRU cached ones). All or nothing: false when fewer are free.
  bool Allocate(int n, std::vector<BlockId>* table);
  // Marks a block full with `hash`, so later requests can share it.
  void Commit(BlockId block, uint64_t hash);
  // Drops the references of a request's table (last block first, so tails are evicted first).
  void Release(std::vector<BlockId>* table);

  // Evictions of cached blocks so far (tests and metrics).
  int64_t evictions() const { return evictions_; }

 private:
  struct Block {
    uint64_t hash = 0;
    bool has_hash = false;
    int32_t refs = 0;
    BlockId prev = -1, next = -1;  // free-list links
    bool on_free_list = false;
  };
  void PushFreeBack(BlockId b);
  void PushFreeFront(BlockId b);
  void RemoveFree(BlockId b);

  int block_size_;
  std::vector<Block> blocks_;
  std::unordered_map<uint64_t, BlockId> by_hash_;
  BlockId free_head_ = -1, free_tail_ = -1;  // head: next to reuse (least recently used)
  int64_t num_free_ = 0;
  int64_t evictions_ = 0;
};

}  // namespace ap::sim
