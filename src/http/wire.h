// http/wire.h — writes HTTP/1.1 message heads straight into a string.
//
// Beast's serializer is general (any body, any buffer sequence) and costs several times more
// instructions per message than the gateway's own work; the gateway's messages are simple (a
// head, then one body buffer or chunks), so it writes the head itself and sends head and body in
// one gather write. Content-Length, Transfer-Encoding and Connection are always decided here,
// never copied from the fields.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>

namespace ap::http {

// "HTTP/1.1 200 OK\r\n<fields><extra_lines>Content-Length: N\r\n\r\n" (or chunked when no
// length is given). `extra_lines`: "name: value\r\n" lines, written as they are.
void AppendResponseHead(std::string& out, const boost::beast::http::response_header<>& head,
                        std::optional<size_t> content_length, bool keep_alive, unsigned client_version,
                        std::string_view extra_lines = {});

// "POST /v1/x HTTP/1.1\r\n<fields>Content-Length: N\r\n\r\n"; Connection is keep-alive.
void AppendRequestHead(std::string& out, const boost::beast::http::request_header<>& head,
                       size_t content_length);

// The chunk-size line of chunked transfer coding ("1a2\r\n").
std::string_view ChunkSizeLine(size_t size, char (&buffer)[24]);

}  // namespace ap::http
