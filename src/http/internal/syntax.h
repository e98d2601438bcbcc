// http/internal/syntax.h — HTTP/1.1 message syntax shared by the request and response parsers
// (RFC 9110/9112): character classes, line ends, list fields, framing fields and the chunked
// coding's size lines and trailers. Everything is strict where leniency would let a peer smuggle
// a second message: bare LF line ends, values with control characters, Content-Length with other
// than digits, a coding after chunked. Errors are Beast's error codes, so both parsers report
// alike.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <boost/system/error_code.hpp>

namespace ap::http::internal {

using error_code = boost::system::error_code;

// tchar (RFC 9110 5.6.2): the characters of a field name, a method or a transfer coding.
inline constexpr auto kTokenChar = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = t[c - 32] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

// Field value bytes: visible characters, obs-text, space and tab (no CR, LF, NUL or other CTLs).
inline constexpr auto kValueChar = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 256; ++c) t[c] = c != 0x7f;
  t['\t'] = true;
  return t;
}();

inline bool AllTokenChars(std::string_view s) {
  for (unsigned char c : s)
    if (!kTokenChar[c]) return false;
  return !s.empty();
}

// Whether every byte is a field value byte. Eight bytes at a time while none is below 0x20 or
// 0x7f (bit tricks: exact for "any byte"); the word holding one (a tab, say) and the rest go
// byte by byte.
inline bool AllValueChars(std::string_view s) {
  constexpr uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
  const char* p = s.data();
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, sizeof w);
    const uint64_t del = w ^ (0x7f * kOnes);
    if ((((w - 0x20 * kOnes) & ~w) | ((del - kOnes) & ~del)) & kHigh) break;
  }
  for (; i < s.size(); ++i)
    if (!kValueChar[static_cast<unsigned char>(p[i])]) return false;
  return true;
}

// How many characters of the line at `in[at]` (`size` long, its CR behind it in `in`) are
// token characters. Field names are letters, digits and '-' in practice: with SSE2 those are
// recognised sixteen at a time, and any other character is then left to the table.
inline size_t TokenPrefix(std::string_view in, size_t at, size_t size) {
  const auto* p = reinterpret_cast<const unsigned char*>(in.data() + at);
  size_t i = 0;
#if defined(__SSE2__)
  while (at + i + 16 <= in.size()) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    const __m128i folded = _mm_or_si128(v, _mm_set1_epi8(0x20));  // only letters fold onto a-z
    const __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(folded, _mm_set1_epi8('a' - 1)),
                                         _mm_cmplt_epi8(folded, _mm_set1_epi8('z' + 1)));
    const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                        _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
    const __m128i dash = _mm_cmpeq_epi8(v, _mm_set1_epi8('-'));
    const unsigned ok = static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(letter, digit), dash)));
    const unsigned run = static_cast<unsigned>(__builtin_ctz(~ok));  // ok has 16 bits: run <= 16
    i += run;
    if (run < 16) break;  // the line's CR at the latest: i <= size
  }
#endif
  while (i < size && kTokenChar[p[i]]) ++i;
  return i;
}

// Whether `s` is `lower` but for case; `lower` holds lowercase letters, digits and '-' only.
// (s|0x20 equals one of those where s is that character, or for '-' and digits a control
// character: compare names and values whose bytes were checked, or where that does not matter.)
inline bool EqualsLower(std::string_view s, std::string_view lower) {
  const size_t n = s.size();
  if (n != lower.size()) return false;
  if (n < 8) {
    for (size_t i = 0; i < n; ++i)
      if ((s[i] | 0x20) != lower[i]) return false;
    return true;
  }
  // Eight bytes at a time; the last word overlaps the one before when n is not a multiple of 8.
  constexpr uint64_t kCase = 0x2020202020202020ull;
  auto word = [](const char* p) {
    uint64_t w;
    std::memcpy(&w, p, sizeof w);
    return w;
  };
  for (size_t i = 0; i + 8 < n; i += 8)
    if ((word(s.data() + i) | kCase) != word(lower.data() + i)) return false;
  return (word(s.data() + n - 8) | kCase) == word(lower.data() + n - 8);
}

// Optional whitespace (SP, HTAB) trimmed from both ends.
inline std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls `each` with every element of a comma-separated list, trimmed, empty ones skipped.
template <typename F>
void ForEachListItem(std::string_view list, F each) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = TrimOws(list.substr(0, comma));
    if (!item.empty()) each(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// What a message's Connection fields say about persistence (RFC 9112 9.3): Read each field's
// value, then ask whether a message of that HTTP version keeps its connection.
struct ConnectionTokens {
  bool close = false;
  bool keep_alive = false;
  void Read(std::string_view value) {
    ForEachListItem(value, [this](std::string_view item) {
      if (EqualsLower(item, "close")) close = true;
      else if (EqualsLower(item, "keep-alive")) keep_alive = true;
    });
  }
  // HTTP/1.1 unless "close"; HTTP/1.0 only with "keep-alive" (and no "close").
  bool Persistent(unsigned version) const { return version >= 11 ? !close : keep_alive && !close; }
};

// Where the line starting at `from` ends (the index of the CR before its LF), npos when no LF
// has arrived yet; `bad` when the LF has no CR before it. A CR inside a line is left to the
// caller's character checks, so the verdict does not depend on how the bytes were split.
size_t LineEnd(std::string_view in, size_t from, bool* bad);

// Content-Length's value: 1 to 18 digits (no sign, no list). False: bad_content_length.
bool ParseContentLength(std::string_view value, uint64_t* length);

// Transfer-Encoding's value, one field at a time: sets *chunked when chunked is the last coding
// so far. False (bad_transfer_encoding) for a coding after chunked or one that is not a token.
bool ParseTransferEncoding(std::string_view value, bool* chunked);

// The chunked coding (RFC 9112 7.1): one chunk-size line with its extensions. Returns the
// bytes consumed (0 with need_more when the line has not arrived whole) and the size.
size_t ParseChunkSizeLine(std::string_view in, uint64_t* size, error_code& ec);

// Reads past trailer fields up to and including the empty line that ends the message; returns
// the bytes consumed and sets *done when the end was reached. *bytes counts the trailer's size
// over calls (header_limit past `limit`).
size_t SkipTrailers(std::string_view in, size_t* bytes, size_t limit, bool* done, error_code& ec);

}  // namespace ap::http::internal
