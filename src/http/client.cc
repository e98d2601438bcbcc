// http/client.cc — connect (DNS, TCP, TLS with verification), pooling, and the exchange steps.
#include "http/client.h"

#include <sys/socket.h>

#include <cerrno>

#include <openssl/ssl.h>

#include <array>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/asio/write.hpp>

#include "http/wire.h"

namespace ap::http {
namespace {
constexpr auto kUse = net::as_tuple(net::use_awaitable);
constexpr size_t kReadChunk = 16 * 1024;
}  // namespace

const char* ExchangeErrorName(ExchangeError e) {
  switch (e) {
    case ExchangeError::kNone: return "none";
    case ExchangeError::kConnect: return "connect";
    case ExchangeError::kFirstByteTimeout: return "first_byte_timeout";
    case ExchangeError::kTotalTimeout: return "total_timeout";
    case ExchangeError::kBroken: return "broken";
    case ExchangeError::kBodyTooLarge: return "body_too_large";
  }
  return "unknown";
}

std::shared_ptr<net::ssl::context> MakeClientTlsContext(const std::string& ca_file, bool verify,
                                                        std::string* error) {
  auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_client);
  boost::system::error_code ec;
  ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                   net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                   net::ssl::context::no_tlsv1_1);
  ctx->set_default_verify_paths(ec);
  if (ec) {
    *error = "cannot load the system CA store: " + ec.message();
    return nullptr;
  }
  if (!ca_file.empty()) {
    ctx->load_verify_file(ca_file, ec);
    if (ec) {
      *error = "cannot load CA file " + ca_file + ": " + ec.message();
      return nullptr;
    }
  }
  ctx->set_verify_mode(verify ? net::ssl::verify_peer : net::ssl::verify_none);
  return ctx;
}

UpstreamConnection::UpstreamConnection(net::any_io_executor ex, const Endpoint& ep) {
  // Without a reservation Beast reads a response 512 bytes at a time (one recvmsg each).
  buffer.reserve(16 * 1024);
  if (ep.tls) tls_stream_ = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ex, *ep.tls);
  else plain_ = std::make_unique<beast::tcp_stream>(ex);
}

beast::tcp_stream& UpstreamConnection::lowest() {
  return tls_stream_ ? beast::get_lowest_layer(*tls_stream_) : *plain_;
}

net::awaitable<error_code> UpstreamConnection::Connect(const Endpoint& ep,
                                                       std::chrono::milliseconds timeout) {
  auto& tcp_stream = lowest();
  tcp_stream.expires_after(timeout);
  error_code ec;
  auto address = net::ip::make_address(ep.host, ec);
  if (!ec) {
    std::tie(ec) = co_await tcp_stream.async_connect(tcp::endpoint(address, ep.port), kUse);
  } else {
    tcp::resolver resolver(tcp_stream.get_executor());
    auto [rec, results] = co_await resolver.async_resolve(ep.host, std::to_string(ep.port), kUse);
    if (rec) co_return rec;
    tcp::endpoint connected;
    std::tie(ec, connected) = co_await tcp_stream.async_connect(results, kUse);
  }
  if (ec) co_return ec;
  tcp_stream.socket().set_option(tcp::no_delay(true), ec);
  if (tls_stream_) {
    if (!SSL_set_tlsext_host_name(tls_stream_->native_handle(), ep.host.c_str()))
      co_return error_code(static_cast<int>(::ERR_get_error()), net::error::get_ssl_category());
    tls_stream_->set_verify_callback(net::ssl::host_name_verification(ep.host));
    std::tie(ec) = co_await tls_stream_->async_handshake(net::ssl::stream_base::client, kUse);
  }
  co_return ec;
}

ConnectionPool& ConnectionPool::Local() {
  thread_local ConnectionPool pool;
  return pool;
}

namespace {

// Whether the peer closed the connection while it was idle in the pool, or (plain HTTP) sent
// something unasked, such as a 408 before closing. Over TLS, bytes may be a session ticket.
bool PeerClosed(int fd, bool tls) {
  char byte;
  ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
  return n == 0 || !tls;
}

}  // namespace

std::unique_ptr<UpstreamConnection> ConnectionPool::Take(const std::string& key) {
  auto it = idle_.find(key);
  if (it == idle_.end()) return nullptr;
  auto& list = it->second;
  auto now = std::chrono::steady_clock::now();
  while (!list.empty()) {
    auto conn = std::move(list.back());
    list.pop_back();
    if (now - conn->idle_since >= kMaxIdleTime || !conn->lowest().socket().is_open()) continue;
    // Servers close idle keep-alive connections on their own clock (uvicorn, as vLLM runs it,
    // and Node after 5 s): one that rested a while is checked for the peer's FIN (or anything
    // else it sent unasked) before a request is written into it.
    if (now - conn->idle_since >= kCheckAfterIdle && PeerClosed(conn->lowest().socket().native_handle(), conn->tls())) continue;
    return conn;
  }
  return nullptr;
}

void ConnectionPool::Give(const std::string& key, std::unique_ptr<UpstreamConnection> conn) {
  auto& list = idle_[key];
  if (list.size() >= kMaxIdlePerEndpoint) return;  // closes it
  conn->idle_since = std::chrono::steady_clock::now();
  list.push_back(std::move(conn));
}

size_t ConnectionPool::idle_count() const {
  size_t n = 0;
  for (const auto& [k, v] : idle_) n += v.size();
  return n;
}

Exchange::Exchange(const Endpoint& endpoint, ExchangeTimeouts timeouts)
    : endpoint_(endpoint), timeouts_(timeouts) {
  deadline_ = std::chrono::steady_clock::now() + timeouts_.total;
}

Exchange::~Exchange() = default;

void Exchange::SetDeadline(std::chrono::milliseconds limit) {
  auto at = std::min(std::chrono::steady_clock::now() + limit, deadline_);
  conn_->lowest().expires_at(at);
}

void Exchange::Abort() {
  if (conn_) {
    error_code ec;
    conn_->lowest().socket().close(ec);
    conn_.reset();
  }
}

net::awaitable<ExchangeError> Exchange::Start(bhttp::request<bhttp::string_body>& request) {
  head_.clear();
  AppendRequestHead(head_, request.base(), request.body().size());
  co_return co_await Start(head_, request.body());
}

net::awaitable<ExchangeError> Exchange::Start(std::string_view head, std::string_view body) {
  for (int attempt = 0;; ++attempt) {
    bool reused = attempt > 0;  // in: a retry takes a fresh connection; out: whether pooled
    auto e = co_await StartOnce(head, body, &reused);
    // A pooled connection the peer closed while idle fails before any response byte: that says
    // nothing about the backend, so try once more on a fresh connection (not another pooled
    // one: those rested as long and are likely closed too).
    if (e == ExchangeError::kBroken && reused && attempt == 0 && !parser_->got_some()) {
      conn_.reset();
      continue;
    }
    co_return e;
  }
}

net::awaitable<ExchangeError> Exchange::StartOnce(std::string_view head, std::string_view body,
                                                  bool* reused) {
  if (!*reused) conn_ = ConnectionPool::Local().Take(endpoint_.key);
  *reused = conn_ != nullptr;
  parser_.emplace();
  parser_->header_limit(64 * 1024);
  parser_->body_limit(boost::none);
  if (!conn_) {
    auto ex = co_await net::this_coro::executor;
    conn_ = std::make_unique<UpstreamConnection>(ex, endpoint_);
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline_ - std::chrono::steady_clock::now());
    auto ec = co_await conn_->Connect(endpoint_, std::min(timeouts_.connect, remaining));
    if (ec) {
      detail_ = "connect to " + endpoint_.key + ": " + ec.message();
      conn_.reset();
      co_return ExchangeError::kConnect;
    }
  }
  conn_->uses++;
  std::array<net::const_buffer, 2> buffers{net::buffer(head), net::buffer(body)};
  SetDeadline(timeouts_.first_byte);
  auto [wec, wn] = co_await conn_->WithStream(
      [&](auto& s) { return net::async_write(s, buffers, kUse); });
  if (wec) {
    detail_ = "write to " + endpoint_.key + ": " + wec.message();
    conn_.reset();
    co_return wec == beast::error::timeout ? ExchangeError::kFirstByteTimeout : ExchangeError::kBroken;
  }
  // The head is parsed straight from the connection's buffer (Beast's parser, without its
  // composed read operation); the socket is read only when the buffer holds no complete head.
  while (!parser_->is_header_done()) {
    error_code pec;
    if (conn_->buffer.size() > 0) {
      size_t used = parser_->put(conn_->buffer.data(), pec);
      conn_->buffer.consume(used);
      if (pec == bhttp::error::need_more) pec = {};
      if (pec) {
        detail_ = "bad response from " + endpoint_.key + ": " + pec.message();
        conn_.reset();
        co_return ExchangeError::kBroken;
      }
      if (parser_->is_header_done()) break;
    }
    auto rec = co_await Fill(4096);
    if (rec) {
      detail_ = "read from " + endpoint_.key + ": " + rec.message();
      conn_.reset();
      co_return rec == beast::error::timeout ? ExchangeError::kFirstByteTimeout : ExchangeError::kBroken;
    }
  }
  parser_->eager(true);
  keep_alive_ = parser_->keep_alive();
  co_return ExchangeError::kNone;
}

net::awaitable<error_code> Exchange::Fill(size_t want) {
  auto [ec, n] = co_await conn_->WithStream(
      [&](auto& s) { return s.async_read_some(conn_->buffer.prepare(want), kUse); });
  if (!ec) conn_->buffer.commit(n);
  co_return ec;
}

net::awaitable<ExchangeError> Exchange::ReadSome(std::string& out) {
  out.clear();
  if (pending_error_ != ExchangeError::kNone) co_return std::exchange(pending_error_, ExchangeError::kNone);
  if (!parser_ || (!conn_ && !parser_->is_done())) co_return ExchangeError::kBroken;
  if (!scratch_) scratch_ = std::make_unique_for_overwrite<char[]>(kReadChunk);
  if (conn_) conn_->lowest().expires_at(deadline_);
  while (conn_ && !parser_->is_done()) {
    // Parse what is buffered (chunked coding undone by Beast's parser) into the scratch buffer.
    error_code ec;
    if (conn_->buffer.size() > 0) {
      parser_->SetOutput(scratch_.get(), kReadChunk);
      size_t used = parser_->put(conn_->buffer.data(), ec);
      conn_->buffer.consume(used);
      out.append(scratch_.get(), parser_->written());
      if (ec == bhttp::error::need_more || ec == bhttp::error::need_buffer) ec = {};
      if (!ec && parser_->is_done()) break;
      if (!ec && used > 0 && conn_->buffer.size() > 0 && out.size() < 4 * kReadChunk) continue;
    }
    // Hand over what has arrived as soon as nothing more can be read without waiting (an
    // upstream that writes one small chunk per token then costs one client write per burst).
    if (!ec && !out.empty()) {
      boost::system::error_code aec;
      if (conn_->lowest().socket().available(aec) == 0 || aec || out.size() >= 4 * kReadChunk) break;
    }
    if (!ec) {
      ec = co_await Fill(16 * 1024);
      if (ec == net::error::eof) {
        ec = {};
        parser_->put_eof(ec);  // completes a body delimited by the end of the connection
        if (!ec) {
          keep_alive_ = false;
          continue;
        }
      }
    }
    if (ec) {
      detail_ = "read body from " + endpoint_.key + ": " + ec.message();
      conn_.reset();
      auto error = ec == beast::error::timeout ? ExchangeError::kTotalTimeout : ExchangeError::kBroken;
      if (!out.empty()) {  // deliver what arrived before the failure; report it on the next call
        pending_error_ = error;
        co_return ExchangeError::kNone;
      }
      co_return error;
    }
  }
  if (conn_ && parser_->is_done()) {
    if (keep_alive_ && conn_->buffer.size() == 0) ConnectionPool::Local().Give(endpoint_.key, std::move(conn_));
    conn_.reset();
  }
  co_return ExchangeError::kNone;
}

net::awaitable<ExchangeError> Exchange::ReadAll(std::string& out, uint64_t limit) {
  out.clear();
  std::string piece;
  while (true) {
    auto e = co_await ReadSome(piece);
    if (e != ExchangeError::kNone) co_return e;
    if (piece.empty()) co_return ExchangeError::kNone;
    if (out.size() + piece.size() > limit) {
      detail_ = "response body exceeds " + std::to_string(limit) + " bytes";
      Abort();
      co_return ExchangeError::kBodyTooLarge;
    }
    out.append(piece);
  }
}

}  // namespace ap::http
