// sim/kv_cache_test.cc — prefix sharing, LRU eviction and all-or-nothing allocation.
#include "sim/kv_cache.h"

#include <gtest/gtest.h>

namespace ap::sim {
namespace {

std::vector<uint64_t> Chain(uint32_t first_token, int blocks) {
  std::vector<uint64_t> out;
  uint64_t parent = 0;
  for (int b = 0; b < blocks; ++b) {
    std::vector<uint32_t> toks(16, first_token + static_cast<uint32_t>(b));
    parent = BlockHash(parent, toks);
    out.push_back(parent);
  }
  return out;
}

// Allocates `hashes.size()` blocks for a request, commits them, and releases them.
void Fill(KvCache& kv, const std::vector<uint64_t>& hashes) {
  std::vector<BlockId> table;
  int hits = kv.AcquireCached(hashes, &table);
  ASSERT_TRUE(kv.Allocate(static_cast<int>(hashes.size()) - hits, &table));
  for (size_t i = 0; i < hashes.size(); ++i) kv.Commit(table[i], hashes[i]);
  kv.Release(&table);
}

TEST(KvCache, RepeatedPrefixHits) {
  KvCache kv(8, 16);
  auto a = Chain(100, 3);
  Fill(kv, a);
  EXPECT_EQ(kv.num_free(), 8);  // released blocks stay cached but count as free
  std::vector<BlockId> table;
  EXPECT_EQ(kv.AcquireCached(a, &table), 3);
  EXPECT_EQ(kv.num_free(), 5);
  EXPECT_NEAR(kv.Usage(), 3.0 / 8, 1e-9);
  kv.Release(&table);
}

TEST(KvCache, ChainedHashNeedsEqualPrefix) {
  // Same second-block tokens after a different first block: no hit at all.
  std::vector<uint32_t> x(16, 1), y(16, 2), z(16, 3);
  EXPECT_NE(BlockHash(BlockHash(0, x), z), BlockHash(BlockHash(0, y), z));
  KvCache kv(8, 16);
  Fill(kv, Chain(100, 2));
  std::vector<BlockId> table;
  auto other = Chain(200, 2);
  EXPECT_EQ(kv.AcquireCached(other, &table), 0);
}

TEST(KvCache, MissAfterEviction) {
  KvCache kv(4, 16);
  auto a = Chain(100, 3);
  Fill(kv, a);
  Fill(kv, Chain(500, 4));  // needs every block: evicts all of a's
  EXPECT_GE(kv.evictions(), 3);
  std::vector<BlockId> table;
  EXPECT_EQ(kv.AcquireCached(a, &table), 0);
}

TEST(KvCache, LruEvictsOldestFirst) {
  KvCache kv(4, 16);
  auto a = Chain(100, 2);
  auto b = Chain(300, 2);
  Fill(kv, a);
  Fill(kv, b);
  std::vector<BlockId> t;
  ASSERT_EQ(kv.AcquireCached(a, &t), 2);  // touch a: b becomes least recently used
  kv.Release(&t);
  ASSERT_TRUE(kv.Allocate(2, &t));
  kv.Release(&t);
  std::vector<BlockId> ta, tb;
  EXPECT_EQ(kv.AcquireCached(a, &ta), 2);
  EXPECT_EQ(kv.AcquireCached(b, &tb), 0);
}

TEST(KvCache, AllocateIsAllOrNothing) {
  KvCache kv(4, 16);
  std::vector<BlockId> t1, t2;
  ASSERT_TRUE(kv.Allocate(3, &t1));
  EXPECT_FALSE(kv.Allocate(2, &t2));
  EXPECT_TRUE(t2.empty());
  EXPECT_EQ(kv.num_free(), 1);
  kv.Release(&t1);
  EXPECT_EQ(kv.num_free(), 4);
}

}  // namespace
}  // namespace ap::sim
