// http/client.cc — connect (DNS, TCP, TLS with verification), pooling, and the exchange steps.
#include "http/client.h"

#include <sys/socket.h>

#include <cerrno>

#include <openssl/ssl.h>

#include <array>
#include <mutex>
#include <unordered_map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/asio/write.hpp>

#include "http/wire.h"

namespace ap::http {
namespace {
constexpr auto kUse = net::as_tuple(net::use_awaitable);
// For the exchange's reads and writes: a deferred operation co_awaited directly, which (unlike
// use_awaitable) needs no coroutine frame of its own per operation.
constexpr auto kAwait = net::as_tuple(net::deferred);
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

namespace internal {

// The deadline of one connection and its timer, shared with the timer's handler: a wait that
// completes after the connection is gone finds `socket` null.
struct ConnectionWatch {
  explicit ConnectionWatch(const net::any_io_executor& ex) : timer(ex) {}
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::time_point kNever = Clock::time_point::max();

  net::steady_timer timer;
  Clock::time_point deadline = kNever;  // when the connection's current work must end
  Clock::time_point armed = kNever;     // when the pending wait ends (kNever: none pending)
  uint32_t generation = 0;              // of the pending wait: an older one's handler is stale
  tcp::socket* socket = nullptr;        // null once the connection is gone
  bool expired = false;
};

}  // namespace internal

namespace {

using internal::ConnectionWatch;

void Arm(const std::shared_ptr<ConnectionWatch>& w, ConnectionWatch::Clock::time_point at) {
  w->armed = at;
  const uint32_t generation = ++w->generation;
  w->timer.expires_at(at);  // cancels a pending wait: its handler sees operation_aborted
  w->timer.async_wait([w, generation](error_code ec) {
    // Set again (or about to be), cancelled, or the connection is gone.
    if (ec || !w->socket || generation != w->generation) return;
    w->armed = ConnectionWatch::kNever;
    if (w->deadline == ConnectionWatch::kNever) return;
    if (ConnectionWatch::Clock::now() < w->deadline) {  // the deadline moved later meanwhile
      Arm(w, w->deadline);
      return;
    }
    w->expired = true;
    error_code ignored;
    w->socket->close(ignored);  // the pending operation fails; later ones fail at once
  });
}

}  // namespace

UpstreamConnection::UpstreamConnection(net::any_io_executor ex, const Endpoint& ep)
    : plain_(ex), watch_(std::make_shared<internal::ConnectionWatch>(ex)) {
  // Without a reservation a response is read 512 bytes at a time (one recvmsg each).
  buffer.reserve(16 * 1024);
  if (ep.tls) tls_stream_ = std::make_unique<net::ssl::stream<tcp::socket>>(ex, *ep.tls);
  watch_->socket = &socket();
}

UpstreamConnection::~UpstreamConnection() {
  watch_->socket = nullptr;
  watch_->timer.cancel();
}

void UpstreamConnection::SetDeadline(Clock::time_point at) {
  watch_->deadline = at;
  if (at < watch_->armed) Arm(watch_, at);
}

void UpstreamConnection::ClearDeadline() {
  watch_->deadline = ConnectionWatch::kNever;
  if (watch_->armed != ConnectionWatch::kNever) {  // a pending wait would keep the event loop busy
    watch_->armed = ConnectionWatch::kNever;
    ++watch_->generation;
    watch_->timer.cancel();
  }
}

bool UpstreamConnection::expired() const { return watch_->expired; }

net::awaitable<error_code> UpstreamConnection::Connect(const Endpoint& ep, std::chrono::milliseconds timeout) {
  SetDeadline(Clock::now() + timeout);
  co_return co_await Connect(ep);
}

net::awaitable<error_code> UpstreamConnection::Connect(const Endpoint& ep) {
  auto& sock = socket();
  error_code ec;
  auto address = net::ip::make_address(ep.host, ec);
  if (!ec) {
    std::tie(ec) = co_await sock.async_connect(tcp::endpoint(address, ep.port), kUse);
  } else {
    tcp::resolver resolver(sock.get_executor());
    auto [rec, results] = co_await resolver.async_resolve(ep.host, std::to_string(ep.port), kUse);
    if (rec) co_return rec;
    if (expired()) co_return net::error::timed_out;
    tcp::endpoint connected;
    std::tie(ec, connected) = co_await net::async_connect(sock, results, kUse);
  }
  if (expired()) co_return net::error::timed_out;
  if (ec) co_return ec;
  sock.set_option(tcp::no_delay(true), ec);
  // Only the exchange's own writes are synchronous (tried before an asynchronous write): they
  // must not block.
  sock.non_blocking(true, ec);
  if (tls_stream_) {
    if (!SSL_set_tlsext_host_name(tls_stream_->native_handle(), ep.host.c_str()))
      co_return error_code(static_cast<int>(::ERR_get_error()), net::error::get_ssl_category());
    tls_stream_->set_verify_callback(net::ssl::host_name_verification(ep.host));
    std::tie(ec) = co_await tls_stream_->async_handshake(net::ssl::stream_base::client, kUse);
    if (expired()) co_return net::error::timed_out;
  }
  co_return ec;
}

uint32_t PoolSlot::Get(const std::string& key) const {
  if (uint32_t s = slot_.load(std::memory_order_relaxed)) return s - 1;
  static std::mutex mu;
  static std::unordered_map<std::string, uint32_t> slots;  // every key ever pooled
  std::lock_guard lock(mu);
  auto [it, added] = slots.try_emplace(key, static_cast<uint32_t>(slots.size()));
  slot_.store(it->second + 1, std::memory_order_relaxed);
  return it->second;
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

std::unique_ptr<UpstreamConnection> ConnectionPool::Take(const Endpoint& ep) {
  const uint32_t slot = ep.slot.Get(ep.key);
  if (slot >= idle_.size()) return nullptr;
  auto& list = idle_[slot];
  if (list.empty()) return nullptr;
  auto now = std::chrono::steady_clock::now();
  while (!list.empty()) {
    auto conn = std::move(list.back());
    list.pop_back();
    if (now - conn->idle_since >= kMaxIdleTime || !conn->socket().is_open()) continue;
    // Servers close idle keep-alive connections on their own clock (uvicorn, as vLLM runs it,
    // and Node after 5 s): one that rested a while is checked for the peer's FIN (or anything
    // else it sent unasked) before a request is written into it.
    if (now - conn->idle_since >= kCheckAfterIdle && PeerClosed(conn->socket().native_handle(), conn->tls())) continue;
    return conn;
  }
  return nullptr;
}

void ConnectionPool::Give(const Endpoint& ep, std::unique_ptr<UpstreamConnection> conn) {
  const uint32_t slot = ep.slot.Get(ep.key);
  if (slot >= idle_.size()) idle_.resize(slot + 1);
  auto& list = idle_[slot];
  if (list.size() >= kMaxIdlePerEndpoint) return;  // closes it
  conn->ClearDeadline();
  conn->idle_since = std::chrono::steady_clock::now();
  list.push_back(std::move(conn));
}

size_t ConnectionPool::idle_count() const {
  size_t n = 0;
  for (const auto& list : idle_) n += list.size();
  return n;
}

Exchange::Exchange(const Endpoint& endpoint, ExchangeTimeouts timeouts)
    : endpoint_(endpoint), timeouts_(timeouts) {
  deadline_ = std::chrono::steady_clock::now() + timeouts_.total;
}

Exchange::~Exchange() = default;

void Exchange::Abort() { conn_.reset(); }  // closes the socket

ExchangeError Exchange::Fail(Phase phase, const char* what, error_code ec) {
  const bool timed_out = conn_ && conn_->expired();
  detail_ = what;
  detail_ += endpoint_.key;
  detail_ += ": ";
  detail_ += timed_out ? std::string("timed out") : ec.message();
  conn_.reset();
  if (!timed_out) return ExchangeError::kBroken;
  return phase == Phase::kBody ? ExchangeError::kTotalTimeout : ExchangeError::kFirstByteTimeout;
}

net::awaitable<ExchangeError> Exchange::Start(bhttp::request<bhttp::string_body>& request) {
  head_.clear();
  AppendRequestHead(head_, request.base(), request.body().size());
  return Start(head_, request.body());
}

net::awaitable<ExchangeError> Exchange::Start(std::string_view head, std::string_view body) {
  using Clock = std::chrono::steady_clock;
  for (bool fresh = false;; fresh = true) {
    // A retry takes a fresh connection (not another pooled one: those rested as long as the
    // first and are likely closed too).
    conn_ = fresh ? nullptr : ConnectionPool::Local().Take(endpoint_);
    const bool reused = conn_ != nullptr;
    parser_.emplace();
    parser_->header_limit(64 * 1024);
    parser_->body_limit(boost::none);
    if (!conn_) {
      conn_ = std::make_unique<UpstreamConnection>(co_await net::this_coro::executor, endpoint_);
      conn_->SetDeadline(std::min(Clock::now() + timeouts_.connect, deadline_));
      if (auto ec = co_await conn_->Connect(endpoint_)) {
        detail_ = "connect to " + endpoint_.key + ": " + (conn_->expired() ? "timed out" : ec.message());
        conn_.reset();
        co_return ExchangeError::kConnect;
      }
    }
    conn_->uses++;
    conn_->SetDeadline(std::min(Clock::now() + timeouts_.first_byte, deadline_));

    // The request: over plain TCP written at once when the socket takes it all (the usual
    // case), without a trip through the event loop; the rest, or all of it over TLS, async.
    error_code ec;
    size_t written = 0;
    if (!conn_->tls()) {
      std::array<net::const_buffer, 2> buffers{net::buffer(head), net::buffer(body)};
      written = conn_->socket().write_some(buffers, ec);
      if (ec == net::error::would_block || ec == net::error::try_again) ec = {};
    }
    if (!ec && written < head.size() + body.size()) {
      std::array<net::const_buffer, 2> rest{
          net::buffer(head.substr(std::min(written, head.size()))),
          net::buffer(body.substr(written > head.size() ? written - head.size() : 0))};
      std::tuple<error_code, size_t> r;
      if (auto* tls = conn_->tls_stream()) r = co_await net::async_write(*tls, rest, kAwait);
      else r = co_await net::async_write(conn_->socket(), rest, kAwait);
      ec = std::get<0>(r);
    }
    if (ec) {
      auto e = Fail(Phase::kWrite, "write to ", ec);
      if (e == ExchangeError::kBroken && reused && !fresh) continue;  // closed while pooled
      co_return e;
    }

    // The head, parsed straight from the connection's buffer; the socket is read only when the
    // buffer holds no complete head. A read takes whatever the buffer has room for, so a
    // response's head and body usually arrive together.
    auto& buf = conn_->buffer;
    while (true) {
      if (buf.size() > 0) {
        error_code pec;
        size_t used = parser_->put(buf.data(), pec);
        buf.consume(used);
        if (pec == bhttp::error::need_more) pec = {};
        if (pec) {
          detail_ = "bad response from " + endpoint_.key + ": " + pec.message();
          conn_.reset();
          co_return ExchangeError::kBroken;
        }
        if (parser_->is_header_done()) break;
      }
      const size_t room = std::max<size_t>(4096, buf.capacity() - buf.size());
      std::tuple<error_code, size_t> r;
      if (auto* tls = conn_->tls_stream()) r = co_await tls->async_read_some(buf.prepare(room), kAwait);
      else r = co_await conn_->socket().async_read_some(buf.prepare(room), kAwait);
      auto [rec, n] = r;
      if (rec) {
        auto e = Fail(Phase::kHead, "read from ", rec);
        // A pooled connection the peer closed while idle fails before any response byte: that
        // says nothing about the backend, so try once more on a fresh connection.
        if (e == ExchangeError::kBroken && reused && !fresh && !parser_->got_some()) break;
        co_return e;
      }
      buf.commit(n);
    }
    if (!conn_) continue;  // the retry above
    conn_->SetDeadline(deadline_);  // later than the first byte's: the timer follows lazily
    keep_alive_ = parser_->keep_alive();
    co_return ExchangeError::kNone;
  }
}

namespace {
constexpr size_t kMaxPiece = 4 * kReadChunk;  // the most ReadSome hands over at once
}  // namespace

bool Exchange::ParseBuffered(std::string& out, size_t room, error_code& ec) {
  // Body bytes are at most the buffered bytes: room for those is made in `out`, then trimmed.
  auto& buf = conn_->buffer;
  const size_t old = out.size();
  const size_t n = std::min(buf.size(), room);
  out.resize(old + n);
  parser_->SetOutput(out.data() + old, n);
  const size_t used = parser_->put(buf.data(), ec);
  buf.consume(used);
  out.resize(old + parser_->written());
  if (ec == bhttp::error::need_more || ec == bhttp::error::need_buffer) ec = {};
  return used > 0;
}

net::awaitable<ExchangeError> Exchange::ReadSome(std::string& out) {
  out.clear();
  return ReadBody(out, kMaxPiece, true);
}

net::awaitable<ExchangeError> Exchange::ReadAll(std::string& out, uint64_t limit) {
  out.clear();
  return ReadBody(out, limit, false);
}

net::awaitable<ExchangeError> Exchange::ReadBody(std::string& out, uint64_t want, bool some) {
  if (pending_error_ != ExchangeError::kNone) co_return std::exchange(pending_error_, ExchangeError::kNone);
  if (!parser_ || (!conn_ && !parser_->is_done())) co_return ExchangeError::kBroken;
  // `some`: up to `want` bytes, handed over as soon as nothing more can be read without waiting
  // (an upstream that writes one small chunk per token then costs one client write per burst).
  // Else: the whole body, which may not pass `want` bytes.
  while (conn_ && !parser_->is_done()) {
    error_code ec;
    auto& buf = conn_->buffer;
    if (buf.size() > 0) {
      const bool progressed = ParseBuffered(out, some ? want - out.size() : SIZE_MAX, ec);
      if (!ec) {
        if (parser_->is_done() || (!some && out.size() > want)) break;
        if (progressed && buf.size() > 0 && (!some || out.size() < want)) continue;
      }
    }
    if (!ec && some && !out.empty()) {
      error_code aec;
      if (out.size() >= want || conn_->socket().available(aec) == 0 || aec) break;
    }
    if (!ec) {
      std::tuple<error_code, size_t> r;
      if (auto* tls = conn_->tls_stream()) r = co_await tls->async_read_some(buf.prepare(kReadChunk), kAwait);
      else r = co_await conn_->socket().async_read_some(buf.prepare(kReadChunk), kAwait);
      auto [rec, n] = r;
      if (!rec) {
        buf.commit(n);
        continue;
      }
      ec = rec;
      if (ec == net::error::eof) {
        ec = {};
        parser_->put_eof(ec);  // completes a body delimited by the end of the connection
        if (!ec) {
          keep_alive_ = false;
          continue;
        }
      }
    }
    auto error = Fail(Phase::kBody, "read body from ", ec);
    if (some && !out.empty()) {  // deliver what arrived before the failure; report it on the next call
      pending_error_ = error;
      co_return ExchangeError::kNone;
    }
    co_return error;
  }
  if (!some && out.size() > want) {
    detail_ = "response body exceeds " + std::to_string(want) + " bytes";
    Abort();
    co_return ExchangeError::kBodyTooLarge;
  }
  if (conn_ && parser_->is_done()) {
    if (keep_alive_ && conn_->buffer.size() == 0) ConnectionPool::Local().Give(endpoint_, std::move(conn_));
    conn_.reset();
  }
  co_return ExchangeError::kNone;
}

}  // namespace ap::http
