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

// Views into the splitter's buffer, valid during the callback only.
struct SseEvent {
  std::string_view raw;   // the event's bytes, blank-line terminator included
  std::string_view data;  // the data lines joined by '\n' (no copy when there is one line)
  std::string_view name;  // the `event:` field, empty when absent
};

class SseSplitter {
 public:
  explicit SseSplitter(size_t max_event_bytes = 8u << 20) : max_event_bytes_(max_event_bytes) {}

  // Feeds bytes; calls on_event(const SseEvent&) for each event completed by them. Returns false
  // when an unfinished event grew past the limit (the stream should be treated as broken).
  template <typename F>
  bool Feed(std::string_view bytes, F&& on_event) {
    Append(bytes);
    Consume(Scan(on_event));
    return within_limit();
  }

  // The same in steps, for a caller that forwards the completed events' bytes as they are:
  // Append, then Scan (events come out, nothing is dropped yet), then completed() is the bytes of
  // every event Scan reported, until Consume drops them.
  void Append(std::string_view bytes) {
    if (!seen_cr_ && bytes.find('\r') != std::string_view::npos) seen_cr_ = true;
    buffer_.append(bytes);
  }
  template <typename F>
  size_t Scan(F&& on_event) {
    size_t start = 0;
    while (true) {
      size_t end = FindEventEnd(start);
      if (end == std::string::npos) break;
      SseEvent ev = Parse(std::string_view(buffer_).substr(start, end - start), &joined_);
      on_event(ev);
      start = end;
    }
    return start;
  }
  std::string_view completed(size_t scanned) const { return std::string_view(buffer_).substr(0, scanned); }
  void Consume(size_t scanned) {
    buffer_.erase(0, scanned);
    scan_from_ = buffer_.size() > 3 ? buffer_.size() - 3 : 0;
  }
  bool within_limit() const { return buffer_.size() <= max_event_bytes_; }

  // Bytes of an unfinished event (what a stream that ended abruptly left behind).
  std::string_view pending() const { return buffer_; }

 private:
  size_t FindEventEnd(size_t start);
  size_t FindEventEndAnyNewline(size_t start) const;
  static SseEvent Parse(std::string_view raw, std::string* joined);

  std::string buffer_;
  std::string joined_;  // data of a multi-line event
  size_t scan_from_ = 0;
  bool seen_cr_ = false;  // a CR has appeared: use the spec-complete (slower) line scanner
  size_t max_event_bytes_;
};

// "data: <payload>\n\n"
std::string SseData(std::string_view payload);

}  // namespace ap::http
