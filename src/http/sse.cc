// http/sse.cc
#include "http/sse.h"

namespace ap::http {

size_t SseSplitter::FindEventEnd(size_t start) {
  // An event ends at "\n\n", "\r\n\r\n" or "\r\r"; scan only bytes not scanned before.
  size_t i = std::max(start, scan_from_);
  for (; i < buffer_.size(); ++i) {
    char c = buffer_[i];
    if (c != '\n' && c != '\r') continue;
    if (c == '\n' && i + 1 < buffer_.size() && buffer_[i + 1] == '\n') {
      scan_from_ = i + 2;
      return i + 2;
    }
    if (c == '\r' && i + 3 < buffer_.size() && buffer_[i + 1] == '\n' && buffer_[i + 2] == '\r' &&
        buffer_[i + 3] == '\n') {
      scan_from_ = i + 4;
      return i + 4;
    }
    if (c == '\r' && i + 1 < buffer_.size() && buffer_[i + 1] == '\r') {
      scan_from_ = i + 2;
      return i + 2;
    }
  }
  return std::string::npos;
}

SseEvent SseSplitter::Parse(std::string_view raw) {
  SseEvent ev;
  ev.raw = raw;
  size_t pos = 0;
  bool first_data = true;
  while (pos < raw.size()) {
    size_t eol = raw.find_first_of("\r\n", pos);
    if (eol == std::string_view::npos) eol = raw.size();
    std::string_view line = raw.substr(pos, eol - pos);
    pos = eol + 1;
    if (eol < raw.size() && raw[eol] == '\r' && pos < raw.size() && raw[pos] == '\n') ++pos;
    if (line.empty() || line.front() == ':') continue;
    size_t colon = line.find(':');
    std::string_view field = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (field == "data") {
      if (!first_data) ev.data.push_back('\n');
      ev.data.append(value);
      first_data = false;
    } else if (field == "event") {
      ev.name = value;
    }
  }
  return ev;
}

std::string SseData(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 8);
  out.append("data: ");
  out.append(payload);
  out.append("\n\n");
  return out;
}

}  // namespace ap::http
