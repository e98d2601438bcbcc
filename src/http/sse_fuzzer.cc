// http/sse_fuzzer.cc — libFuzzer target: the SSE splitter must give the same events however the
// byte stream is cut, and never grow past its limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "http/sse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t cut = data[0] % (size);
  std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<std::string> whole, pieces;
  ap::http::SseSplitter a(1 << 16), b(1 << 16);
  a.Feed(stream, [&](const ap::http::SseEvent& e) { whole.push_back(std::string(e.raw) + "|" + std::string(e.data)); });
  cut = std::min(cut, stream.size());
  b.Feed(stream.substr(0, cut), [&](const ap::http::SseEvent& e) { pieces.push_back(std::string(e.raw) + "|" + std::string(e.data)); });
  b.Feed(stream.substr(cut), [&](const ap::http::SseEvent& e) { pieces.push_back(std::string(e.raw) + "|" + std::string(e.data)); });
  if (whole != pieces || a.pending() != b.pending()) std::abort();
  return 0;
}
