// http/wire.cc
#include "http/wire.h"

#include <charconv>

#include <boost/beast/http/status.hpp>

namespace ap::http {
namespace bhttp = boost::beast::http;
namespace {

bool Managed(bhttp::field f) {
  return f == bhttp::field::content_length || f == bhttp::field::transfer_encoding ||
         f == bhttp::field::connection;
}

template <bool isRequest>
void AppendFields(std::string& out, const bhttp::header<isRequest>& head) {
  for (const auto& f : head) {
    if (Managed(f.name())) continue;
    out.append(f.name_string());
    out.append(": ");
    out.append(f.value());
    out.append("\r\n");
  }
}

void AppendNumber(std::string& out, size_t n) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, r.ptr);
}

}  // namespace

void AppendResponseHead(std::string& out, const bhttp::response_header<>& head,
                        std::optional<size_t> content_length, bool keep_alive, unsigned client_version,
                        std::string_view extra_lines) {
  out.append("HTTP/1.1 ");
  AppendNumber(out, head.result_int());
  out.push_back(' ');
  auto reason = head.reason();
  if (reason.empty()) reason = bhttp::obsolete_reason(head.result());
  out.append(reason);
  out.append("\r\n");
  AppendFields(out, head);
  out.append(extra_lines);
  if (content_length) {
    out.append("Content-Length: ");
    AppendNumber(out, *content_length);
    out.append("\r\n");
  } else {
    out.append("Transfer-Encoding: chunked\r\n");
  }
  if (!keep_alive) out.append("Connection: close\r\n");
  else if (client_version < 11) out.append("Connection: keep-alive\r\n");
  out.append("\r\n");
}

void AppendRequestHead(std::string& out, const bhttp::request_header<>& head, size_t content_length) {
  out.append(head.method_string());
  out.push_back(' ');
  out.append(head.target());
  out.append(" HTTP/1.1\r\n");
  AppendFields(out, head);
  if (content_length > 0 || head.method() == bhttp::verb::post || head.method() == bhttp::verb::put) {
    out.append("Content-Length: ");
    AppendNumber(out, content_length);
    out.append("\r\n");
  }
  out.append("\r\n");
}

std::string_view ChunkSizeLine(size_t size, char (&buffer)[24]) {
  auto r = std::to_chars(buffer, buffer + 20, size, 16);
  r.ptr[0] = '\r';
  r.ptr[1] = '\n';
  return std::string_view(buffer, r.ptr + 2 - buffer);
}

}  // namespace ap::http
