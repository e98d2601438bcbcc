// http/internal/syntax.cc — see syntax.h.
#include "http/internal/syntax.h"

#include <cstring>

#include <boost/beast/http/error.hpp>

namespace ap::http::internal {
namespace {
using boost::beast::http::error;
constexpr size_t kMaxChunkLine = 4096;  // a chunk-size line with its extensions
}  // namespace

size_t LineEnd(std::string_view in, size_t from, bool* bad) {
  *bad = false;
  const void* lf = std::memchr(in.data() + from, '\n', in.size() - from);
  if (!lf) return std::string_view::npos;
  const size_t at = static_cast<size_t>(static_cast<const char*>(lf) - in.data());
  if (at == from || in[at - 1] != '\r') {
    *bad = true;
    return std::string_view::npos;
  }
  return at - 1;
}

bool ParseContentLength(std::string_view value, uint64_t* length) {
  if (value.empty() || value.size() > 18) return false;
  uint64_t n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  *length = n;
  return true;
}

bool ParseTransferEncoding(std::string_view value, bool* chunked) {
  bool bad = false;
  ForEachListItem(value, [&](std::string_view item) {
    if (*chunked) bad = true;  // a coding after chunked
    std::string_view coding = TrimOws(item.substr(0, item.find(';')));  // without parameters
    bad |= !AllTokenChars(coding);  // not a coding: the framing is unknown
    if (EqualsLower(coding, "chunked")) *chunked = true;
  });
  return !bad;
}

size_t ParseChunkSizeLine(std::string_view in, uint64_t* size, error_code& ec) {
  bool bad = false;
  const size_t eol = LineEnd(in, 0, &bad);
  if (bad) {
    ec = error::bad_chunk;
    return 0;
  }
  if (eol == std::string_view::npos) {
    ec = in.size() > kMaxChunkLine ? error::bad_chunk : error::need_more;
    return 0;
  }
  if (eol > kMaxChunkLine) {
    ec = error::bad_chunk;
    return 0;
  }
  // chunk-size [ chunk-ext ]: hex digits, then optional whitespace and ";"-led extensions.
  uint64_t n = 0;
  size_t i = 0;
  for (; i < eol; ++i) {
    const char c = in[i];
    int digit = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
    if (digit < 0) break;
    if (n >> 60) {  // another digit would overflow
      ec = error::bad_chunk;
      return 0;
    }
    n = n * 16 + static_cast<uint64_t>(digit);
  }
  if (i == 0) {
    ec = error::bad_chunk;
    return 0;
  }
  while (i < eol && (in[i] == ' ' || in[i] == '\t')) ++i;
  if (i < eol && in[i] != ';') {
    ec = error::bad_chunk;
    return 0;
  }
  if (!AllValueChars(in.substr(i, eol - i))) {
    ec = error::bad_chunk_extension;
    return 0;
  }
  *size = n;
  return eol + 2;
}

size_t SkipTrailers(std::string_view in, size_t* bytes, size_t limit, bool* done, error_code& ec) {
  size_t used = 0;
  *done = false;
  while (true) {
    bool bad = false;
    const size_t eol = LineEnd(in, used, &bad);
    if (bad) {
      ec = error::bad_line_ending;
      return used;
    }
    if (eol == std::string_view::npos) {
      ec = *bytes + (in.size() - used) >= limit ? error::header_limit : error::need_more;
      return used;
    }
    const size_t line = eol - used;
    *bytes += line + 2;
    if (*bytes > limit) {
      ec = error::header_limit;
      return used;
    }
    used = eol + 2;
    if (line == 0) {
      *done = true;
      return used;
    }
    if (in.substr(used - line - 2, line).find(':') == std::string_view::npos) {
      ec = error::bad_field;
      return used;
    }
  }
}

}  // namespace ap::http::internal
