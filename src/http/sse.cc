// http/sse.cc
#include "http/sse.h"

namespace ap::http {

size_t SseSplitter::FindEventEnd(size_t start) {
  // An event ends at its first empty line that is not its first line (a leading blank line is
  // absorbed). Lines end at LF, CRLF or CR. Streams without CR (nearly all) take the memchr path
  // below; both paths give the same events for CR-free input.
  if (seen_cr_) return FindEventEndAnyNewline(start);
  std::string_view b = buffer_;
  size_t i = std::max(start, scan_from_);
  while (i < b.size()) {
    size_t j = b.find('\n', i);
    if (j == std::string_view::npos) break;
    if (j + 1 >= b.size()) {
      scan_from_ = j;  // need the next byte to decide
      return std::string_view::npos;
    }
    if (b[j + 1] == '\n') {
      scan_from_ = j + 2;
      return j + 2;
    }
    i = j + 1;
  }
  scan_from_ = b.size();
  return std::string_view::npos;
}

size_t SseSplitter::FindEventEndAnyNewline(size_t start) const {
  std::string_view b = buffer_;
  bool line_empty = true, first_line = true;
  for (size_t i = start; i < b.size();) {
    char c = b[i];
    if (c != '\n' && c != '\r') {
      line_empty = false;
      ++i;
      continue;
    }
    size_t end = i + 1;
    if (c == '\r') {
      if (i + 1 >= b.size()) return std::string_view::npos;  // CR or CRLF: wait for the next byte
      if (b[i + 1] == '\n') end = i + 2;
    }
    if (line_empty && !first_line) return end;
    first_line = false;
    line_empty = true;
    i = end;
  }
  return std::string_view::npos;
}

SseEvent SseSplitter::Parse(std::string_view raw, std::string* joined) {
  SseEvent ev;
  ev.raw = raw;
  bool has_cr = raw.find('\r') != std::string_view::npos;
  size_t pos = 0;
  int data_lines = 0;
  while (pos < raw.size()) {
    size_t eol = has_cr ? raw.find_first_of("\r\n", pos) : raw.find('\n', pos);
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
      if (data_lines == 0) {
        ev.data = value;  // the common case: one line, no copy
      } else {
        if (data_lines == 1) joined->assign(ev.data);
        joined->push_back('\n');
        joined->append(value);
        ev.data = *joined;
      }
      ++data_lines;
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
