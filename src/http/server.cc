// http/server.cc — workers, the accept loop and the per-connection coroutine.
#include "http/server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <array>
#include <span>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include <boost/intrusive/list.hpp>

#include "base/log.h"
#include "http/wire.h"

namespace ap::http {
namespace {
constexpr auto kUse = net::as_tuple(net::use_awaitable);

// Where a connection's response heads are written: kept for the connection's life, so a head
// costs no allocation after the first request (a few hundred bytes per connection).
struct HeadBuffers {
  std::string head;
  std::string extra;  // Responder::AddHeadLines: written after the fields of the next head

  void Reset() {
    static constexpr size_t kKeep = 8 * 1024;  // an unusually large head is not kept
    if (head.capacity() > kKeep) std::string().swap(head);
    if (extra.capacity() > kKeep) std::string().swap(extra);
    head.clear();
    extra.clear();
  }
};

// One connection's answer to one request. Heads are written by http/wire.h and sent with the
// body in one gather write.
class ConnectionResponder final : public Responder {
 public:
  ConnectionResponder(beast::tcp_stream& stream, const tcp::endpoint& peer, bool keep_alive,
                      unsigned client_version, std::chrono::milliseconds write_timeout, HeadBuffers& buffers)
      : stream_(stream), peer_(peer), keep_alive_(keep_alive), client_version_(client_version),
        write_timeout_(write_timeout), head_(buffers.head), extra_head_(buffers.extra) {
    buffers.Reset();
  }

  net::awaitable<bool> Send(Response response) override {
    if (started_) co_return false;
    started_ = true;
    head_.clear();
    AppendResponseHead(head_, response.base(), response.body().size(), keep_alive_, client_version_, extra_head_);
    std::array<net::const_buffer, 2> buffers{net::buffer(head_), net::buffer(response.body())};
    stream_.expires_after(write_timeout_);
    auto [ec, n] = co_await net::async_write(stream_, buffers, kUse);
    if (ec) keep_alive_ = false;
    completed_ = !ec;
    co_return !ec;
  }

  net::awaitable<bool> StartStream(bhttp::response_header<> header) override {
    if (started_) co_return false;
    started_ = true;
    head_.clear();
    AppendResponseHead(head_, header, std::nullopt, keep_alive_, client_version_, extra_head_);
    head_pending_ = true;  // goes out with the first chunk
    co_return true;
  }

  net::awaitable<bool> SendChunk(std::string_view data) override {
    if (data.empty()) co_return !failed_ && started_;  // an empty chunk would end the stream
    co_return co_await WriteStreamPart(data, false, {});
  }

  net::awaitable<bool> SendFinalChunk(std::string_view data, std::string_view trailer) override {
    co_return co_await WriteStreamPart(data, true, trailer);
  }

  net::awaitable<bool> EndStream() override { co_return co_await WriteStreamPart({}, true, {}); }
  void AddHeadLines(std::string_view lines) override { extra_head_.append(lines); }
  bool started() const override { return started_; }
  const tcp::endpoint& peer() const override { return peer_; }
  bool completed() const { return completed_; }
  bool keep_alive() const { return keep_alive_ && completed_; }

 private:
  beast::tcp_stream& stream_;
  const tcp::endpoint& peer_;
  bool keep_alive_;
  unsigned client_version_;
  std::chrono::milliseconds write_timeout_;
  std::string& head_;
  std::string& extra_head_;  // AddHeadLines: written after the fields of the next head
  bool started_ = false;
  bool completed_ = false;
  bool failed_ = false;
  bool head_pending_ = false;

  // One gather write: the held-back head (first time), a chunk (when `data` is not empty) and
  // the last-chunk marker (when `last`).
  net::awaitable<bool> WriteStreamPart(std::string_view data, bool last, std::string_view trailer) {
    if (failed_ || !started_ || completed_) co_return false;
    std::array<net::const_buffer, 7> buffers;
    size_t n = 0;
    if (head_pending_) buffers[n++] = net::buffer(head_);
    char size_line[24];
    if (!data.empty()) {
      buffers[n++] = net::buffer(ChunkSizeLine(data.size(), size_line));
      buffers[n++] = net::buffer(data);
      buffers[n++] = net::buffer("\r\n", 2);
    }
    if (last && trailer.empty()) {
      buffers[n++] = net::buffer("0\r\n\r\n", 5);
    } else if (last) {
      buffers[n++] = net::buffer("0\r\n", 3);
      buffers[n++] = net::buffer(trailer);
      buffers[n++] = net::buffer("\r\n", 2);
    }
    if (n == 0) co_return true;
    stream_.expires_after(write_timeout_);
    auto [ec, written] = co_await net::async_write(stream_, std::span(buffers.data(), n), kUse);
    head_pending_ = false;
    if (ec) failed_ = true;
    if (last && !ec) completed_ = true;
    co_return !ec;
  }
};

}  // namespace

struct IdleConnection : boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::normal_link>> {
  explicit IdleConnection(beast::tcp_stream* s) : stream(s) {}
  beast::tcp_stream* stream;
};

struct Server::Worker {
  net::io_context ioc{1};
  std::unique_ptr<tcp::acceptor> acceptor;
  // Connections waiting for their next request (Shutdown cancels their reads): an intrusive
  // list of entries on the connections' own frames, so going idle allocates nothing. Touched
  // only on this worker's thread.
  boost::intrusive::list<IdleConnection, boost::intrusive::constant_time_size<false>> idle;
};

bool IsLoopback(const tcp::endpoint& endpoint) {
  auto a = endpoint.address();
  if (a.is_loopback()) return true;
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6()).is_loopback();
  return false;
}

namespace {
// "localhost", "127.0.0.1", "[::1]", with or without ":port"; "http://…" for Origin.
bool IsLoopbackHost(std::string_view host) {
  if (auto scheme = host.find("://"); scheme != std::string_view::npos) host.remove_prefix(scheme + 3);
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    return close != std::string_view::npos && host.substr(1, close - 1) == "::1";
  }
  host = host.substr(0, host.find(':'));
  return host == "localhost" || host == "127.0.0.1";
}
}  // namespace

bool TrustedLocalRequest(const Request& req, const tcp::endpoint& peer) {
  if (!IsLoopback(peer)) return false;
  if (auto host = req.find(bhttp::field::host); host == req.end() || !IsLoopbackHost(host->value())) return false;
  if (auto origin = req.find(bhttp::field::origin); origin != req.end() && !IsLoopbackHost(origin->value())) return false;
  if (auto site = req.find("sec-fetch-site"); site != req.end() && site->value() != "same-origin" && site->value() != "none")
    return false;
  return true;
}

Server::Server(ServerOptions options, std::shared_ptr<Handler> handler)
    : options_(std::move(options)), handler_(std::move(handler)) {}

Server::~Server() {
  if (!threads_.empty() && !stopped_) Shutdown(std::chrono::milliseconds(0));
}

bool Server::Start() {
  boost::system::error_code ec;
  auto address = net::ip::make_address(options_.host, ec);
  if (ec) {
    log::Error("http", "invalid listen address", {{"host", options_.host}});
    return false;
  }
  int n = std::max(1, options_.threads);
  uint16_t port = options_.port;
  for (int i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>();
    auto acc = std::make_unique<tcp::acceptor>(w->ioc);
    tcp::endpoint ep(address, port);
    acc->open(ep.protocol(), ec);
    if (!ec) acc->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) {
      int one = 1;
      if (setsockopt(acc->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        ec = boost::system::error_code(errno, boost::system::system_category());
    }
    if (!ec) acc->bind(ep, ec);
    if (!ec) acc->listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      log::Error("http", "cannot listen", {{"address", options_.host + ":" + std::to_string(port)},
                                           {"error", ec.message()}});
      return false;
    }
    port = acc->local_endpoint().port();
    w->acceptor = std::move(acc);
    workers_.push_back(std::move(w));
  }
  port_ = port;
  for (auto& w : workers_) {
    net::co_spawn(w->ioc, AcceptLoop(*w), net::detached);
    threads_.emplace_back([w = w.get()] { w->ioc.run(); });
  }
  return true;
}

net::awaitable<void> Server::AcceptLoop(Worker& worker) {
  while (!draining_) {
    auto [ec, socket] = co_await worker.acceptor->async_accept(kUse);
    if (ec == net::error::operation_aborted || !worker.acceptor->is_open()) co_return;
    if (ec) {
      // Out of descriptors and the like: back off briefly instead of spinning.
      log::Warn("http", "accept failed", {{"error", ec.message()}});
      net::steady_timer t(worker.ioc, std::chrono::milliseconds(20));
      co_await t.async_wait(kUse);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    net::co_spawn(worker.ioc, ServeConnection(worker, std::move(socket)), net::detached);
  }
}

net::awaitable<void> Server::ServeConnection(Worker& worker, tcp::socket socket) {
  ++open_connections_;
  boost::system::error_code peer_ec;
  tcp::endpoint peer = socket.remote_endpoint(peer_ec);
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  buffer.reserve(4096);  // a typical request in one read (Beast would start at 512 bytes)
  HeadBuffers heads;
  IdleConnection idle_entry{&stream};
  while (true) {
    if (buffer.size() == 0) {  // idle between requests: the only state Shutdown may interrupt
      if (draining_) break;
      worker.idle.push_back(idle_entry);
      stream.expires_after(options_.idle_timeout);
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), kUse);
      worker.idle.erase(worker.idle.iterator_to(idle_entry));
      if (ec) break;
      buffer.commit(n);
    }
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(std::min<uint64_t>(options_.max_header_bytes, UINT32_MAX)));
    parser.body_limit(options_.max_body_bytes);
    parser.eager(true);
    // The request is parsed straight from the connection's buffer; the socket is read only when
    // more bytes are needed, so a request that arrived whole costs no further read and no timer.
    // The read timeout is a separate timer (armed on the first wait) that cancels, not closes, the
    // socket, so a slow client can still be told 408.
    stream.expires_never();
    bool timed_out = false, timer_armed = false, sent_continue = false;
    net::steady_timer read_timer(worker.ioc);
    boost::system::error_code ec;
    while (true) {
      if (buffer.size() > 0) {
        size_t used = parser.put(buffer.data(), ec);
        buffer.consume(used);
        if (ec == bhttp::error::need_more) ec = {};
        if (ec || parser.is_done()) break;
        if (used > 0 && buffer.size() > 0) continue;
      }
      if (parser.is_header_done() && !sent_continue &&
          bhttp::token_list(parser.get()[bhttp::field::expect]).exists("100-continue")) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        co_await net::async_write(stream, net::buffer(kContinue), kUse);
        sent_continue = true;
      }
      if (!timer_armed) {
        timer_armed = true;
        read_timer.expires_after(options_.read_timeout);
        read_timer.async_wait([&stream, &timed_out](boost::system::error_code tec) {
          if (tec) return;
          timed_out = true;
          boost::system::error_code ignored;
          stream.socket().cancel(ignored);
        });
      }
      size_t want = parser.is_header_done() ? 64 * 1024 : 4096;
      auto [rec, rn] = co_await stream.async_read_some(buffer.prepare(want), kUse);
      if (rec) {
        ec = (rec == net::error::eof && parser.got_some()) ? bhttp::error::partial_message : rec;
        break;
      }
      buffer.commit(rn);
    }
    if (timer_armed) read_timer.cancel();
    if (ec) {
      Status status;
      std::string message;
      if (timed_out) {
        if (parser.got_some() || buffer.size() > 0) {
          status = Status::request_timeout;
          message = "the request was not received within " +
                    std::to_string(options_.read_timeout.count()) + " ms";
        } else {
          break;
        }
      } else if (ec == bhttp::error::header_limit) {
        status = Status::request_header_fields_too_large;
        message = "request headers exceed " + std::to_string(options_.max_header_bytes) + " bytes";
      } else if (ec == bhttp::error::body_limit) {
        status = Status::payload_too_large;
        message = "request body exceeds " + std::to_string(options_.max_body_bytes) + " bytes";
      } else if (ec == bhttp::error::end_of_stream || ec == net::error::eof ||
                 ec == net::error::connection_reset || ec == net::error::operation_aborted ||
                 ec == bhttp::error::partial_message) {
        break;
      } else {
        status = Status::bad_request;
        message = "malformed HTTP request: " + ec.message();
      }
      ConnectionResponder r(stream, peer, false, 11, options_.write_timeout, heads);
      Response error = handler_->ProtocolError(status, message);
      co_await r.Send(std::move(error));
      break;
    }
    Request request = parser.release();
    bool keep_alive = request.keep_alive() && !draining_;
    ConnectionResponder responder(stream, peer, keep_alive, request.version(), options_.write_timeout, heads);
    ++active_requests_;
    co_await handler_->Handle(request, responder);
    --active_requests_;
    if (!responder.started()) {
      Response error = handler_->ProtocolError(Status::internal_server_error, "the handler produced no response");
      co_await responder.Send(std::move(error));
    }
    if (!responder.keep_alive() || draining_) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.close();
  --open_connections_;
}

void Server::Shutdown(std::chrono::milliseconds drain) {
  if (stopped_.exchange(true)) return;
  draining_ = true;
  for (auto& w : workers_) {
    net::post(w->ioc, [w = w.get()] {
      boost::system::error_code ec;
      w->acceptor->close(ec);
      for (auto& c : w->idle) c.stream->socket().cancel(ec);
    });
  }
  auto deadline = std::chrono::steady_clock::now() + drain;
  while (open_connections_ > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  for (auto& w : workers_) w->ioc.stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void Server::Wait() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

}  // namespace ap::http
