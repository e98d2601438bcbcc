// http/internal/response_parser.cc — see response_parser.h.
#include "http/internal/response_parser.h"

#include <array>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <boost/beast/http/error.hpp>

namespace ap::http::internal {
namespace {
using boost::beast::http::error;

constexpr size_t kMaxChunkLine = 4096;  // a chunk-size line with its extensions

// tchar (RFC 9110): the characters of a field name.
constexpr auto kToken = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = t[c - 32] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

// Field value bytes: visible characters, obs-text, space and tab (no CR, LF, NUL or other CTLs).
constexpr auto kValue = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 256; ++c) t[c] = c != 0x7f;
  t['\t'] = true;
  return t;
}();

// Whether `s` is `lower` but for case; `lower` holds lowercase letters and '-' only (and s|0x20
// equals one of those only where s is that character or, for '-', a CR).
bool EqualsLower(std::string_view s, std::string_view lower) {
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

inline bool IsOws(char c) { return c == ' ' || c == '\t'; }

inline std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && IsOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsOws(s.back())) s.remove_suffix(1);
  return s;
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
  while (i < size && kToken[p[i]]) ++i;
  return i;
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

bool AllValueBytes(std::string_view s) {
  // Eight bytes at a time while none is below 0x20 or 0x7f (bit tricks: exact for "any byte");
  // the word holding one, a tab for instance, and the rest go byte by byte.
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
    if (!kValue[static_cast<unsigned char>(p[i])]) return false;
  return true;
}

}  // namespace

size_t ResponseParser::put(boost::asio::const_buffer input, error_code& ec) {
  ec = {};
  std::string_view in(static_cast<const char*>(input.data()), input.size());
  if (!in.empty()) got_some_ = true;
  if (state_ == State::kHead) return ParseHead(in, ec);
  size_t used = 0;
  while (!ec && state_ != State::kDone) {
    std::string_view rest = in.substr(used);
    switch (state_) {
      case State::kLength:
        used += Deliver(rest, &length_, ec);
        if (!ec && length_ == 0) state_ = State::kDone;
        break;
      case State::kEof: {
        uint64_t unbounded = UINT64_MAX;  // counted down and dropped: the end of the connection ends it
        used += Deliver(rest, &unbounded, ec);
        break;
      }
      case State::kChunkSize: used += ParseChunkSize(rest, ec); break;
      case State::kChunkData:
        used += Deliver(rest, &length_, ec);
        if (!ec && length_ == 0) state_ = State::kChunkEnd;
        break;
      case State::kChunkEnd:
        if (rest.size() < 2) {
          ec = error::need_more;
        } else if (rest[0] != '\r' || rest[1] != '\n') {
          ec = error::bad_chunk;
        } else {
          used += 2;
          state_ = State::kChunkSize;
        }
        break;
      case State::kTrailers: used += ParseTrailers(rest, ec); break;
      case State::kHead:
      case State::kDone: break;
    }
  }
  return used;
}

void ResponseParser::put_eof(error_code& ec) {
  ec = {};
  if (state_ == State::kEof) {
    state_ = State::kDone;
    keep_alive_ = false;
  } else if (state_ != State::kDone) {
    ec = error::partial_message;
  }
}

size_t ResponseParser::ParseHead(std::string_view in, error_code& ec) {
  // Lines are parsed as they arrive; the head is consumed only once its empty line is in `in`,
  // so a head split across reads is parsed again from its start (what was learnt is reset).
  has_length_ = chunked_ = has_transfer_encoding_ = connection_close_ = connection_keep_alive_ = false;
  content_type_.clear();
  retry_after_.clear();
  size_t at = 0;
  for (bool status_line = true;; status_line = false) {
    bool bad = false;
    const size_t eol = LineEnd(in, at, &bad);
    if (bad) {
      ec = error::bad_line_ending;
      return 0;
    }
    if (eol == std::string_view::npos) {
      ec = in.size() >= header_limit_ ? error::header_limit : error::need_more;
      return 0;
    }
    if (eol + 2 > header_limit_) {
      ec = error::header_limit;
      return 0;
    }
    const size_t line_at = at;
    const std::string_view line = in.substr(at, eol - at);
    at = eol + 2;
    if (status_line) {
      if (!ParseStatusLine(line, ec)) return 0;
      continue;
    }
    if (line.empty()) break;  // the end of the head
    if (line[0] == ' ' || line[0] == '\t') {  // obs-fold: refused (RFC 9112 5.2)
      ec = error::bad_obs_fold;
      return 0;
    }
    // The name: token characters up to the colon (none, or anything else first, is an error).
    const size_t colon = TokenPrefix(in, line_at, line.size());
    if (colon == 0 || colon == line.size() || line[colon] != ':') {
      ec = error::bad_field;
      return 0;
    }
    if (!ParseField(line.substr(0, colon), TrimOws(line.substr(colon + 1)), ec)) return 0;
  }
  StartBody(ec);
  return ec ? 0 : at;
}

// HTTP/1.x SP 3DIGIT [SP reason].
bool ResponseParser::ParseStatusLine(std::string_view line, error_code& ec) {
  if (line.size() < 12 || line.substr(0, 5) != "HTTP/" || line[5] != '1' || line[6] != '.' ||
      (line[7] != '0' && line[7] != '1')) {  // HTTP/1.0 and 1.1 only
    ec = error::bad_version;
    return false;
  }
  version_ = 10 + (line[7] - '0');
  if (line[8] != ' ' || line[9] < '1' || line[9] > '9' || line[10] < '0' || line[10] > '9' || line[11] < '0' ||
      line[11] > '9' || (line.size() > 12 && line[12] != ' ')) {
    ec = error::bad_status;
    return false;
  }
  status_ = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (!AllValueBytes(line.substr(12))) {
    ec = error::bad_reason;
    return false;
  }
  return true;
}

bool ResponseParser::ParseField(std::string_view name, std::string_view value, error_code& ec) {
  switch (name.size()) {
    case 10:
      if (EqualsLower(name, "connection")) {
        ForEachListItem(value, [&](std::string_view item) {
          if (EqualsLower(item, "close")) connection_close_ = true;
          else if (EqualsLower(item, "keep-alive")) connection_keep_alive_ = true;
        });
      }
      return true;
    // The values the gateway passes on to its client are checked byte by byte (no CR or other
    // control character reaches a client's head); fields it neither keeps nor interprets are not.
    case 11: return !EqualsLower(name, "retry-after") || Keep(value, &retry_after_, ec);
    case 12: return !EqualsLower(name, "content-type") || Keep(value, &content_type_, ec);
    case 14:
      if (EqualsLower(name, "content-length")) {
        uint64_t n = 0;
        if (value.empty() || value.size() > 18) {
          ec = error::bad_content_length;
          return false;
        }
        for (char c : value) {
          if (c < '0' || c > '9') {
            ec = error::bad_content_length;
            return false;
          }
          n = n * 10 + static_cast<uint64_t>(c - '0');
        }
        if (has_length_ && n != length_) {  // two lengths: which one frames the body is ambiguous
          ec = error::multiple_content_length;
          return false;
        }
        has_length_ = true;
        length_ = n;
      }
      return true;
    case 17:
      if (EqualsLower(name, "transfer-encoding")) {
        // Chunked must be the last coding, and only once; anything else is read to the end.
        has_transfer_encoding_ = true;
        bool bad = false;
        ForEachListItem(value, [&](std::string_view item) {
          if (chunked_) bad = true;  // a coding after chunked
          std::string_view coding = TrimOws(item.substr(0, item.find(';')));  // without parameters
          for (unsigned char c : coding) bad |= !kToken[c];  // not a coding: the framing is unknown
          if (EqualsLower(coding, "chunked")) chunked_ = true;
        });
        if (bad) {
          ec = error::bad_transfer_encoding;
          return false;
        }
      }
      return true;
    default: return true;
  }
}

void ResponseParser::StartBody(error_code& ec) {
  if (has_transfer_encoding_ && has_length_) {  // RFC 9112 6.3: a smuggling vector; refuse it
    ec = error::bad_transfer_encoding;
    return;
  }
  keep_alive_ = version_ >= 11 ? !connection_close_ : connection_keep_alive_ && !connection_close_;
  if ((status_ >= 100 && status_ < 200) || status_ == 204 || status_ == 304) {
    state_ = State::kDone;  // no body, whatever the fields say
    return;
  }
  if (has_transfer_encoding_ && chunked_) {
    state_ = State::kChunkSize;
  } else if (has_length_) {
    if (body_limit_ && length_ > *body_limit_) {
      ec = error::body_limit;
      return;
    }
    state_ = length_ == 0 ? State::kDone : State::kLength;
  } else {
    state_ = State::kEof;  // delimited by the end of the connection, which then cannot be reused
    keep_alive_ = false;
  }
}

bool ResponseParser::Keep(std::string_view value, KeptValue* into, error_code& ec) {
  if (!AllValueBytes(value)) {
    ec = error::bad_value;
    return false;
  }
  into->assign(value);
  return true;
}

size_t ResponseParser::Deliver(std::string_view in, uint64_t* remaining, error_code& ec) {
  if (in.empty()) {
    ec = error::need_more;
    return 0;
  }
  if (room_ == 0) {
    ec = error::need_buffer;
    return 0;
  }
  size_t n = std::min<uint64_t>({in.size(), *remaining, room_});
  if (body_limit_ && body_bytes_ + n > *body_limit_) {
    ec = error::body_limit;
    return 0;
  }
  std::memcpy(out_ + written_, in.data(), n);
  written_ += n;
  room_ -= n;
  body_bytes_ += n;
  *remaining -= n;
  return n;
}

size_t ResponseParser::ParseChunkSize(std::string_view in, error_code& ec) {
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
  uint64_t size = 0;
  size_t i = 0;
  for (; i < eol; ++i) {
    const char c = in[i];
    int digit = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
    if (digit < 0) break;
    if (size >> 60) {  // another digit would overflow
      ec = error::bad_chunk;
      return 0;
    }
    size = size * 16 + static_cast<uint64_t>(digit);
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
  if (!AllValueBytes(in.substr(i, eol - i))) {
    ec = error::bad_chunk_extension;
    return 0;
  }
  if (size == 0) {
    state_ = State::kTrailers;
  } else {
    if (body_limit_ && body_bytes_ + size > *body_limit_) {
      ec = error::body_limit;
      return 0;
    }
    length_ = size;
    state_ = State::kChunkData;
  }
  return eol + 2;
}

size_t ResponseParser::ParseTrailers(std::string_view in, error_code& ec) {
  // Trailer fields are read past (the gateway keeps none), a line at a time, up to the empty one.
  size_t used = 0;
  while (true) {
    bool bad = false;
    const size_t eol = LineEnd(in, used, &bad);
    if (bad) {
      ec = error::bad_line_ending;
      return used;
    }
    if (eol == std::string_view::npos) {
      ec = trailer_bytes_ + (in.size() - used) >= header_limit_ ? error::header_limit : error::need_more;
      return used;
    }
    const size_t line = eol - used;
    trailer_bytes_ += line + 2;
    if (trailer_bytes_ > header_limit_) {
      ec = error::header_limit;
      return used;
    }
    used = eol + 2;
    if (line == 0) {
      state_ = State::kDone;
      return used;
    }
    if (in.substr(used - line - 2, line).find(':') == std::string_view::npos) {
      ec = error::bad_field;
      return used;
    }
  }
}

}  // namespace ap::http::internal
