// http/sse.h — Server-Sent Events framing: split a byte stream into whole events and write them.
//
// The gateway relays streams event by event: bytes from upstream are fed in as they arrive and
// each complete event (ended by a blank line, LF or CRLF) comes out whole with its `data:`
// payload joined, so a caller can inspect or drop one event without buffering the stream. An
// event larger than the limit is an error, never an unbounded buffer.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ap::http {

struct SseEvent {
  std::string_view raw;   // the event's bytes, blank-line terminator included
  std::string data;       // the data lines joined by '\n'
  std::string_view name;  // the `event:` field, empty when absent
};

class SseSplitter {
 public:
  explicit SseSplitter(size_t max_event_bytes = 8u << 20) : max_event_bytes_(max_event_bytes) {}

  // Feeds bytes; calls on_event(const SseEvent&) for each event completed by them. Returns false
  // when an unfinished event grew past the limit (the stream should be treated as broken).
  template <typename F>
  bool Feed(std::string_view bytes, F&& on_event) {
    buffer_.append(bytes);
    size_t start = 0;
    while (true) {
      size_t end = FindEventEnd(start);
      if (end == std::string::npos) break;
      SseEvent ev = Parse(std::string_view(buffer_).substr(start, end - start));
      on_event(ev);
      start = end;
    }
    buffer_.erase(0, start);
    scan_from_ = buffer_.size() > 3 ? buffer_.size() - 3 : 0;
    return buffer_.size() <= max_event_bytes_;
  }

  // Bytes of an unfinished event (what a stream that ended abruptly left behind).
  std::string_view pending() const { return buffer_; }

 private:
  size_t FindEventEnd(size_t start);
  static SseEvent Parse(std::string_view raw);

  std::string buffer_;
  size_t scan_from_ = 0;
  size_t max_event_bytes_;
};

// "data: <payload>\n\n"
std::string SseData(std::string_view payload);

}  // namespace ap::http
