// base/strings.h — small string helpers shared by every module (case-insensitive compare,
// trimming, splitting, duration parsing). Nothing here allocates on the hot path unless it
// returns a std::string.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ap {

bool EqualsIgnoreCase(std::string_view a, std::string_view b);
std::string_view Trim(std::string_view s);
std::vector<std::string_view> Split(std::string_view s, char sep);
bool StartsWith(std::string_view s, std::string_view prefix);
// Parses "250ms", "5s", "2m", "1h", "30d" or a bare number of seconds.
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view s);
// Parses a whole non-negative decimal number; nullopt on anything else or overflow.
std::optional<uint64_t> ParseUint(std::string_view s);
// Parses "32MiB", "64KiB", "1GiB", "100KB" or bytes.
std::optional<uint64_t> ParseByteSize(std::string_view s);
// Writes `value` in plain decimal with at most 12 digits after the point, trailing zeros dropped
// ("0.00000585", "12.5", "0"), into [out, end) (32 bytes are always enough); returns the end of
// what it wrote (it may also write up to 12 bytes past that, within the 32). It prints
// llround(value × 1e12) ÷ 1e12: exact to 1e-12 below 1; from ~4,500, where the product nears
// 2^53, the last place carries the double's rounding. 1e6 and more, or negative values, fall back to
// std::to_chars' shortest fixed form (its shortest form from 1e15). Much cheaper than to_chars with a precision (money in headers).
char* AppendDecimal12(char* out, char* end, double value);

// Whether every byte of `s` is 0-9 or a-f (true for ""): W3C trace and span ids, minted ids.
// Eight bytes at a time, no branch per byte.
bool IsLowerHex(std::string_view s);

// Compares secrets without an early exit on the first differing byte (length still leaks).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace ap
