// http/response_parser_fuzzer.cc — libFuzzer target: the upstream response parser
// (http/internal/response_parser.h) on arbitrary bytes. Whatever a backend sends, it must not
// crash, and the body it yields must not depend on how the bytes arrive or how small the
// buffer lent for the body is.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <boost/asio/buffer.hpp>

#include "http/internal/response_parser.h"

namespace {

// Feeds `stream` in pieces of at most `piece` bytes into a parser lending `room` bytes at a time;
// returns the body, or "<error>" once the parser fails.
std::string Parse(std::string_view stream, size_t piece, size_t room) {
  ap::http::internal::ResponseParser p;
  p.header_limit(8 * 1024);
  p.body_limit(1 << 20);
  p.eager(true);
  std::string body, pending;
  char out[64];
  for (size_t at = 0; at < stream.size() || !pending.empty();) {
    size_t n = std::min(piece, stream.size() - at);
    pending.append(stream.substr(at, n));
    at += n;
    p.SetOutput(out, room);
    boost::system::error_code ec;
    size_t used = p.put(boost::asio::buffer(pending), ec);
    body.append(out, p.written());
    pending.erase(0, used);
    if (ec == boost::beast::http::error::need_more && at >= stream.size()) break;
    if (ec && ec != boost::beast::http::error::need_more && ec != boost::beast::http::error::need_buffer)
      return "<error>";
    if (p.is_done()) break;
    if (used == 0 && p.written() == 0 && at >= stream.size()) break;
  }
  return p.is_done() ? body : body + "<incomplete>";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t piece = 1 + data[0] % 32, room = 1 + data[1] % 64;
  std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);
  std::string whole = Parse(stream, stream.size() + 1, 64);
  std::string cut = Parse(stream, piece, room);
  if (whole != "<error>" && cut != "<error>" && whole != cut) std::abort();
  return 0;
}
