// http/internal/request_parser.h — the server's request parser: request line, header fields into
// an http::Request, and the body (Content-Length or chunked, with extensions and trailers),
// parsed straight from the connection's buffer.
//
// Agentplane's own rather than Beast's request_parser: Beast's field tokenizer, its name lookup
// and basic_fields' node per field were ~8k instructions and eight allocations per proxied
// request; here the head is found with memchr, copied once into the Request, and its fields are
// views. Strict where leniency would let a client smuggle a second request past a proxy:
// Content-Length together with Transfer-Encoding, differing Content-Length values, a coding other
// than chunked (or after it), obs-fold lines and bare LF line ends are errors (400). The end of
// the head is searched only in bytes not searched before, so a head trickling in byte by byte
// costs linear time. The interface mirrors the subset of Beast's parser the server used, with
// Beast's error codes; the fuzz target compares it with Beast on whatever both accept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include <boost/system/error_code.hpp>

#include "http/request.h"

namespace ap::http::internal {

class RequestParser {
 public:
  using error_code = boost::system::error_code;

  // Starts reading a new request into `*into` (cleared). `header_limit`: the most bytes the
  // request line and fields (and a chunked body's trailers) may take; `body_limit`: the most
  // body bytes.
  void Reset(Request* into, uint64_t header_limit, uint64_t body_limit);

  // Parses from `in`; returns how many bytes were consumed (the caller keeps the rest and
  // presents them again with more). `ec`: need_more when more input is needed (everything
  // consumed so far is kept), a parse error (header_limit, body_limit, bad_*), or none when the
  // request is complete.
  size_t Put(std::string_view in, error_code& ec);

  bool got_some() const { return got_some_; }
  bool is_header_done() const { return state_ != State::kHead; }
  bool is_done() const { return state_ == State::kDone; }
  // The client sent "Expect: 100-continue" (and a body is to come).
  bool expects_continue() const { return expect_continue_; }

 private:
  enum class State { kHead, kLength, kChunkSize, kChunkData, kChunkEnd, kTrailers, kDone };

  size_t ParseHead(std::string_view in, error_code& ec);
  // The head is whole in request_->storage_: request line, then fields.
  bool ParseRequestLine(std::string_view line, error_code& ec);
  // The field line `size` bytes long at `head[at]` (its CR behind it).
  bool ParseFieldLine(std::string_view head, size_t at, size_t size, error_code& ec);
  void StartBody(error_code& ec);
  size_t TakeBody(std::string_view in, error_code& ec);

  Request* request_ = nullptr;
  State state_ = State::kDone;
  uint64_t header_limit_ = 8 * 1024;
  uint64_t body_limit_ = 0;
  size_t scanned_ = 0;      // head bytes already searched for its end
  size_t line_start_ = 0;   // where the head line being searched began
  std::vector<uint32_t> line_ends_;  // the head's lines found so far (offsets of their CRs)
  bool got_some_ = false;
  bool expect_continue_ = false;
  bool has_length_ = false, chunked_ = false, has_transfer_encoding_ = false;
  uint64_t length_ = 0;      // kLength, kChunkData: bytes left
  size_t trailer_bytes_ = 0;
};

}  // namespace ap::http::internal
