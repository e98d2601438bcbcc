// http/internal/response_parser.cc — see response_parser.h.
#include "http/internal/response_parser.h"

#include <cstring>

#include <boost/beast/http/error.hpp>

#include "http/internal/syntax.h"

namespace ap::http::internal {
namespace {
using boost::beast::http::error;
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
  has_length_ = chunked_ = has_transfer_encoding_ = false;
  connection_ = {};
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
  if (!AllValueChars(line.substr(12))) {
    ec = error::bad_reason;
    return false;
  }
  return true;
}

bool ResponseParser::ParseField(std::string_view name, std::string_view value, error_code& ec) {
  switch (name.size()) {
    case 10:
      if (EqualsLower(name, "connection")) connection_.Read(value);
      return true;
    // The values the gateway passes on to its client are checked byte by byte (no CR or other
    // control character reaches a client's head); fields it neither keeps nor interprets are not.
    case 11: return !EqualsLower(name, "retry-after") || Keep(value, &retry_after_, ec);
    case 12: return !EqualsLower(name, "content-type") || Keep(value, &content_type_, ec);
    case 14:
      if (EqualsLower(name, "content-length")) {
        uint64_t n = 0;
        if (!ParseContentLength(value, &n)) {
          ec = error::bad_content_length;
          return false;
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
        const bool bad = !ParseTransferEncoding(value, &chunked_);
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
  keep_alive_ = connection_.Persistent(static_cast<unsigned>(version_));
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
  if (!AllValueChars(value)) {
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
  uint64_t size = 0;
  const size_t used = ParseChunkSizeLine(in, &size, ec);
  if (ec) return 0;
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
  return used;
}

size_t ResponseParser::ParseTrailers(std::string_view in, error_code& ec) {
  // Trailer fields are read past (the gateway keeps none), up to the empty line.
  bool done = false;
  const size_t used = SkipTrailers(in, &trailer_bytes_, header_limit_, &done, ec);
  if (done) state_ = State::kDone;
  return used;
}

}  // namespace ap::http::internal
