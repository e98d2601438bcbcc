#include "base/strings.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "base/random.h"

namespace ap {

TEST(Strings, Durations) {
  EXPECT_EQ(ParseDuration("250ms")->count(), 250);
  EXPECT_EQ(ParseDuration("5s")->count(), 5000);
  EXPECT_EQ(ParseDuration("2m")->count(), 120000);
  EXPECT_EQ(ParseDuration("1.5")->count(), 1500);
  EXPECT_EQ(ParseDuration("30d")->count(), 30ll * 86400000);
  EXPECT_FALSE(ParseDuration("5 parsecs"));
  EXPECT_FALSE(ParseDuration(""));
  EXPECT_FALSE(ParseDuration("-1s"));
}

TEST(Strings, ByteSizes) {
  EXPECT_EQ(*ParseByteSize("32MiB"), 32u << 20);
  EXPECT_EQ(*ParseByteSize("64KiB"), 64u << 10);
  EXPECT_EQ(*ParseByteSize("100"), 100u);
  EXPECT_FALSE(ParseByteSize("12XB"));
  EXPECT_FALSE(ParseByteSize("99999999999999999999GiB"));
}

TEST(Strings, SplitTrimCase) {
  auto parts = Split("a,b,,c", ',');
  ASSERT_EQ(parts.size(), 4u);
  EXPECT_EQ(parts[3], "c");
  EXPECT_EQ(Trim("  x \t"), "x");
  EXPECT_TRUE(EqualsIgnoreCase("X-Model-Id", "x-model-id"));
}

TEST(Random, HexIdShapeAndUniqueness) {
  auto a = RandomHexId();
  auto b = RandomHexId();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  for (int bytes : {1, 8, 12, 16}) {
    auto id = RandomHexId(bytes);
    EXPECT_EQ(id.size(), 2u * bytes);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
  }
  double u = RandomUnit();
  EXPECT_GE(u, 0.0);
  EXPECT_LT(u, 1.0);
}

TEST(Random, TimeOrderedHexIdSortsByTimeAndKeepsRandomBits) {
  auto a = TimeOrderedHexId(1'764'500'000'000);
  auto b = TimeOrderedHexId(1'764'500'000'001);
  auto c = TimeOrderedHexId(1'764'500'000'001);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(a.substr(0, 12), "019ad4654d00");  // 1764500000000 ms in 48-bit hex
  EXPECT_LT(a, b);
  EXPECT_EQ(b.substr(0, 12), c.substr(0, 12));
  EXPECT_NE(b, c);  // same millisecond, different random tail
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
}

}  // namespace ap

#include "base/log.h"

namespace ap {
TEST(Log, Iso8601) {
  auto t = std::chrono::system_clock::from_time_t(1445412480) + std::chrono::microseconds(123456);
  EXPECT_EQ(log::Iso8601(t), "2015-10-21T07:28:00.123Z");
  EXPECT_EQ(log::Iso8601(t, 6), "2015-10-21T07:28:00.123456Z");
}
}  // namespace ap

namespace ap {
namespace {
std::string Decimal(double v) {
  char buf[32];
  return std::string(buf, AppendDecimal12(buf, buf + sizeof buf, v));
}
}  // namespace

TEST(Strings, LowerHexAcceptsOnlyDigitsAndAToF) {
  EXPECT_TRUE(IsLowerHex(""));
  EXPECT_TRUE(IsLowerHex("0123456789abcdef"));
  EXPECT_TRUE(IsLowerHex("0af7651916cd43dd8448eb211c80319c"));
  EXPECT_TRUE(IsLowerHex("0af7651916cd43dd8448eb211c80319c7"));  // a tail past the last word
  // Every byte value in every position of a word and of the tail: only 0-9 and a-f pass.
  for (size_t at : {size_t{0}, size_t{5}, size_t{7}, size_t{8}, size_t{15}, size_t{18}}) {
    for (int c = 0; c < 256; ++c) {
      std::string s(19, 'a');
      s[at] = static_cast<char>(c);
      const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      EXPECT_EQ(IsLowerHex(s), hex) << at << " " << c;
    }
  }
}

TEST(Strings, Decimal12IsPlainAndExactTo12Places) {
  EXPECT_EQ(Decimal(0), "0");
  EXPECT_EQ(Decimal(12.5), "12.5");
  EXPECT_EQ(Decimal(11 * 0.15e-6 + 7 * 0.60e-6), "0.00000585");
  EXPECT_EQ(Decimal(1e-12), "0.000000000001");
  EXPECT_EQ(Decimal(4e-13), "0");  // below the 12th place
  EXPECT_EQ(Decimal(999999.999999999999), "1000000");
  EXPECT_EQ(Decimal(123.000000000001), "123.000000000001");
  EXPECT_EQ(Decimal(2e6), "2000000");  // to_chars' shortest form above 1e6
  EXPECT_EQ(Decimal(-0.5), "-0.5");
  for (double v : {0.1, 0.25, 3.14159, 1e-7, 0.0000246, 42.0})
    EXPECT_NEAR(std::stod(Decimal(v)), v, 1e-12) << v;
  EXPECT_EQ(Decimal(0.010203040506), "0.010203040506");  // every digit pair in its place
  EXPECT_EQ(Decimal(0.999999999999), "0.999999999999");
  EXPECT_EQ(Decimal(0.1), "0.1");
  // Exactly llround(value × 1e12) ÷ 1e12 over [0, 1e6): the integer part, a point and the
  // twelve-digit fraction less its trailing zeros — ties and the 2^52..2^53 products included.
  uint64_t y = 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < 20000; ++i) {
    y ^= y << 13, y ^= y >> 7, y ^= y << 17;
    double v = static_cast<double>(y >> 11) / static_cast<double>(1ull << 53) * std::pow(10.0, static_cast<int>(y % 13) - 6);
    if (i % 4 == 0) v = static_cast<double>(y % 1'000'000'000) / 1024.0;  // ties: exact binary fractions
    if (v >= 1e6) continue;
    const auto scaled = static_cast<uint64_t>(std::llround(v * 1e12));
    std::string want = std::to_string(scaled / 1'000'000'000'000ull);
    if (const uint64_t frac = scaled % 1'000'000'000'000ull) {
      char f[16];
      std::snprintf(f, sizeof f, "%012llu", static_cast<unsigned long long>(frac));
      std::string digits(f);
      while (digits.back() == '0') digits.pop_back();
      want += "." + digits;
    }
    ASSERT_EQ(Decimal(v), want) << v;
  }
  // Against printf's rounding to 12 places, trailing zeros cut, over many magnitudes.
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 20000; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    // Below 1, where value × 1e12 is exact enough for all twelve places (above ~9,000 the
    // product passes 2^53 and the last places are the double's noise).
    const double v = static_cast<double>(x % 1'000'000'000'000ull) * std::pow(10.0, -static_cast<int>(x % 13) - 12);
    char want[64];
    std::snprintf(want, sizeof want, "%.12f", v);
    std::string w(want);
    while (w.back() == '0') w.pop_back();
    if (w.back() == '.') w.pop_back();
    const std::string got = Decimal(v);
    // Exact halves may round apart (llround vs printf's round-half-even on the binary value).
    if (got != w) EXPECT_NEAR(std::stod(got), std::stod(w), 1.01e-12) << v;
  }
}

}  // namespace ap
