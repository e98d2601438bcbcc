// http/client.h — the upstream HTTP/1.1 client: pooled keep-alive connections, optional TLS.
//
// A ConnectionPool belongs to one event loop (one per worker thread, reached through
// ConnectionPool::Local()), so taking and returning a connection needs no lock. An Exchange is
// one request/response on a pooled connection: Start() connects or reuses, writes the request
// and waits for the response headers (the first-byte timeout); ReadSome() then yields body bytes
// as they arrive (chunked encoding undone) until the end, within the total deadline. A
// connection goes back to the pool only when its response was read to the end and both sides
// allow keep-alive. One that rested in the pool is peeked for the peer's FIN before reuse, and a
// reused connection that still turns out closed is retried once on a fresh one.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "http/internal/response_parser.h"

namespace ap::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

// Where to connect. `tls` may be shared by many threads once built.
struct Endpoint {
  std::string host;
  uint16_t port = 80;
  std::shared_ptr<net::ssl::context> tls;  // null: plain TCP
  std::string key;  // pool key, e.g. "https://api.openai.com:443"
};

// Builds a client TLS context that verifies peers against the system store (and `ca_file` when
// given). Returns null and sets `error` on failure.
std::shared_ptr<net::ssl::context> MakeClientTlsContext(const std::string& ca_file, bool verify,
                                                        std::string* error);

class UpstreamConnection {
 public:
  UpstreamConnection(net::any_io_executor ex, const Endpoint& ep);
  bool tls() const { return tls_stream_ != nullptr; }
  beast::tcp_stream& lowest();
  net::awaitable<error_code> Connect(const Endpoint& ep, std::chrono::milliseconds timeout);

  template <typename F>
  auto WithStream(F&& f) {
    return tls_stream_ ? f(*tls_stream_) : f(*plain_);
  }

  beast::flat_buffer buffer;
  std::chrono::steady_clock::time_point idle_since;
  int uses = 0;

 private:
  std::unique_ptr<beast::tcp_stream> plain_;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls_stream_;
};

class ConnectionPool {
 public:
  static ConnectionPool& Local();  // this thread's pool
  std::unique_ptr<UpstreamConnection> Take(const std::string& key);
  void Give(const std::string& key, std::unique_ptr<UpstreamConnection> conn);
  size_t idle_count() const;
  void Clear() { idle_.clear(); }

  static constexpr size_t kMaxIdlePerEndpoint = 256;
  static constexpr std::chrono::seconds kMaxIdleTime{30};
  static constexpr std::chrono::milliseconds kCheckAfterIdle{500};  // then peeked before reuse

 private:
  std::unordered_map<std::string, std::vector<std::unique_ptr<UpstreamConnection>>> idle_;
};

struct ExchangeTimeouts {
  std::chrono::milliseconds connect{5'000};
  std::chrono::milliseconds first_byte{120'000};
  std::chrono::milliseconds total{600'000};
};

// What went wrong in an exchange, in the terms a retry policy needs.
enum class ExchangeError {
  kNone,
  kConnect,         // could not connect (refused, DNS, TLS handshake, connect timeout)
  kFirstByteTimeout,
  kTotalTimeout,
  kBroken,          // the connection failed after the request was sent
  kBodyTooLarge,
};
const char* ExchangeErrorName(ExchangeError e);

class Exchange {
 public:
  Exchange(const Endpoint& endpoint, ExchangeTimeouts timeouts);
  ~Exchange();

  // Sends `request` and reads the response header.
  net::awaitable<ExchangeError> Start(bhttp::request<bhttp::string_body>& request);
  // The same with the request head already serialized ("POST /x HTTP/1.1\r\n…\r\n\r\n", its
  // Content-Length matching `body`); both must outlive the call.
  net::awaitable<ExchangeError> Start(std::string_view head, std::string_view body);
  int status() const { return parser_->status(); }
  // The only upstream header values the gateway reads ("" when absent).
  const std::string& content_type() const { return parser_->content_type(); }
  const std::string& retry_after() const { return parser_->retry_after(); }

  // Reads the next piece of the body into `out` (replacing it); an empty `out` with kNone
  // means the body is complete.
  net::awaitable<ExchangeError> ReadSome(std::string& out);
  // Reads the rest of the body, at most `limit` bytes.
  net::awaitable<ExchangeError> ReadAll(std::string& out, uint64_t limit);
  bool done() const { return parser_ && parser_->is_done(); }
  // Drops the connection without pooling it (cancels an upstream request).
  void Abort();
  std::string_view error_detail() const { return detail_; }

 private:
  net::awaitable<ExchangeError> StartOnce(std::string_view head, std::string_view body, bool* reused);
  void SetDeadline(std::chrono::milliseconds limit);
  // Reads at most `want` more bytes from the connection into its buffer.
  net::awaitable<error_code> Fill(size_t want);

  const Endpoint& endpoint_;
  ExchangeTimeouts timeouts_;
  std::chrono::steady_clock::time_point deadline_;
  std::unique_ptr<UpstreamConnection> conn_;
  std::optional<internal::ResponseParser> parser_;
  std::string detail_;
  std::string head_;  // the serialized request head, alive while it is written
  std::unique_ptr<char[]> scratch_;  // body read buffer (not zero-filled on every read)
  bool keep_alive_ = false;
  ExchangeError pending_error_ = ExchangeError::kNone;  // a failure behind data already returned
};

}  // namespace ap::http
