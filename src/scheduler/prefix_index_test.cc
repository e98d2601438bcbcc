// scheduler/prefix_index_test.cc — block hashing, longest-prefix matching and LRU eviction of
// the approximate prefix index.
#include "scheduler/prefix_index.h"

#include <gtest/gtest.h>

#include <thread>

namespace ap::scheduler {
namespace {

std::string Text(char seed, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>('a' + (seed * 7 + i * 13 + i / 5) % 26));
  return s;
}

TEST(HashPromptBlocks, ChainsFullBlocksOnly) {
  std::vector<uint64_t> a, b;
  HashPromptBlocks(Text(1, 64 * 5 + 10), 64, 100, &a);
  EXPECT_EQ(a.size(), 5u);  // the partial tail block is not hashed
  std::string t = Text(1, 64 * 5);
  t[70] ^= 1;  // change block 1: blocks 1.. differ, block 0 equal
  HashPromptBlocks(t, 64, 100, &b);
  ASSERT_EQ(b.size(), 5u);
  EXPECT_EQ(a[0], b[0]);
  for (int i = 1; i < 5; ++i) EXPECT_NE(a[i], b[i]) << i;
  HashPromptBlocks(Text(1, 64 * 50), 64, 8, &b);
  EXPECT_EQ(b.size(), 8u);  // capped
}

TEST(HashPromptBlocks, SameBlockTextAtDifferentPositionsDiffers) {
  std::string block = Text(3, 64);
  std::vector<uint64_t> h;
  HashPromptBlocks(block + block, 64, 10, &h);
  ASSERT_EQ(h.size(), 2u);
  EXPECT_NE(h[0], h[1]);  // chained on the parent
}

TEST(PrefixIndex, LongestPrefixPerReplica) {
  PrefixIndex index(4, 1000);
  std::vector<uint64_t> full, half, other;
  std::string base = Text(2, 64 * 20);
  HashPromptBlocks(base, 64, 100, &full);
  HashPromptBlocks(base.substr(0, 64 * 10) + Text(9, 64 * 10), 64, 100, &half);
  HashPromptBlocks(Text(5, 64 * 20), 64, 100, &other);
  index.Record(0, full);
  index.Record(1, std::span<const uint64_t>(full).subspan(0, 7));
  index.Record(2, other);
  std::vector<uint32_t> out(4, 0);
  index.Match(full, ~0ull, out);
  EXPECT_EQ(out[0], 20u);
  EXPECT_EQ(out[1], 7u);
  EXPECT_EQ(out[2], 0u);
  EXPECT_EQ(out[3], 0u);
  std::fill(out.begin(), out.end(), 0);
  index.Match(half, ~0ull, out);  // shares its first 10 blocks with `full`
  EXPECT_EQ(out[0], 10u);
  EXPECT_EQ(out[1], 7u);
  std::fill(out.begin(), out.end(), 0);
  index.Match(full, PrefixIndex::Bit(1) | PrefixIndex::Bit(2), out);  // candidates only
  EXPECT_EQ(out[0], 0u);
  EXPECT_EQ(out[1], 7u);
}

TEST(PrefixIndex, EvictsLeastRecentlyUsedBlocksFirst) {
  PrefixIndex index(1, 30);
  std::vector<uint64_t> a, b, c;
  HashPromptBlocks(Text(1, 64 * 10), 64, 100, &a);
  HashPromptBlocks(Text(2, 64 * 10), 64, 100, &b);
  HashPromptBlocks(Text(3, 64 * 10), 64, 100, &c);
  index.Record(0, a);
  index.Record(0, b);
  index.Record(0, c);
  EXPECT_EQ(index.Size(0), 30u);
  index.Record(0, a);  // a is now the most recent; b the least
  std::vector<uint64_t> d;
  HashPromptBlocks(Text(4, 64 * 4), 64, 100, &d);
  index.Record(0, d);  // needs 4 blocks: b's tail goes first
  EXPECT_EQ(index.Size(0), 30u);
  std::vector<uint32_t> out(1, 0);
  index.Match(a, ~0ull, out);
  EXPECT_EQ(out[0], 10u);
  out[0] = 0;
  index.Match(b, ~0ull, out);
  EXPECT_EQ(out[0], 6u);  // head of b survives, its last 4 blocks were evicted
  out[0] = 0;
  index.Match(c, ~0ull, out);
  EXPECT_EQ(out[0], 10u);
}

TEST(PrefixIndex, ShrinkingCapacityEvicts) {
  PrefixIndex index(2, 100);
  std::vector<uint64_t> a;
  HashPromptBlocks(Text(1, 64 * 50), 64, 100, &a);
  index.Record(1, a);
  EXPECT_EQ(index.Size(1), 50u);
  index.SetCapacity(1, 20);
  EXPECT_EQ(index.Size(1), 20u);
  std::vector<uint32_t> out(2, 0);
  index.Match(a, ~0ull, out);
  EXPECT_EQ(out[1], 20u);  // the head survives
}

TEST(PrefixIndex, ConcurrentRecordAndMatchStayBounded) {
  PrefixIndex index(8, 200);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::vector<uint64_t> h;
      std::vector<uint32_t> out(8);
      for (int i = 0; i < 2000; ++i) {
        HashPromptBlocks(Text(static_cast<char>(i % 17), 64 * (1 + i % 30)), 64, 100, &h);
        index.Match(h, ~0ull, out);
        index.Record((t + i) % 8, h);
      }
    });
  for (auto& t : threads) t.join();
  for (size_t r = 0; r < 8; ++r) EXPECT_LE(index.Size(r), 200u);
}

}  // namespace
}  // namespace ap::scheduler
