// scheduler/prefix_index.cc — block hashing and the approximate per-replica prefix index.
#include "scheduler/prefix_index.h"

#include <cstring>

namespace ap::scheduler {
namespace {

constexpr uint64_t kP1 = 0x9E3779B97F4A7C15ull;
constexpr uint64_t kP2 = 0xC2B2AE3D27D4EB4Full;
constexpr uint64_t kP3 = 0x165667B19E3779F9ull;

inline uint64_t Load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

inline uint64_t Mix(uint64_t h) {
  h ^= h >> 33;
  h *= kP2;
  h ^= h >> 29;
  h *= kP3;
  h ^= h >> 32;
  return h;
}

// Hash of one block's bytes (seeded by `parent`): four independent lanes over 8-byte words (so the CPU
// overlaps the multiplications), folded and finalised. Not cryptographic; collisions only make a
// prefix estimate wrong, never a response.
uint64_t HashBlock(uint64_t parent, const char* p, size_t n) {
  uint64_t a = parent ^ kP1, b = parent + kP2, c = parent * kP3 + 1, d = ~parent;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a = (a ^ Load64(p + i)) * kP1;
    b = (b ^ Load64(p + i + 8)) * kP1;
    c = (c ^ Load64(p + i + 16)) * kP1;
    d = (d ^ Load64(p + i + 24)) * kP1;
    a ^= a >> 31;
    b ^= b >> 31;
    c ^= c >> 31;
    d ^= d >> 31;
  }
  uint64_t h = a ^ (b * kP2) ^ (c * kP3) ^ (d * kP1) ^ n;
  for (; i + 8 <= n; i += 8) h = (h ^ Load64(p + i)) * kP1;
  for (; i < n; ++i) h = (h ^ static_cast<unsigned char>(p[i])) * kP2;
  return h;  // mixed later, after chaining
}

}  // namespace

void HashPromptBlocks(std::string_view text, size_t block_chars, size_t max_blocks,
                      std::vector<uint64_t>* out) {
  out->clear();
  if (block_chars == 0) return;
  size_t n = std::min(text.size() / block_chars, max_blocks);
  out->reserve(n);
  // Each block's content hash is independent of the others (so the CPU overlaps them); only a
  // cheap multiply-rotate links them into a chain, and the finaliser runs off the chain.
  uint64_t chain = 0x6a09e667f3bcc909ull;
  for (size_t i = 0; i < n; ++i) {
    uint64_t content = HashBlock(kP3, text.data() + i * block_chars, block_chars);
    chain = ((chain << 23) | (chain >> 41)) ^ content;
    chain *= kP1;
    out->push_back(Mix(chain ^ i));
  }
}

PrefixIndex::PrefixIndex(size_t replicas, size_t capacity_blocks) : shards_(new Shard[kShards]) {
  for (size_t i = 0; i < replicas; ++i) {
    auto r = std::make_unique<Replica>();
    r->capacity = capacity_blocks;
    replicas_.push_back(std::move(r));
  }
}

void PrefixIndex::SetCapacity(size_t replica, size_t blocks) {
  auto& r = *replicas_[replica];
  std::lock_guard lock(r.mu);
  if (r.capacity == blocks) return;
  r.capacity = blocks;
  EvictLocked(replica, r);
}

size_t PrefixIndex::Capacity(size_t replica) const {
  std::lock_guard lock(replicas_[replica]->mu);
  return replicas_[replica]->capacity;
}

size_t PrefixIndex::Size(size_t replica) const {
  std::lock_guard lock(replicas_[replica]->mu);
  return replicas_[replica]->last_use.size();
}

uint64_t PrefixIndex::Holders(uint64_t h) const {
  auto& s = ShardOf(h);
  std::lock_guard lock(s.mu);
  auto it = s.holders.find(h);
  return it == s.holders.end() ? 0 : it->second;
}

void PrefixIndex::SetHolder(uint64_t h, uint64_t bit, bool on) {
  auto& s = ShardOf(h);
  std::lock_guard lock(s.mu);
  if (on) {
    s.holders[h] |= bit;
    return;
  }
  auto it = s.holders.find(h);
  if (it == s.holders.end()) return;
  it->second &= ~bit;
  if (it->second == 0) s.holders.erase(it);
}

void PrefixIndex::Match(std::span<const uint64_t> hashes, uint64_t candidates,
                        std::span<uint32_t> out) const {
  if (hashes.empty() || candidates == 0) return;
  const size_t n = hashes.size();
  auto assign = [&](uint64_t mask, uint32_t len) {
    for (size_t r = 0; r < replicas_.size() && r < out.size(); ++r)
      if (mask & Bit(r) & candidates) out[r] = len;
  };
  uint64_t first = Holders(hashes[0]) & candidates;
  if (first == 0) return;
  uint64_t last = n == 1 ? first : Holders(hashes[n - 1]) & first;
  assign(last, static_cast<uint32_t>(n));
  // Divide and conquer over [lo, hi] with known holder sets (monotone: later ⊆ earlier). A
  // replica in mask(lo) but not mask(hi) stops holding somewhere in between.
  struct Range {
    size_t lo, hi;
    uint64_t mlo, mhi;
  };
  Range stack[128];
  size_t top = 0;
  if (n > 1) stack[top++] = {0, n - 1, first, last};
  while (top > 0) {
    Range r = stack[--top];
    if (r.mlo == r.mhi) continue;
    if (r.hi - r.lo == 1) {
      assign(r.mlo & ~r.mhi, static_cast<uint32_t>(r.lo + 1));
      continue;
    }
    size_t mid = r.lo + (r.hi - r.lo) / 2;
    uint64_t mm = Holders(hashes[mid]) & r.mlo;
    mm |= r.mhi;  // whoever holds a later block is assumed to hold this one
    if (top + 2 > std::size(stack)) {  // cannot happen for depth ≤ 64, kept as a bound
      assign(r.mlo & ~r.mhi, static_cast<uint32_t>(r.lo + 1));
      continue;
    }
    stack[top++] = {mid, r.hi, mm, r.mhi};
    stack[top++] = {r.lo, mid, r.mlo, mm};
  }
}

void PrefixIndex::Record(size_t replica, std::span<const uint64_t> hashes) {
  if (hashes.empty() || replica >= replicas_.size()) return;
  auto& r = *replicas_[replica];
  const uint64_t bit = Bit(replica);
  std::lock_guard lock(r.mu);
  // Tail blocks first, so the head of the prompt is the most recently used and evicted last
  // (vLLM also frees a finished request's tail blocks first).
  for (size_t i = hashes.size(); i-- > 0;) {
    uint64_t h = hashes[i];
    uint64_t s = ++r.seq;
    auto [it, inserted] = r.last_use.try_emplace(h, s);
    if (!inserted) it->second = s;
    else SetHolder(h, bit, true);
    r.order.emplace_back(h, s);
  }
  EvictLocked(replica, r);
  if (r.order.size() > 4 * r.last_use.size() + 1024) CompactLocked(r);
}

void PrefixIndex::EvictLocked(size_t replica, Replica& r) {
  const uint64_t bit = Bit(replica);
  while (r.last_use.size() > r.capacity && !r.order.empty()) {
    auto [h, s] = r.order.front();
    r.order.pop_front();
    auto it = r.last_use.find(h);
    if (it == r.last_use.end() || it->second != s) continue;  // used again later
    r.last_use.erase(it);
    SetHolder(h, bit, false);
  }
}

void PrefixIndex::CompactLocked(Replica& r) {
  std::deque<std::pair<uint64_t, uint64_t>> kept;
  for (const auto& e : r.order) {
    auto it = r.last_use.find(e.first);
    if (it != r.last_use.end() && it->second == e.second) kept.push_back(e);
  }
  r.order.swap(kept);
}

}  // namespace ap::scheduler
