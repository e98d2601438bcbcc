// http/request_parser_test.cc — the server's request parser and the Request it fills: framing,
// fields, limits, the errors that keep a request from being smuggled, and views that stay valid.
#include "http/internal/request_parser.h"

#include <string>

#include <gtest/gtest.h>

#include <boost/beast/http/error.hpp>

#include "http/request.h"

namespace ap::http {
namespace {
using internal::RequestParser;
using boost::beast::http::error;
namespace bhttp = boost::beast::http;

struct Parsed {
  boost::system::error_code ec;  // the first error other than need_more
  size_t used = 0;               // bytes consumed
  bool done = false;
};

// Feeds `wire` in pieces of at most `step` bytes, as a connection's buffer would present them:
// what the parser leaves unconsumed is presented again with the next piece.
Parsed Feed(std::string_view wire, Request& req, size_t step = SIZE_MAX, uint64_t header_limit = 8192,
            uint64_t body_limit = 1 << 20) {
  RequestParser p;
  p.Reset(&req, header_limit, body_limit);
  Parsed out;
  std::string buffer;
  size_t next = 0;
  while (true) {
    size_t n = std::min(step, wire.size() - next);
    buffer.append(wire.substr(next, n));
    next += n;
    boost::system::error_code ec;
    size_t used = p.Put(buffer, ec);
    buffer.erase(0, used);
    out.used += used;
    if (ec && ec != error::need_more) {
      out.ec = ec;
      return out;
    }
    if (p.is_done()) {
      out.done = true;
      return out;
    }
    if (next == wire.size()) return out;  // needs more than the wire holds
  }
}

TEST(RequestParser, RequestLineFieldsAndALengthBody) {
  const std::string wire =
      "POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
      "X-Trace:  a b  \r\nx-trace: second\r\nContent-Length: 11\r\n\r\n{\"a\":true}\nGET / HTTP/1.1\r\n\r\n";
  for (size_t step : {size_t{1}, size_t{7}, SIZE_MAX}) {
    Request req;
    auto r = Feed(wire, req, step);
    ASSERT_TRUE(r.done) << step << " " << r.ec.message();
    EXPECT_EQ(r.used, wire.find("GET /")) << "the pipelined request stays in the buffer";
    EXPECT_EQ(req.method(), bhttp::verb::post);
    EXPECT_EQ(req.method_string(), "POST");
    EXPECT_EQ(req.target(), "/v1/chat/completions?x=1");
    EXPECT_EQ(req.version(), 11u);
    EXPECT_EQ(req.body(), "{\"a\":true}\n");
    EXPECT_EQ(req["x-trace"], "a b") << "surrounding whitespace trimmed, inner kept";
    EXPECT_EQ(req.count("X-TRACE"), 2u);
    EXPECT_EQ(req[bhttp::field::content_type], "application/json");
    EXPECT_EQ(req.find("absent"), req.end());
    EXPECT_EQ(req["absent"], "");
    EXPECT_TRUE(req.keep_alive());
    EXPECT_EQ(std::distance(req.begin(), req.end()), 5);
  }
}

TEST(RequestParser, ChunkedBodyWithExtensionsAndTrailersSplitAnywhere) {
  const std::string wire =
      "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n18 \r\n, and twenty-four more b\r\n0\r\nX-Checksum: 1\r\n\r\n";
  for (size_t step = 1; step <= wire.size(); ++step) {
    Request req;
    auto r = Feed(wire, req, step);
    ASSERT_TRUE(r.done) << step << " " << r.ec.message();
    EXPECT_EQ(r.used, wire.size());
    EXPECT_EQ(req.body(), "hello, and twenty-four more b");
    EXPECT_EQ(req.find("x-checksum"), req.end()) << "trailer fields are read past, not kept";
  }
}

TEST(RequestParser, RequestsWithoutABodyAndKeepAliveRules) {
  Request req;
  ASSERT_TRUE(Feed("GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n", req).done);
  EXPECT_FALSE(req.keep_alive());
  EXPECT_TRUE(req.body().empty());
  ASSERT_TRUE(Feed("GET / HTTP/1.0\r\n\r\n", req).done);
  EXPECT_EQ(req.version(), 10u);
  EXPECT_FALSE(req.keep_alive());
  ASSERT_TRUE(Feed("GET / HTTP/1.0\r\nConnection: Keep-Alive, x\r\n\r\n", req).done);
  EXPECT_TRUE(req.keep_alive());
  ASSERT_TRUE(Feed("PURGE /cache HTTP/1.1\r\nContent-Length: 0\r\n\r\n", req).done);
  EXPECT_EQ(req.method(), bhttp::verb::purge);
  ASSERT_TRUE(Feed("BREW /pot HTTP/1.1\r\n\r\n", req).done);
  EXPECT_EQ(req.method(), bhttp::verb::unknown);
  EXPECT_EQ(req.method_string(), "BREW");
}

TEST(RequestParser, ExpectContinueIsReportedOnceTheHeadIsIn) {
  Request req;
  RequestParser p;
  p.Reset(&req, 8192, 1 << 20);
  boost::system::error_code ec;
  std::string head = "POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
  EXPECT_EQ(p.Put(head, ec), head.size());
  EXPECT_EQ(ec, error::need_more);
  EXPECT_TRUE(p.is_header_done());
  EXPECT_TRUE(p.expects_continue());
  EXPECT_EQ(p.Put("abc", ec), 3u);
  EXPECT_FALSE(ec);
  EXPECT_TRUE(p.is_done());
  EXPECT_EQ(req.body(), "abc");
}

TEST(RequestParser, SmugglingVectorsAndMalformedHeadsAreErrors) {
  struct Case {
    const char* wire;
    error expected;
  };
  const Case cases[] = {
      {"GET / HTTP/1.1\nHost: x\r\n\r\n", error::bad_line_ending},
      {"GET / HTTP/1.1\r\nHost: x\n\r\n", error::bad_line_ending},
      {"\r\nGET / HTTP/1.1\r\n\r\n", error::bad_method},
      {"G(T / HTTP/1.1\r\n\r\n", error::bad_method},
      {"GET /a b HTTP/1.1\r\n\r\n", error::bad_version},
      {"GET  HTTP/1.1\r\n\r\n", error::bad_target},
      {"GET /\x01 HTTP/1.1\r\n\r\n", error::bad_target},
      {"GET / HTTP/2.0\r\n\r\n", error::bad_version},
      {"GET / HTTP/1.1 \r\n\r\n", error::bad_version},
      {"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", error::bad_obs_fold},
      {"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", error::bad_field},
      {"GET / HTTP/1.1\r\n: x\r\n\r\n", error::bad_field},
      {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", error::bad_field},
      {"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", error::bad_value},
      {"GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", error::bad_value},
      {"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", error::bad_transfer_encoding},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n", error::bad_transfer_encoding},
      {"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", error::multiple_content_length},
      {"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", error::bad_content_length},
      {"POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n", error::bad_content_length},
      {"POST / HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n", error::bad_content_length},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", error::bad_transfer_encoding},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", error::bad_transfer_encoding},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", error::bad_transfer_encoding},
      {"POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", error::bad_transfer_encoding},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", error::bad_chunk},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXX", error::bad_chunk},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;\x01\r\na\r\n", error::bad_chunk_extension},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon\r\n\r\n", error::bad_field},
  };
  for (const auto& c : cases) {
    for (size_t step : {size_t{1}, SIZE_MAX}) {
      Request req;
      auto r = Feed(c.wire, req, step);
      EXPECT_EQ(r.ec, c.expected) << "input: " << c.wire << " step " << step << " got: " << r.ec.message();
      EXPECT_FALSE(r.done);
    }
  }
}

TEST(RequestParser, HeaderAndBodyLimits) {
  Request req;
  std::string big = "GET / HTTP/1.1\r\nX: " + std::string(200, 'a') + "\r\n\r\n";
  EXPECT_EQ(Feed(big, req, SIZE_MAX, 100).ec, error::header_limit) << "a whole head over the limit";
  EXPECT_EQ(Feed(big.substr(0, 150), req, SIZE_MAX, 100).ec, error::header_limit) << "no end within the limit";
  EXPECT_TRUE(Feed(big, req, SIZE_MAX, big.size()).done) << "exactly the limit";
  EXPECT_EQ(Feed("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", req, SIZE_MAX, 8192, 10).ec, error::body_limit);
  EXPECT_TRUE(Feed("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", req, SIZE_MAX, 8192, 10).done);
  const std::string chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n5\r\n01234\r\n0\r\n\r\n";
  EXPECT_EQ(Feed(chunked, req, SIZE_MAX, 8192, 10).ec, error::body_limit);
  EXPECT_TRUE(Feed(chunked, req, SIZE_MAX, 8192, 11).done);
  EXPECT_EQ(Feed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", req).ec, error::body_limit)
      << "a chunk size near 2^64 does not overflow the limit check";
  std::string trailers = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " + std::string(200, 'b') + "\r\n\r\n";
  EXPECT_EQ(Feed(trailers, req, 1, 100).ec, error::header_limit) << "trailers count against the header limit";
}

TEST(Request, ViewsStayValidWhileFieldsAreAddedAndTheRequestMoves) {
  Request req;
  ASSERT_TRUE(Feed("POST /v1/chat/completions HTTP/1.1\r\nAuthorization: Bearer k\r\nX-Priority: high\r\n\r\n", req).done);
  std::string_view target = req.target();
  std::string_view auth = req["authorization"];
  for (int i = 0; i < 100; ++i) req.set("x-tenant-" + std::to_string(i), std::string(40, 'v'));
  req.set("x-tenant", "team-a");
  req.erase("X-PRIORITY");
  EXPECT_EQ(target, "/v1/chat/completions");
  EXPECT_EQ(auth, "Bearer k");
  EXPECT_EQ(req["x-tenant"], "team-a");
  EXPECT_EQ(req.find("x-priority"), req.end());
  req.set("X-Tenant", "team-b");
  EXPECT_EQ(req.count("x-tenant"), 1u) << "set replaces every field of the name";
  EXPECT_EQ(req["x-tenant"], "team-b");

  Request moved = std::move(req);
  EXPECT_EQ(target, moved.target()) << "a move keeps the head where it was";
  EXPECT_EQ(moved["authorization"], "Bearer k");
  EXPECT_EQ(moved["x-tenant-99"], std::string(40, 'v'));
  EXPECT_EQ(req.begin(), req.end());

  Request copy = moved;
  EXPECT_EQ(copy.target(), "/v1/chat/completions");
  EXPECT_EQ(copy["x-tenant"], "team-b");
  EXPECT_EQ(copy.count("x-tenant-7"), 1u);
  EXPECT_NE(copy.target().data(), moved.target().data());
}

TEST(Request, BuiltByHand) {
  Request req{bhttp::verb::get, "/ui/", 11};
  req.set(bhttp::field::host, "127.0.0.1:8080");
  req.insert("Cookie", "a=1");
  req.insert("cookie", "b=2");
  req.body() = "x";
  EXPECT_EQ(req.method_string(), "GET");
  EXPECT_EQ(req.target(), "/ui/");
  EXPECT_EQ(req["Host"], "127.0.0.1:8080");
  EXPECT_EQ(req.count("COOKIE"), 2u);
  req.target("/ui/traces");
  EXPECT_EQ(req.target(), "/ui/traces");
  Request small{bhttp::verb::get, "/", 10};
  Request moved = std::move(small);
  EXPECT_EQ(moved.method_string(), "GET");
  EXPECT_EQ(moved.target(), "/");
  EXPECT_FALSE(moved.keep_alive());
}

}  // namespace
}  // namespace ap::http
