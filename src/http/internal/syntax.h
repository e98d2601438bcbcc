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
#include <string_view>

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

inline bool AllValueChars(std::string_view s) {
  for (unsigned char c : s)
    if (!kValueChar[c]) return false;
  return true;
}

// Compares `s` with `lower` ignoring ASCII case; `lower` must be lower-case letters, digits
// and '-' (header names and tokens as the parsers compare them).
inline bool EqualsLower(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i)
    if ((s[i] | 0x20) != lower[i]) return false;
  return true;
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
