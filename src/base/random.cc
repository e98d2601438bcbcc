// base/random.cc — xoshiro256** seeded per thread from std::random_device.
#include "base/random.h"

#include <chrono>
#include <random>

namespace ap {
namespace {
struct Xoshiro {
  uint64_t s[4];
  Xoshiro() {
    std::random_device rd;
    for (auto& x : s) x = (uint64_t{rd()} << 32) ^ rd();
  }
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t Next() {
    uint64_t result = Rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = Rotl(s[3], 45);
    return result;
  }
};
thread_local Xoshiro g_rng;
}  // namespace

uint64_t RandomU64() { return g_rng.Next(); }
double RandomUnit() { return static_cast<double>(RandomU64() >> 11) * 0x1.0p-53; }

std::string RandomHexId(int bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(static_cast<size_t>(bytes) * 2, '0');
  char* p = out.data();
  for (int i = 0; i < bytes; i += 8) {
    uint64_t r = RandomU64();
    for (int k = 0; k < 8 && i + k < bytes; ++k, r >>= 8) {
      *p++ = kHex[(r >> 4) & 15];
      *p++ = kHex[r & 15];
    }
  }
  return out;
}

std::string TimeOrderedHexId(int64_t unix_millis) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  uint64_t t = static_cast<uint64_t>(unix_millis) & 0xffff'ffff'ffffull;
  for (int i = 11; i >= 0; --i, t >>= 4) out[i] = kHex[t & 15];
  uint64_t r = RandomU64(), r2 = RandomU64();
  for (int i = 12; i < 28; ++i, r >>= 4) out[i] = kHex[r & 15];
  for (int i = 28; i < 32; ++i, r2 >>= 4) out[i] = kHex[r2 & 15];
  return out;
}

std::string TimeOrderedHexId() {
  return TimeOrderedHexId(std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count());
}

}  // namespace ap
