// http/response_parser_fuzzer.cc — libFuzzer target: the upstream response parser
// (http/internal/response_parser.h) on arbitrary bytes. Whatever a backend sends, it must not
// crash; the body it yields must not depend on how the bytes arrive or how small the buffer lent
// for the body is; and where both it and Beast's parser accept a response, they must agree on
// its status, body, keep-alive and the two header values the gateway keeps.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

#include "http/internal/response_parser.h"

namespace {
namespace bhttp = boost::beast::http;

struct Parsed {
  bool ok = false;  // complete and without error
  int status = 0;
  bool keep_alive = false;
  std::string body, content_type, retry_after;
};

// Feeds `stream` in pieces of at most `piece` bytes, lending `room` body bytes at a time.
template <typename Parser>
Parsed Feed(Parser& p, std::string_view stream, size_t piece, size_t room) {
  Parsed out;
  std::string pending;
  char buf[64];
  for (size_t at = 0; at < stream.size() || !pending.empty();) {
    size_t n = std::min(piece, stream.size() - at);
    pending.append(stream.substr(at, n));
    at += n;
    p.SetOutput(buf, room);
    boost::system::error_code ec;
    size_t used = p.put(boost::asio::buffer(pending), ec);
    out.body.append(buf, p.written());
    pending.erase(0, used);
    if (ec == bhttp::error::need_more && at >= stream.size()) break;
    if (ec && ec != bhttp::error::need_more && ec != bhttp::error::need_buffer) return out;
    if (p.is_done()) break;
    if (used == 0 && p.written() == 0 && at >= stream.size()) break;
  }
  if (!p.is_done()) {
    boost::system::error_code ec;
    p.put_eof(ec);
    if (ec) return out;
  }
  out.ok = p.is_done();
  out.status = p.status();
  out.keep_alive = p.keep_alive();
  out.content_type = p.content_type();
  out.retry_after = p.retry_after();
  return out;
}

// Beast's parser with the same surface, as the reference.
class BeastParser : public bhttp::basic_parser<false> {
 public:
  int status() const { return status_; }
  const std::string& content_type() const { return content_type_; }
  const std::string& retry_after() const { return retry_after_; }
  void SetOutput(char* data, size_t size) {
    out_ = data;
    room_ = size;
    written_ = 0;
  }
  size_t written() const { return written_; }

 private:
  using error_code = boost::system::error_code;
  using string_view = boost::beast::string_view;
  void on_request_impl(bhttp::verb, string_view, string_view, int, error_code&) override {}
  void on_response_impl(int code, string_view, int, error_code&) override { status_ = code; }
  void on_field_impl(bhttp::field name, string_view, string_view value, error_code&) override {
    if (head_done_) return;  // Beast reports trailer fields here too; the gateway keeps none
    if (name == bhttp::field::content_type) content_type_.assign(value.data(), value.size());
    else if (name == bhttp::field::retry_after) retry_after_.assign(value.data(), value.size());
  }
  void on_header_impl(error_code&) override { head_done_ = true; }
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  size_t on_body_impl(string_view body, error_code& ec) override { return Take(body, ec); }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code& ec) override { return Take(body, ec); }
  void on_finish_impl(error_code&) override {}
  size_t Take(string_view body, error_code& ec) {
    if (room_ == 0) {
      ec = bhttp::error::need_buffer;
      return 0;
    }
    const size_t n = std::min(room_, body.size());
    std::memcpy(out_ + written_, body.data(), n);
    written_ += n;
    room_ -= n;
    return n;
  }
  bool head_done_ = false;
  int status_ = 0;
  std::string content_type_, retry_after_;
  char* out_ = nullptr;
  size_t room_ = 0, written_ = 0;
};

template <typename Parser>
Parsed Parse(std::string_view stream, size_t piece, size_t room) {
  Parser p;
  p.header_limit(8 * 1024);
  p.body_limit(1 << 20);
  p.eager(true);
  return Feed(p, stream, piece, room);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t piece = 1 + data[0] % 32, room = 1 + data[1] % 64;
  std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);
  using ap::http::internal::ResponseParser;
  Parsed whole = Parse<ResponseParser>(stream, stream.size() + 1, 64);
  Parsed cut = Parse<ResponseParser>(stream, piece, room);
  if (whole.ok != cut.ok) std::abort();
  if (whole.ok && (whole.body != cut.body || whole.status != cut.status || whole.keep_alive != cut.keep_alive))
    std::abort();
  // Beast is the reference where both accept; agentplane's is stricter in places (see the header).
  Parsed beast = Parse<BeastParser>(stream, stream.size() + 1, 64);
  if (whole.ok && beast.ok &&
      (whole.status != beast.status || whole.body != beast.body || whole.keep_alive != beast.keep_alive ||
       whole.content_type != beast.content_type || whole.retry_after != beast.retry_after))
    std::abort();
  return 0;
}
