// base/random.cc — xoshiro256** seeded per thread from std::random_device.
#include "base/random.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
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

namespace {
// Two lowercase hex digits for every byte value: ids are written a byte (not a nibble) at a time.
constexpr auto kHexPairs = [] {
  constexpr char kHex[] = "0123456789abcdef";
  std::array<char, 512> t{};
  for (int b = 0; b < 256; ++b) {
    t[2 * b] = kHex[b >> 4];
    t[2 * b + 1] = kHex[b & 15];
  }
  return t;
}();

// Writes the low `bytes` bytes of `r` (low byte first) as 2 * bytes hex digits.
char* PutHex(char* out, uint64_t r, int bytes) {
  for (int k = 0; k < bytes; ++k, r >>= 8) {
    std::memcpy(out, &kHexPairs[2 * (r & 0xff)], 2);
    out += 2;
  }
  return out;
}
}  // namespace

std::string RandomHexId(int bytes) {
  std::string out(static_cast<size_t>(bytes) * 2, '0');
  char* p = out.data();
  for (int i = 0; i < bytes; i += 8) p = PutHex(p, RandomU64(), std::min(8, bytes - i));
  return out;
}

std::string TimeOrderedHexId(int64_t unix_millis) {
  // 48 bits of time, most significant digit first (so ids sort by time), then 80 random bits.
  std::string out(32, '0');
  uint64_t t = static_cast<uint64_t>(unix_millis) & 0xffff'ffff'ffffull;
  for (int i = 5; i >= 0; --i, t >>= 8) std::memcpy(&out[2 * i], &kHexPairs[2 * (t & 0xff)], 2);
  char* p = PutHex(out.data() + 12, RandomU64(), 8);
  PutHex(p, RandomU64(), 2);
  return out;
}

std::string TimeOrderedHexId() {
  return TimeOrderedHexId(std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count());
}

}  // namespace ap
