// http/internal/request_parser.cc — see request_parser.h.
#include "http/internal/request_parser.h"

#include <algorithm>
#include <cstring>

#include <boost/beast/http/error.hpp>

#include "http/internal/syntax.h"

namespace ap::http::internal {
namespace {
using boost::beast::http::error;
namespace bhttp = boost::beast::http;

// request-target bytes: anything visible, obs-text included (as Beast), no SP or CTL.
bool AllTargetChars(std::string_view s) {
  for (unsigned char c : s)
    if (c <= 0x20 || c == 0x7f) return false;
  return !s.empty();
}

constexpr size_t kBodyReserve = 1 << 20;  // a declared length beyond this is grown into, not reserved
}  // namespace

void RequestParser::Reset(Request* into, uint64_t header_limit, uint64_t body_limit) {
  request_ = into;
  request_->clear();
  state_ = State::kHead;
  header_limit_ = header_limit;
  body_limit_ = body_limit;
  scanned_ = line_start_ = 0;
  line_ends_.clear();
  got_some_ = expect_continue_ = false;
  has_length_ = chunked_ = has_transfer_encoding_ = false;
  length_ = 0;
  trailer_bytes_ = 0;
}

size_t RequestParser::Put(std::string_view in, error_code& ec) {
  ec = {};
  if (!in.empty()) got_some_ = true;
  size_t used = 0;
  if (state_ == State::kHead) {
    used = ParseHead(in, ec);
    if (ec) return used;
  }
  while (state_ != State::kDone) {
    std::string_view rest = in.substr(used);
    switch (state_) {
      case State::kLength:
        used += TakeBody(rest, ec);
        if (!ec && length_ == 0) state_ = State::kDone;
        break;
      case State::kChunkSize: {
        uint64_t size = 0;
        size_t n = ParseChunkSizeLine(rest, &size, ec);
        if (ec) break;
        used += n;
        if (size == 0) {
          state_ = State::kTrailers;
        } else if (size > body_limit_ - request_->body_.size()) {
          ec = error::body_limit;
        } else {
          length_ = size;
          state_ = State::kChunkData;
        }
        break;
      }
      case State::kChunkData:
        used += TakeBody(rest, ec);
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
      case State::kTrailers: {
        bool done = false;
        used += SkipTrailers(rest, &trailer_bytes_, header_limit_, &done, ec);
        if (done) state_ = State::kDone;
        break;
      }
      case State::kHead:
      case State::kDone: break;
    }
    if (ec) return used;
  }
  return used;
}

size_t RequestParser::ParseHead(std::string_view in, error_code& ec) {
  // Find the empty line that ends the head, searching only bytes not searched before; every LF
  // on the way must follow a CR.
  size_t head_size = 0;
  for (size_t from = scanned_;;) {
    const void* lf = std::memchr(in.data() + from, '\n', in.size() - from);
    if (!lf) {
      scanned_ = in.size();
      ec = in.size() >= header_limit_ ? error::header_limit : error::need_more;
      return 0;
    }
    const size_t at = static_cast<size_t>(static_cast<const char*>(lf) - in.data());
    if (at == 0 || in[at - 1] != '\r') {
      ec = error::bad_line_ending;
      return 0;
    }
    if (at - 1 == line_start_) {  // an empty line
      if (line_start_ == 0) {      // before any request line
        ec = error::bad_method;
        return 0;
      }
      head_size = at + 1;
      break;
    }
    line_ends_.push_back(static_cast<uint32_t>(at - 1));  // where its CR is
    line_start_ = at + 1;
    from = at + 1;
  }
  if (head_size > header_limit_) {
    ec = error::header_limit;
    return 0;
  }
  // One copy of the head into the request; the line, names and values are views into it.
  request_->storage_.assign(in.data(), head_size);
  const std::string_view head(request_->storage_);
  if (!ParseRequestLine(head.substr(0, line_ends_[0]), ec)) return 0;
  for (size_t i = 1; i < line_ends_.size(); ++i) {
    const size_t at = line_ends_[i - 1] + 2;
    if (!ParseFieldLine(head, at, line_ends_[i] - at, ec)) return 0;
  }
  StartBody(ec);
  return ec ? 0 : head_size;
}

// method SP request-target SP HTTP-version
bool RequestParser::ParseRequestLine(std::string_view line, error_code& ec) {
  const size_t sp = line.find(' ');
  const std::string_view method = line.substr(0, sp);
  if (sp == std::string_view::npos || !AllTokenChars(method)) {
    ec = error::bad_method;
    return false;
  }
  const size_t sp2 = line.find(' ', sp + 1);
  const std::string_view target = line.substr(sp + 1, sp2 == std::string_view::npos ? std::string_view::npos : sp2 - sp - 1);
  if (sp2 == std::string_view::npos || !AllTargetChars(target)) {
    ec = error::bad_target;
    return false;
  }
  const std::string_view version = line.substr(sp2 + 1);
  if (version == "HTTP/1.1") {
    request_->version_ = 11;
  } else if (version == "HTTP/1.0") {
    request_->version_ = 10;
  } else {
    ec = error::bad_version;
    return false;
  }
  request_->method_ = method;
  request_->verb_ = bhttp::string_to_verb(method);
  request_->target_ = target;
  return true;
}

bool RequestParser::ParseFieldLine(std::string_view head, size_t at, size_t size, error_code& ec) {
  const std::string_view line = head.substr(at, size);
  if (line[0] == ' ' || line[0] == '\t') {  // obs-fold: refused (RFC 9112 5.2)
    ec = error::bad_obs_fold;
    return false;
  }
  // The name: token characters up to the colon (none, or anything else first, is an error).
  const size_t colon = TokenPrefix(head, at, size);
  if (colon == 0 || colon == size || line[colon] != ':') {
    ec = error::bad_field;
    return false;
  }
  const std::string_view name = line.substr(0, colon);
  const std::string_view value = TrimOws(line.substr(colon + 1));
  if (!AllValueChars(value)) {
    ec = error::bad_value;
    return false;
  }
  request_->fields_.push_back({name, value, Request::NameKey(name)});
  // The framing fields and Expect; everything else is the handler's.
  switch (name.size()) {
    case 6:
      if (EqualsLower(name, "expect"))
        ForEachListItem(value, [&](std::string_view item) { expect_continue_ |= EqualsLower(item, "100-continue"); });
      return true;
    case 14:
      if (EqualsLower(name, "content-length")) {
        if (has_length_) {  // two lengths: which one frames the body is ambiguous
          ec = error::multiple_content_length;
          return false;
        }
        if (!ParseContentLength(value, &length_)) {
          ec = error::bad_content_length;
          return false;
        }
        has_length_ = true;
      }
      return true;
    case 17:
      if (EqualsLower(name, "transfer-encoding")) {
        // A request's body is chunked or has a length (RFC 9112 6.3): chunked, once, is the only
        // coding accepted; anything else cannot be framed or would reach the handler encoded.
        has_transfer_encoding_ = true;
        bool bad = false;
        ForEachListItem(value, [&](std::string_view item) {
          bad |= chunked_ || !EqualsLower(item, "chunked");
          chunked_ = true;
        });
        if (bad || value.empty()) {
          ec = error::bad_transfer_encoding;
          return false;
        }
      }
      return true;
    default: return true;
  }
}

void RequestParser::StartBody(error_code& ec) {
  if (has_transfer_encoding_ && has_length_) {  // RFC 9112 6.3: a smuggling vector; refuse it
    ec = error::bad_transfer_encoding;
    return;
  }
  if (chunked_) {
    state_ = State::kChunkSize;
  } else if (has_length_) {
    if (length_ > body_limit_) {
      ec = error::body_limit;
      return;
    }
    request_->body_.reserve(std::min<uint64_t>(length_, kBodyReserve));
    state_ = length_ == 0 ? State::kDone : State::kLength;
  } else {
    state_ = State::kDone;  // a request without either has no body
  }
}

size_t RequestParser::TakeBody(std::string_view in, error_code& ec) {
  if (in.empty()) {
    ec = error::need_more;
    return 0;
  }
  const size_t n = std::min<uint64_t>(in.size(), length_);
  request_->body_.append(in.data(), n);
  length_ -= n;
  return n;
}

}  // namespace ap::http::internal
