// http/internal/response_parser.h — the upstream response parser: HTTP/1.1 response framing
// (status line, Content-Length, chunked coding with extensions and trailers, a body delimited by
// the end of the connection, keep-alive) parsed straight from the connection's buffer.
//
// Agentplane's own rather than Beast's basic_parser: the gateway keeps two header values
// (Content-Type, Retry-After) and the framing, and Beast's field tokenizer and name lookup were
// ~5k instructions per proxied request (8 %) for the handful of fields a backend sends. It is
// stricter than Beast where leniency would let a backend smuggle a second response onto a
// pooled connection: Content-Length together with Transfer-Encoding, differing Content-Length
// values, obs-fold lines and bare LF line ends are errors. Values it passes on (Content-Type,
// Retry-After) are checked byte by byte; fields it neither keeps nor interprets are not. The interface is the subset of
// basic_parser's the client uses, with Beast's error codes (need_more, need_buffer, …), and the
// fuzz target compares it with Beast on whatever both accept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/optional.hpp>
#include <boost/system/error_code.hpp>

#include "http/internal/syntax.h"

namespace ap::http::internal {

// A header value the parser keeps: inline up to 64 bytes (every Content-Type and Retry-After in
// practice, so keeping one allocates nothing), on the heap beyond.
class KeptValue {
 public:
  void assign(std::string_view v) {
    if (v.size() <= sizeof inline_) {
      std::memcpy(inline_, v.data(), v.size());
      size_ = static_cast<uint32_t>(v.size());
      on_heap_ = false;
    } else {
      heap_.assign(v);
      on_heap_ = true;
    }
  }
  void clear() {
    size_ = 0;
    on_heap_ = false;
  }
  std::string_view view() const { return on_heap_ ? std::string_view(heap_) : std::string_view(inline_, size_); }

 private:
  char inline_[64];
  uint32_t size_ = 0;
  bool on_heap_ = false;
  std::string heap_;
};

class ResponseParser {
 public:
  using error_code = boost::system::error_code;

  // The most bytes the status line and fields (and a chunked body's trailers) may take.
  void header_limit(uint32_t bytes) { header_limit_ = bytes; }
  // The most body bytes (none: unlimited).
  void body_limit(boost::optional<uint64_t> bytes) { body_limit_ = bytes; }
  // Accepted for Beast compatibility: the body is always parsed as far as the input goes.
  void eager(bool) {}

  // Parses from `input`; returns how many bytes were consumed (the caller keeps the rest and
  // presents them again with more). The head is consumed only once complete, and a put that
  // completes it returns there (the next put starts the body). `ec`: need_more (more input is
  // needed), need_buffer (the lent body buffer is full), or a parse error; none when the head
  // or the message completed.
  size_t put(boost::asio::const_buffer input, error_code& ec);
  // The connection ended: completes a body delimited by it, else partial_message.
  void put_eof(error_code& ec);

  bool got_some() const { return got_some_; }
  bool is_header_done() const { return state_ != State::kHead; }
  bool is_done() const { return state_ == State::kDone; }
  bool keep_alive() const { return keep_alive_; }
  int status() const { return status_; }
  std::string_view content_type() const { return content_type_.view(); }
  std::string_view retry_after() const { return retry_after_.view(); }

  // Where the next body bytes go; written() says how many arrived there.
  void SetOutput(char* data, size_t size) {
    out_ = data;
    room_ = size;
    written_ = 0;
  }
  size_t written() const { return written_; }

 private:
  enum class State { kHead, kLength, kEof, kChunkSize, kChunkData, kChunkEnd, kTrailers, kDone };

  size_t ParseHead(std::string_view in, error_code& ec);
  bool ParseStatusLine(std::string_view line, error_code& ec);
  bool ParseField(std::string_view name, std::string_view value, error_code& ec);
  // A value passed on to the client: checked byte by byte, then kept in *into.
  bool Keep(std::string_view value, KeptValue* into, error_code& ec);
  void StartBody(error_code& ec);
  size_t Deliver(std::string_view in, uint64_t* remaining, error_code& ec);
  size_t ParseChunkSize(std::string_view in, error_code& ec);
  size_t ParseTrailers(std::string_view in, error_code& ec);

  State state_ = State::kHead;
  uint32_t header_limit_ = 8 * 1024;
  boost::optional<uint64_t> body_limit_;
  bool got_some_ = false;
  bool keep_alive_ = false;
  int status_ = 0;
  int version_ = 11;
  KeptValue content_type_, retry_after_;
  bool has_length_ = false, chunked_ = false, has_transfer_encoding_ = false;
  ConnectionTokens connection_;
  uint64_t length_ = 0;     // kLength, kChunkData: bytes left
  uint64_t body_bytes_ = 0;  // delivered so far (body_limit)
  size_t trailer_bytes_ = 0;
  char* out_ = nullptr;
  size_t room_ = 0, written_ = 0;
};

}  // namespace ap::http::internal
