// sim/kv_cache.cc — block table bookkeeping: an intrusive LRU free list plus a hash index.
#include "sim/kv_cache.h"

#include <cassert>

#include "sim/tokenizer.h"

namespace ap::sim {

uint64_t BlockHash(uint64_t parent_hash, std::span<const uint32_t> tokens) {
  uint64_t h = Mix(parent_hash, 0x6b76636163686521ull);
  for (uint32_t t : tokens) h = Mix(h, t);
  return h;
}

KvCache::KvCache(int64_t num_blocks, int block_size)
    : block_size_(block_size), blocks_(static_cast<size_t>(num_blocks)) {
  for (BlockId b = 0; b < static_cast<BlockId>(num_blocks); ++b) PushFreeBack(b);
}

double KvCache::Usage() const {
  if (blocks_.empty()) return 0;
  return 1.0 - static_cast<double>(num_free_) / static_cast<double>(blocks_.size());
}

void KvCache::PushFreeBack(BlockId b) {
  Block& k = blocks_[b];
  k.prev = free_tail_;
  k.next = -1;
  if (free_tail_ >= 0) blocks_[free_tail_].next = b; else free_head_ = b;
  free_tail_ = b;
  k.on_free_list = true;
  ++num_free_;
}

void KvCache::PushFreeFront(BlockId b) {
  Block& k = blocks_[b];
  k.prev = -1;
  k.next = free_head_;
  if (free_head_ >= 0) blocks_[free_head_].prev = b; else free_tail_ = b;
  free_head_ = b;
  k.on_free_list = true;
  ++num_free_;
}

void KvCache::RemoveFree(BlockId b) {
  Block& k = blocks_[b];
  assert(k.on_free_list);
  if (k.prev >= 0) blocks_[k.prev].next = k.next; else free_head_ = k.next;
  if (k.next >= 0) blocks_[k.next].prev = k.prev; else free_tail_ = k.prev;
  k.prev = k.next = -1;
  k.on_free_list = false;
  --num_free_;
}

int KvCache::AcquireCached(std::span<const uint64_t> hashes, std::vector<BlockId>* table) {
  int hits = 0;
  for (uint64_t h : hashes) {
    auto it = by_hash_.find(h);
    if (it == by_hash_.end()) break;
    BlockId b = it->second;
    Block& k = blocks_[b];
    if (k.refs == 0 && k.on_free_list) RemoveFree(b);
    ++k.refs;
    table->push_back(b);
    ++hits;
  }
  return hits;
}

bool KvCache::Allocate(int n, std::vector<BlockId>* table) {
  if (n <= 0) return true;
  if (num_free_ < n) return false;
  for (int i = 0; i < n; ++i) {
    BlockId b = free_head_;
    RemoveFree(b);
    Block& k = blocks_[b];
    if (k.has_hash) {  // evict: the cached content is overwritten
      auto it = by_hash_.find(k.hash);
      if (it != by_hash_.end() && it->second == b) by_hash_.erase(it);
      k.has_hash = false;
      ++evictions_;
    }
    k.refs = 1;
    table->push_back(b);
  }
  return true;
}

void KvCache::Commit(BlockId block, uint64_t hash) {
  Block& k = blocks_[block];
  if (k.has_hash) return;
  k.hash = hash;
  k.has_hash = true;
  by_hash_.emplace(hash, block);  // a duplicate keeps the first block as the shared one
}

void KvCache::Release(std::vector<BlockId>* table) {
  for (auto it = table->rbegin(); it != table->rend(); ++it) {
    Block& k = blocks_[*it];
    assert(k.refs > 0);
    if (--k.refs == 0) {
      // Cached blocks go to the back (most recently used); empty ones are reused first.
      if (k.has_hash) PushFreeBack(*it); else PushFreeFront(*it);
    }
  }
  table->clear();
}

}  // namespace ap::sim
