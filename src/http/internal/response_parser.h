// http/internal/response_parser.h — the upstream response parser: Beast's HTTP/1.1 framing
// (status line, Content-Length, chunked coding, keep-alive) without Beast's header container.
// The gateway needs two upstream header values (Content-Type and Retry-After); keeping every
// field in a basic_fields cost an allocation and an ordered insert per field — ~10 % of a
// proxied request's instructions under callgrind. Body bytes go straight into the buffer the
// caller lends (SetOutput), as buffer_body would put them.
#pragma once

#include <cstring>
#include <string>

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

namespace ap::http::internal {

class ResponseParser : public boost::beast::http::basic_parser<false> {
 public:
  int status() const { return status_; }
  const std::string& content_type() const { return content_type_; }
  const std::string& retry_after() const { return retry_after_; }

  // Where the next body bytes go; written() says how many arrived there.
  void SetOutput(char* data, size_t size) {
    out_ = data;
    room_ = size;
    written_ = 0;
  }
  size_t written() const { return written_; }

 private:
  using error_code = boost::system::error_code;
  using string_view = boost::beast::string_view;
  using field = boost::beast::http::field;

  void on_request_impl(boost::beast::http::verb, string_view, string_view, int, error_code&) override {}
  void on_response_impl(int code, string_view, int, error_code&) override { status_ = code; }
  void on_field_impl(field name, string_view, string_view value, error_code&) override {
    if (name == field::content_type) content_type_.assign(value.data(), value.size());
    else if (name == field::retry_after) retry_after_.assign(value.data(), value.size());
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  size_t on_body_impl(string_view body, error_code& ec) override { return Take(body, ec); }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code& ec) override { return Take(body, ec); }
  void on_finish_impl(error_code&) override {}

  // Copies what fits; a full buffer asks the caller for another (need_buffer), as buffer_body.
  size_t Take(string_view body, error_code& ec) {
    if (room_ == 0) {
      ec = boost::beast::http::error::need_buffer;
      return 0;
    }
    const size_t n = std::min(room_, body.size());
    std::memcpy(out_ + written_, body.data(), n);
    written_ += n;
    room_ -= n;
    return n;
  }

  int status_ = 0;
  std::string content_type_, retry_after_;
  char* out_ = nullptr;
  size_t room_ = 0, written_ = 0;
};

}  // namespace ap::http::internal
