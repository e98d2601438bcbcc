// http/response_parser_test.cc — framing, fields and refusals of the upstream response parser.
#include "http/internal/response_parser.h"

#include <gtest/gtest.h>

#include <boost/beast/http/error.hpp>

namespace ap::http::internal {
namespace {
namespace bhttp = boost::beast::http;

struct Result {
  boost::system::error_code ec;  // the first error other than need_more / need_buffer
  bool done = false;
  std::string body;
};

// Feeds `bytes` `piece` bytes at a time (the unconsumed rest presented again, as the client does);
// `eof`: the connection ends after them.
Result Feed(ResponseParser& p, std::string_view bytes, size_t piece = 1 << 20, bool eof = false) {
  Result r;
  std::string pending;
  char out[16];
  size_t at = 0;
  while (true) {
    size_t n = std::min(piece, bytes.size() - at);
    pending.append(bytes.substr(at, n));
    at += n;
    p.SetOutput(out, sizeof out);
    boost::system::error_code ec;
    size_t used = p.put(boost::asio::buffer(pending), ec);
    r.body.append(out, p.written());
    pending.erase(0, used);
    if (ec && ec != bhttp::error::need_more && ec != bhttp::error::need_buffer) {
      r.ec = ec;
      return r;
    }
    if (p.is_done()) break;
    if (at == bytes.size() && used == 0 && p.written() == 0) break;
  }
  if (eof && !p.is_done()) p.put_eof(r.ec);
  r.done = p.is_done();
  return r;
}

TEST(ResponseParser, ContentLengthBodyAndTheFieldsTheGatewayKeeps) {
  ResponseParser p;
  auto r = Feed(p, "HTTP/1.1 429 Too Many Requests\r\nServer: x\r\ncontent-type:  application/json \r\n"
                  "Retry-After: 7\r\nContent-Length: 11\r\n\r\n{\"e\":\"429\"}");
  EXPECT_FALSE(r.ec);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(p.status(), 429);
  EXPECT_EQ(p.content_type(), "application/json");
  EXPECT_EQ(p.retry_after(), "7");
  EXPECT_EQ(r.body, "{\"e\":\"429\"}");
  EXPECT_TRUE(p.keep_alive());
}

TEST(ResponseParser, ChunkedWithExtensionsAndTrailersByteByByte) {
  const std::string_view wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n"
      "5;name=value\r\ndata:\r\n1A\r\n abcdefghijklmnopqrstuvwxy\r\n0\r\nx-cost: 1\r\n\r\n";
  for (size_t piece : {size_t(1), size_t(3), size_t(1000)}) {
    ResponseParser p;
    auto r = Feed(p, wire, piece);
    EXPECT_FALSE(r.ec) << piece << ": " << r.ec.message();
    EXPECT_TRUE(r.done) << piece;
    EXPECT_EQ(r.body, "data: abcdefghijklmnopqrstuvwxy") << piece;
  }
}

TEST(ResponseParser, NoLengthReadsToTheEndAndIsNotReused) {
  ResponseParser p;
  auto r = Feed(p, "HTTP/1.1 200 OK\r\n\r\nuntil the end", 4, /*eof=*/true);
  EXPECT_FALSE(r.ec);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.body, "until the end");
  EXPECT_FALSE(p.keep_alive());
}

TEST(ResponseParser, KeepAliveByVersionAndConnection) {
  struct Case {
    const char* head;
    bool keep_alive;
  } cases[] = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true},
      {"HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n", false},
      {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false},
      {"HTTP/1.0 200 OK\r\nConnection: te, keep-alive\r\nContent-Length: 0\r\n\r\n", true},
  };
  for (const auto& c : cases) {
    ResponseParser p;
    auto r = Feed(p, c.head);
    EXPECT_TRUE(r.done) << c.head;
    EXPECT_EQ(p.keep_alive(), c.keep_alive) << c.head;
  }
}

TEST(ResponseParser, NoBodyStatusesIgnoreTheirLength) {
  ResponseParser p;
  auto r = Feed(p, "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n");
  EXPECT_TRUE(r.done);
  EXPECT_TRUE(r.body.empty());
}

TEST(ResponseParser, TheHeadIsConsumedOnlyWhole) {
  ResponseParser p;
  boost::system::error_code ec;
  std::string_view part = "HTTP/1.1 200 OK\r\nContent-Len";
  EXPECT_EQ(p.put(boost::asio::buffer(part.data(), part.size()), ec), 0u);
  EXPECT_EQ(ec, bhttp::error::need_more);
  EXPECT_TRUE(p.got_some());
  EXPECT_FALSE(p.is_header_done());
}

TEST(ResponseParser, RefusesWhatCouldFrameTwoResponses) {
  struct Case {
    const char* wire;
    bhttp::error error;
  } cases[] = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", bhttp::error::bad_transfer_encoding},
      {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", bhttp::error::multiple_content_length},
      {"HTTP/1.1 200 OK\r\nContent-Length: 3x\r\n\r\n", bhttp::error::bad_content_length},
      {"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 0\r\n\r\n", bhttp::error::bad_obs_fold},
      {"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", bhttp::error::bad_line_ending},
      {"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", bhttp::error::bad_field},
      {"HTTP/1.1 200 OK\r\nContent-Type: a\x01b\r\n\r\n", bhttp::error::bad_value},
      {"HTTP/1.1 200 OK\r\nRetry-After: 1\r2\r\n\r\n", bhttp::error::bad_value},  // a CR a client might split at
      {"HTTP/2.0 200 OK\r\n\r\n", bhttp::error::bad_version},
      {"HTTP/1.1 20 OK\r\n\r\n", bhttp::error::bad_status},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", bhttp::error::bad_chunk},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", bhttp::error::bad_chunk},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", bhttp::error::bad_chunk},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", bhttp::error::bad_transfer_encoding},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked<x\r\n\r\n", bhttp::error::bad_transfer_encoding},
  };
  for (const auto& c : cases) {
    ResponseParser p;
    auto r = Feed(p, c.wire);
    EXPECT_EQ(r.ec, c.error) << c.wire << " -> " << r.ec.message();
  }
}

TEST(ResponseParser, LimitsOnHeadAndBody) {
  ResponseParser head;
  head.header_limit(64);
  EXPECT_EQ(Feed(head, "HTTP/1.1 200 OK\r\nX-Long: " + std::string(100, 'a') + "\r\n\r\n").ec, bhttp::error::header_limit);
  ResponseParser body;
  body.body_limit(10);
  EXPECT_EQ(Feed(body, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n").ec, bhttp::error::body_limit);
  ResponseParser chunked;
  chunked.body_limit(10);
  EXPECT_EQ(Feed(chunked, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n").ec,
            bhttp::error::body_limit);
}

TEST(ResponseParser, ACutOffBodyIsAPartialMessage) {
  ResponseParser p;
  auto r = Feed(p, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 1 << 20, /*eof=*/true);
  EXPECT_EQ(r.ec, bhttp::error::partial_message);
  EXPECT_FALSE(r.done);
}

// Field names are matched sixteen bytes at a time (letters, digits, '-') and the rest by the
// token table; the character that ends a run may sit anywhere, in the first block or after it.
TEST(ResponseParser, FieldNamesOfEveryShapeAndLength) {
  const std::string ok[] = {"X", "x_y", "X-Amzn-Trace_Id.v2", "A-Very-Long-Header-Name-Past-Sixteen",
                            "Sixteen-Chars-Ab", "Seventeen-Chars-A", "!#$%&'*+-.^_`|~0", "k" + std::string(40, '_')};
  for (const auto& name : ok) {
    ResponseParser p;
    auto r = Feed(p, "HTTP/1.1 200 OK\r\n" + name + ": v\r\nContent-Length: 2\r\n\r\nok");
    EXPECT_FALSE(r.ec) << name << ": " << r.ec.message();
    EXPECT_EQ(r.body, "ok") << name;
  }
  const std::string bad[] = {"Sixteen-Chars-Ab(", "A-Very-Long-Header-Name@Past-Sixteen", "Na\xc3\xa9me", "\xff",
                             "Seventeen-Chars-A\x7f", "A-Name-With{Brace", "Name ", std::string("Nul\0l", 5)};
  for (const auto& name : bad) {
    ResponseParser p;
    EXPECT_EQ(Feed(p, "HTTP/1.1 200 OK\r\n" + name + ": v\r\n\r\n").ec, bhttp::error::bad_field) << name;
  }
}

TEST(ResponseParser, KnownNamesInAnyCaseAndTheirNearMisses) {
  ResponseParser p;
  auto r = Feed(p, "HTTP/1.1 200 OK\r\nCONTENT-TYPE: text/plain\r\nContent-Lengtx: 9\r\ncontent-length: 2\r\n"
                   "RETRY-AFTER: 3\r\nConnectioN: CLOSE\r\n\r\nok");
  EXPECT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.body, "ok");
  EXPECT_EQ(p.content_type(), "text/plain");
  EXPECT_EQ(p.retry_after(), "3");
  EXPECT_FALSE(p.keep_alive());
}

// Kept values are checked eight bytes at a time; a tab or obs-text is fine wherever it falls, a
// control character or DEL is refused wherever it falls; values over 64 bytes are kept too.
TEST(ResponseParser, KeptValuesAreCheckedEveryByteAndKeptWhole) {
  const std::string long_type = "application/json; profile=\"" + std::string(80, 'p') + "\"";
  const std::string ok[] = {"a\tb", "application/json;\tcharset=utf-8", "text/\xc3\xa9v\xe9nement-stream-12345",
                            long_type};
  for (const auto& value : ok) {
    ResponseParser p;
    auto r = Feed(p, "HTTP/1.1 200 OK\r\nContent-Type: " + value + "\r\nContent-Length: 0\r\n\r\n");
    EXPECT_FALSE(r.ec) << value;
    EXPECT_EQ(p.content_type(), value);
  }
  for (size_t at = 0; at < 20; ++at) {
    for (char c : {'\x01', '\x1f', '\x7f', '\0'}) {
      std::string value = "application/json;charset=utf-8";
      value[at] = c;
      ResponseParser p;
      EXPECT_EQ(Feed(p, "HTTP/1.1 200 OK\r\nContent-Type: " + value + "\r\n\r\n").ec, bhttp::error::bad_value)
          << at << " " << int(c);
    }
  }
}

}  // namespace
}  // namespace ap::http::internal
