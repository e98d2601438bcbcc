// http/client.h — the upstream HTTP/1.1 client: pooled keep-alive connections, optional TLS.
//
// A ConnectionPool belongs to one event loop (one per worker thread, reached through
// ConnectionPool::Local()), so taking and returning a connection needs no lock; an Endpoint
// carries its pool slot, so finding its idle connections hashes nothing. An Exchange is one
// request/response on a pooled connection: Start() connects or reuses, writes the request and
// waits for the response headers (the first-byte timeout); ReadSome() then yields body bytes as
// they arrive (chunked encoding undone) until the end, within the total deadline. A connection
// goes back to the pool only when its response was read to the end and both sides allow
// keep-alive. One that rested in the pool is peeked for the peer's FIN before reuse, and a
// reused connection that still turns out closed is retried once on a fresh one.
//
// Deadlines: a connection is a bare socket (TLS over it when the endpoint says so) with one
// timer. The exchange moves the connection's deadline (connect, first byte, total); the timer is
// armed only when the deadline moves earlier than it is set for, and when it fires for a
// deadline that has since moved later it sets itself again, so a request costs one timer wait
// and one cancel rather than a timer per read and write. A deadline that passes closes the
// socket: the pending operation fails, and expired() tells a timeout from a broken connection.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <atomic>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "http/internal/response_parser.h"

namespace ap::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

// An Endpoint's index into every thread's pool, found from its key on first use (a copy finds
// it again: the copy's key may be changed before it is used).
class PoolSlot {
 public:
  PoolSlot() = default;
  PoolSlot(const PoolSlot&) {}
  PoolSlot& operator=(const PoolSlot&) { return *this; }
  // The slot for `key` (the same for every Endpoint with that key).
  uint32_t Get(const std::string& key) const;

 private:
  mutable std::atomic<uint32_t> slot_{0};  // 0: not looked up yet; else slot + 1
};

// Where to connect. `tls` may be shared by many threads once built. `key` must not change once
// the endpoint has been used.
struct Endpoint {
  std::string host;
  uint16_t port = 80;
  std::shared_ptr<net::ssl::context> tls;  // null: plain TCP
  std::string key;  // pool key, e.g. "https://api.openai.com:443"
  PoolSlot slot;
};

// Builds a client TLS context that verifies peers against the system store (and `ca_file` when
// given). Returns null and sets `error` on failure.
std::shared_ptr<net::ssl::context> MakeClientTlsContext(const std::string& ca_file, bool verify,
                                                        std::string* error);

namespace internal {
struct ConnectionWatch;
}

class UpstreamConnection {
 public:
  using Clock = std::chrono::steady_clock;

  UpstreamConnection(net::any_io_executor ex, const Endpoint& ep);
  ~UpstreamConnection();
  UpstreamConnection(const UpstreamConnection&) = delete;
  UpstreamConnection& operator=(const UpstreamConnection&) = delete;

  bool tls() const { return tls_stream_ != nullptr; }
  // The TCP socket (under TLS, the layer below it).
  tcp::socket& socket() { return tls_stream_ ? tls_stream_->next_layer() : plain_; }
  // Connects (TCP, then the TLS handshake with verification) within the current deadline.
  net::awaitable<error_code> Connect(const Endpoint& ep);
  // The same, the deadline set `timeout` from now.
  net::awaitable<error_code> Connect(const Endpoint& ep, std::chrono::milliseconds timeout);

  // The TLS stream over the socket; null without TLS.
  net::ssl::stream<tcp::socket>* tls_stream() { return tls_stream_.get(); }
  // Calls `f` with the stream to read and write: the socket, or the TLS stream over it.
  template <typename F>
  auto WithStream(F&& f) {
    return tls_stream_ ? f(*tls_stream_) : f(plain_);
  }

  // When the connection's current work must end; once it passes the socket is closed.
  void SetDeadline(Clock::time_point at);
  // No deadline (an idle connection).
  void ClearDeadline();
  // Whether a deadline passed (the socket is closed then).
  bool expired() const;

  beast::flat_buffer buffer;
  Clock::time_point idle_since;
  int uses = 0;

 private:
  tcp::socket plain_;  // the socket when there is no TLS (unused under it)
  std::unique_ptr<net::ssl::stream<tcp::socket>> tls_stream_;
  std::shared_ptr<internal::ConnectionWatch> watch_;  // shared with the timer's handler
};

class ConnectionPool {
 public:
  static ConnectionPool& Local();  // this thread's pool
  std::unique_ptr<UpstreamConnection> Take(const Endpoint& ep);
  void Give(const Endpoint& ep, std::unique_ptr<UpstreamConnection> conn);
  size_t idle_count() const;
  void Clear() { idle_.clear(); }

  static constexpr size_t kMaxIdlePerEndpoint = 256;
  static constexpr std::chrono::seconds kMaxIdleTime{30};
  static constexpr std::chrono::milliseconds kCheckAfterIdle{500};  // then peeked before reuse

 private:
  std::vector<std::vector<std::unique_ptr<UpstreamConnection>>> idle_;  // by PoolSlot
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
  std::string_view content_type() const { return parser_->content_type(); }
  std::string_view retry_after() const { return parser_->retry_after(); }

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
  enum class Phase { kWrite, kHead, kBody };
  // Writes the request on the connection taken (or made) for this attempt and reads the head.
  net::awaitable<ExchangeError> Attempt(std::string_view head, std::string_view body, bool fresh);
  // Appends buffered body bytes to `out` (up to `room`); false on a framing error (`ec`).
  bool ParseBuffered(std::string& out, size_t room, error_code& ec);
  // Reads body bytes into `out` (appended) until the body ends, `out` holds `want` bytes, or
  // (`some`) nothing more is buffered; drops the connection on failure.
  net::awaitable<ExchangeError> ReadBody(std::string& out, uint64_t want, bool some);
  // Gives the connection back when the response was read to its end (else drops it).
  void Finish();
  // Drops the connection after `ec`, keeps a detail, and says what kind of failure it was.
  ExchangeError Fail(Phase phase, const char* what, error_code ec);

  const Endpoint& endpoint_;
  ExchangeTimeouts timeouts_;
  std::chrono::steady_clock::time_point deadline_;
  std::unique_ptr<UpstreamConnection> conn_;
  std::optional<internal::ResponseParser> parser_;
  std::string detail_;
  std::string head_;  // the serialized request head, alive while it is written
  bool keep_alive_ = false;
  ExchangeError pending_error_ = ExchangeError::kNone;  // a failure behind data already returned
};

}  // namespace ap::http
