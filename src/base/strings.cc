// base/strings.cc
#include "base/strings.h"

#include <charconv>
#include <cmath>

#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <utility>

namespace ap {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  // ASCII case folding (no locale): header names, schemes and tokens are ASCII.
  auto fold = [](char c) {
    auto u = static_cast<unsigned char>(c);
    return static_cast<unsigned char>(u - 'A') < 26 ? static_cast<unsigned char>(u | 0x20) : u;
  };
  for (size_t i = 0; i < a.size(); ++i)
    if (fold(a[i]) != fold(b[i])) return false;
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::optional<uint64_t> ParseUint(std::string_view s) {
  uint64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view s) {
  s = Trim(s);
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return std::nullopt;
  double n = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + i, n);
  if (ec != std::errc() || ptr != s.data() + i || n < 0) return std::nullopt;
  std::string_view unit = s.substr(i);
  double ms;
  if (unit.empty() || unit == "s") ms = n * 1000;
  else if (unit == "ms") ms = n;
  else if (unit == "m") ms = n * 60'000;
  else if (unit == "h") ms = n * 3'600'000;
  else if (unit == "d") ms = n * 86'400'000;
  else return std::nullopt;
  if (ms > 1e15) return std::nullopt;
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

std::optional<uint64_t> ParseByteSize(std::string_view s) {
  s = Trim(s);
  size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  auto n = ParseUint(s.substr(0, i));
  if (!n) return std::nullopt;
  std::string_view unit = Trim(s.substr(i));
  uint64_t mult;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "KiB") mult = 1ull << 10;
  else if (unit == "MiB") mult = 1ull << 20;
  else if (unit == "GiB") mult = 1ull << 30;
  else if (unit == "KB" || unit == "kB") mult = 1000;
  else if (unit == "MB") mult = 1000'000;
  else if (unit == "GB") mult = 1000'000'000;
  else return std::nullopt;
  if (*n > UINT64_MAX / mult) return std::nullopt;
  return *n * mult;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  // Eight bytes per step (every key check on the request path runs this): the differences are
  // OR-ed together and looked at once at the end, so the time depends only on the length.
  uint64_t diff = 0;
  size_t i = 0;
  for (; i + 8 <= a.size(); i += 8) {
    uint64_t x, y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    diff |= x ^ y;
  }
  for (; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
  volatile uint64_t result = diff;  // keeps the compiler from turning the loop into an early exit
  return result == 0;
}

namespace {
// The high bit of each byte of `x` (every byte < 0x80) set where that byte is >= `c`: adding
// 0x80 - c carries into a byte's high bit exactly then, and never into the next byte.
constexpr uint64_t AtLeast(uint64_t x, uint8_t c) {
  return (x + 0x0101010101010101ull * static_cast<uint8_t>(0x80 - c)) & 0x8080808080808080ull;
}

bool IsLowerHexWord(uint64_t x) {
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  if (x & kHigh) return false;
  const uint64_t digit = AtLeast(x, '0') & ~AtLeast(x, '9' + 1);
  const uint64_t letter = AtLeast(x, 'a') & ~AtLeast(x, 'f' + 1);
  return (digit | letter) == kHigh;
}
}  // namespace

bool IsLowerHex(std::string_view s) {
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, s.data() + i, 8);
    if (!IsLowerHexWord(word)) return false;
  }
  for (; i < s.size(); ++i)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
  return true;
}

char* AppendDecimal12(char* out, char* end, double value) {
  if (!(value >= 0 && value < 1e6)) {  // NaN included
    if (std::fabs(value) < 1e15) return std::to_chars(out, end, value, std::chars_format::fixed).ptr;
    return std::to_chars(out, end, value).ptr;
  }
  constexpr uint64_t kScale = 1'000'000'000'000;
  // Rounded half away from zero as llround would, without the libm call: the product's
  // fraction is exact (p − trunc(p) loses nothing), where p + 0.5 would round a tie to even.
  const double product = value * static_cast<double>(kScale);
  auto scaled = static_cast<uint64_t>(product);
  if (product - static_cast<double>(scaled) >= 0.5) ++scaled;
  out = std::to_chars(out, end, scaled / kScale).ptr;
  const uint64_t frac = scaled % kScale;
  if (frac == 0) return out;
  // All twelve digits two at a time in 32-bit arithmetic, then the trailing zeros cut off (a
  // cost header on every reply: a 64-bit division per digit cost ~300 instructions).
  static constexpr char kPairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  char digits[12];
  for (auto [half, at] : {std::pair{static_cast<uint32_t>(frac / 1'000'000), 0},
                          std::pair{static_cast<uint32_t>(frac % 1'000'000), 6}}) {
    for (int i = at + 4; i >= at; i -= 2) {
      std::memcpy(digits + i, kPairs + 2 * (half % 100), 2);
      half /= 100;
    }
  }
  size_t n = sizeof digits;
  while (digits[n - 1] == '0') --n;  // frac > 0: a non-zero digit stops it
  *out++ = '.';
  std::memcpy(out, digits, sizeof digits);  // all twelve (a fixed-size copy) within the 32 bytes
  return out + n;
}

}  // namespace ap
