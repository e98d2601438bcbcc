// http/server.cc — workers, the accept loop and the per-connection coroutine.
#include "http/server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <array>
#include <utility>
#include <span>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>

#include <boost/intrusive/list.hpp>

#include "base/log.h"
#include "base/thread.h"
#include "http/internal/request_parser.h"
#include "http/wire.h"

namespace ap::http {

using Clock = std::chrono::steady_clock;

// A worker's coarse clock for deadlines: read at each sweep (and when a connection opens).
struct SweepClock {
  Clock::time_point now = Clock::now();
  std::chrono::milliseconds interval{100};
};

// One open connection as its worker's deadline sweep sees it: an entry on the connection's own
// frame, linked into the worker's list for the connection's life (no allocation).
struct ConnectionEntry
    : boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::normal_link>> {
  ConnectionEntry(tcp::socket& s, const SweepClock& c) : socket(s), clock(c) {}
  tcp::socket& socket;
  const SweepClock& clock;
  Clock::time_point deadline = Clock::time_point::max();  // of the operation it waits on
  bool timed_out = false;  // the sweep cancelled an operation (reset by the connection)
  bool idle = false;       // waiting for its next request: Shutdown may cancel it

  // The next operation must end within `limit`. Never early: the sweep's clock may lag by up
  // to one interval, and the sweep that notices the deadline may come one interval after it.
  void Arm(std::chrono::milliseconds limit) { deadline = clock.now + limit + clock.interval; }
  void Disarm() { deadline = Clock::time_point::max(); }
};

struct Server::Worker {
  // One thread runs it, and a socket of this worker is only ever touched on that thread (other
  // threads post to it: Shutdown, offloaded work resuming): no locks around socket operations.
  // Posting and timers stay thread-safe.
  net::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::unique_ptr<tcp::acceptor> acceptor;
  // Every open connection, touched only on this worker's thread.
  boost::intrusive::list<ConnectionEntry, boost::intrusive::constant_time_size<false>> connections;
  net::steady_timer sweep_timer{ioc};
  bool sweeping = false;
  SweepClock clock;

  // Placement (http/placement.h). Read by every worker; written by this one.
  int index = 0;
  std::atomic<double> busy{0};
  std::atomic<int> connections_held{0};
  // The CPU its thread ran on at the last sweep; -1 while it holds no connections (LoopCpus).
  std::atomic<int> cpu{-1};
  // This worker's own thread only:
  ThreadBusySampler busy_sampler;
  MachineIdleSampler idle_sampler;
  Clock::time_point next_sample{};
  Move moves;  // connections to hand over at their next request boundary
};

// A connection on its way to another worker: closed (and no longer counted open) if the
// worker never takes it (its io_context stopped first).
struct Server::MovedSocket {
  MovedSocket(int fd, tcp protocol, std::atomic<int64_t>& open) : fd(fd), protocol(protocol), open(&open) {}
  MovedSocket(MovedSocket&& o) noexcept : fd(std::exchange(o.fd, -1)), protocol(o.protocol), open(o.open) {}
  MovedSocket& operator=(MovedSocket&&) = delete;
  ~MovedSocket() {
    if (fd < 0) return;
    ::close(fd);
    --*open;
  }
  int fd;
  tcp protocol;
  std::atomic<int64_t>* open;
};

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
  ConnectionResponder(ConnectionEntry& connection, const tcp::endpoint& peer, bool keep_alive,
                      unsigned client_version, std::chrono::milliseconds write_timeout, HeadBuffers& buffers)
      : connection_(connection), peer_(peer), keep_alive_(keep_alive),
        client_version_(client_version), write_timeout_(write_timeout), head_(buffers.head),
        extra_head_(buffers.extra) {
    buffers.Reset();
  }

  net::awaitable<bool> Send(Response response) override {
    if (started_) co_return false;
    started_ = true;
    head_.clear();
    AppendResponseHead(head_, response.base(), response.body().size(), keep_alive_, client_version_, extra_head_);
    std::array<net::const_buffer, 2> buffers{net::buffer(head_), net::buffer(response.body())};
    boost::system::error_code ec;
    if (!WriteNow(buffers, ec)) ec = co_await WriteRest();
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
  ConnectionEntry& connection_;
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
  std::vector<net::const_buffer> rest_;  // what WriteNow left for WriteRest

  // Writes all of `buffers` within the write timeout. Most responses fit the socket's send
  // buffer, so the (non-blocking) socket is written at once first (no asynchronous operation,
  // no coroutine frame, no trip through the event loop); only what it did not take is written
  // asynchronously, by WriteRest.
  template <typename Buffers>
  bool WriteNow(const Buffers& buffers, boost::system::error_code& ec) {
    size_t written = connection_.socket.write_some(buffers, ec);
    if (ec == net::error::would_block || ec == net::error::try_again) ec = {};
    if (ec || written == net::buffer_size(buffers)) return true;
    rest_.clear();
    for (net::const_buffer b : buffers) {
      const size_t skip = std::min(written, b.size());
      written -= skip;
      if (b.size() > skip) rest_.push_back(b + skip);
    }
    return false;
  }

  net::awaitable<boost::system::error_code> WriteRest() {
    connection_.Arm(write_timeout_);
    auto [ec, n] = co_await net::async_write(connection_.socket, rest_, kUse);
    connection_.Disarm();
    co_return ec;
  }

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
    boost::system::error_code ec;
    if (!WriteNow(std::span(buffers.data(), n), ec)) ec = co_await WriteRest();
    head_pending_ = false;
    if (ec) failed_ = true;
    if (last && !ec) completed_ = true;
    co_return !ec;
  }
};

}  // namespace

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

namespace {
// A few sweeps per shortest timeout (so a timeout fires at most ~1/8 late), 5–250 ms apart; at
// least one per load sample when connections are placed (the sweep takes the samples).
std::chrono::milliseconds SweepInterval(const ServerOptions& o) {
  auto interval = std::min({o.read_timeout, o.idle_timeout, o.write_timeout}) / 8;
  if (o.placement.pack && o.threads > 1) interval = std::min(interval, o.placement.sample_interval);
  return std::clamp(interval, std::chrono::milliseconds(5), std::chrono::milliseconds(250));
}
}  // namespace

Server::Server(ServerOptions options, std::shared_ptr<Handler> handler)
    : options_(std::move(options)), handler_(std::move(handler)) {}

Server::~Server() {
  if (!threads_.empty() && !stopped_) Shutdown(std::chrono::milliseconds(0));
  // The io_contexts go first: a connection still on its way to a worker is closed (and
  // uncounted) while the counters are alive.
  workers_.clear();
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
    w->index = i;
    w->clock.interval = SweepInterval(options_);
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
    threads_.emplace_back([w = w.get()] {
      base::NameThisThread("ap-http-" + std::to_string(w->index));
      w->ioc.run();
    });
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
    ++open_connections_;
    if (PackingOn()) {
      int to = PlaceNew();
      if (to != worker.index && HandOff(to, socket, {})) continue;
    }
    net::co_spawn(worker.ioc, ServeConnection(worker, std::move(socket), {}), net::detached);
  }
}

bool Server::PackingOn() const {
  return options_.placement.pack && workers_.size() > 1 && workers_.size() <= kMaxPlacedWorkers;
}

std::span<const WorkerLoad> Server::Loads(std::span<WorkerLoad> out) const {
  size_t n = std::min(out.size(), workers_.size());
  for (size_t i = 0; i < n; ++i)
    out[i] = {workers_[i]->busy.load(std::memory_order_relaxed),
              workers_[i]->connections_held.load(std::memory_order_relaxed)};
  return out.first(n);
}

std::vector<WorkerLoad> Server::worker_loads() const {
  std::vector<WorkerLoad> out(workers_.size());
  Loads(out);
  return out;
}

int Server::PlaceNew() const {
  std::array<WorkerLoad, kMaxPlacedWorkers> loads;
  return PlaceNewConnection(options_.placement, Loads(loads));
}

bool Server::HandOff(int to, tcp::socket& socket, std::string pending) {
  boost::system::error_code ec;
  tcp::endpoint local = socket.local_endpoint(ec);
  if (ec) return false;
  int fd = socket.release(ec);
  if (ec) return false;
  Worker& target = *workers_[static_cast<size_t>(to)];
  net::post(target.ioc, [this, &target, moved = MovedSocket(fd, local.protocol(), open_connections_),
                         pending = std::move(pending)]() mutable {
    tcp::socket s(target.ioc);
    boost::system::error_code aec;
    s.assign(moved.protocol, moved.fd, aec);
    if (aec) return;  // `moved` closes it
    moved.fd = -1;
    net::co_spawn(target.ioc, ServeConnection(target, std::move(s), std::move(pending)), net::detached);
  });
  return true;
}

base::CpuSet Server::LoopCpus() const {
  base::CpuSet cpus;
  for (const auto& w : workers_) {
    const int cpu = w->cpu.load(std::memory_order_relaxed);
    if (cpu >= 0 && cpu < base::kMaxCpus) cpus.set(cpu);
  }
  return cpus;
}

void Server::SampleLoad(Worker& worker) {
  double sample = worker.busy_sampler.Sample();
  double idle = worker.idle_sampler.Sample();
  worker.busy.store(0.5 * worker.busy.load(std::memory_order_relaxed) + 0.5 * sample, std::memory_order_relaxed);
  std::array<WorkerLoad, kMaxPlacedWorkers> loads;
  auto plan = PlanMoves(options_.placement, Loads(loads), worker.index, idle);
  worker.moves = plan.value_or(Move{});
}

net::awaitable<void> Server::ServeConnection(Worker& worker, tcp::socket socket, std::string pending) {
  boost::system::error_code peer_ec;
  socket.non_blocking(true, peer_ec);  // ConnectionResponder::Write tries a write at once
  tcp::endpoint peer = socket.remote_endpoint(peer_ec);
  ConnectionEntry connection(socket, worker.clock);
  worker.connections.push_back(connection);
  worker.connections_held.fetch_add(1, std::memory_order_relaxed);
  if (!worker.sweeping) {
    worker.sweeping = true;
    worker.clock.now = Clock::now();
    worker.cpu.store(base::CurrentCpu(), std::memory_order_relaxed);
    net::co_spawn(worker.ioc, SweepDeadlines(worker), net::detached);
  }
  beast::flat_buffer buffer;
  buffer.reserve(std::max<size_t>(4096, pending.size()));  // a typical request in one read
  if (!pending.empty()) {
    net::buffer_copy(buffer.prepare(pending.size()), net::buffer(pending));
    buffer.commit(pending.size());
    std::string().swap(pending);
  }
  bool moved = false;
  HeadBuffers heads;
  Request request;  // reused by every request on this connection (its capacity stays)
  internal::RequestParser parser;
  while (true) {
    if (buffer.size() == 0) {  // idle between requests: the only state Shutdown may interrupt
      if (draining_) break;
      connection.idle = true;
      connection.Arm(options_.idle_timeout);
      auto [ec, n] = co_await socket.async_read_some(buffer.prepare(4096), kUse);
      connection.idle = false;
      connection.Disarm();
      if (ec) break;
      buffer.commit(n);
    }
    // The request is parsed straight from the connection's buffer; the socket is read only when
    // more bytes are needed. The read timeout runs from the first wait to the end of the
    // request; it cancels, not closes, the socket, so a slow client can still be told 408.
    parser.Reset(&request, options_.max_header_bytes, options_.max_body_bytes);
    connection.timed_out = false;
    bool waited = false, sent_continue = false;
    boost::system::error_code ec;
    while (true) {
      if (buffer.size() > 0) {
        const auto data = buffer.data();
        size_t used = parser.Put(std::string_view(static_cast<const char*>(data.data()), data.size()), ec);
        buffer.consume(used);
        if (ec == bhttp::error::need_more) ec = {};
        if (ec || parser.is_done()) break;
      }
      if (parser.is_header_done() && parser.expects_continue() && !sent_continue) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        connection.Arm(options_.write_timeout);
        co_await net::async_write(socket, net::buffer(kContinue), kUse);
        sent_continue = true;
        waited = false;  // the read timeout starts again for the body
      }
      if (!waited) {
        waited = true;
        connection.Arm(options_.read_timeout);
      }
      size_t want = parser.is_header_done() ? 64 * 1024 : 4096;
      auto [rec, rn] = co_await socket.async_read_some(buffer.prepare(want), kUse);
      if (rec) {
        ec = (rec == net::error::eof && parser.got_some()) ? bhttp::error::partial_message : rec;
        break;
      }
      buffer.commit(rn);
    }
    connection.Disarm();
    if (ec) {
      Status status;
      std::string message;
      if (connection.timed_out) {
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
      ConnectionResponder r(connection, peer, false, 11, options_.write_timeout, heads);
      Response error = handler_->ProtocolError(status, message);
      co_await r.Send(std::move(error));
      break;
    }
    bool keep_alive = request.keep_alive() && !draining_;
    ConnectionResponder responder(connection, peer, keep_alive, request.version(), options_.write_timeout, heads);
    ++active_requests_;
    co_await handler_->Handle(request, responder);
    --active_requests_;
    if (!responder.started()) {
      Response error = handler_->ProtocolError(Status::internal_server_error, "the handler produced no response");
      co_await responder.Send(std::move(error));
    }
    if (!responder.keep_alive() || draining_) break;
    if (worker.moves.count > 0) {  // between requests: this connection may live on elsewhere
      --worker.moves.count;
      const auto data = buffer.data();
      std::string rest(static_cast<const char*>(data.data()), data.size());
      if (HandOff(worker.moves.to, socket, std::move(rest))) {
        ++connections_moved_;
        moved = true;
        break;
      }
    }
  }
  worker.connections.erase(worker.connections.iterator_to(connection));
  worker.connections_held.fetch_sub(1, std::memory_order_relaxed);
  if (moved) co_return;
  boost::system::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  socket.close(ignored);
  --open_connections_;
}

net::awaitable<void> Server::SweepDeadlines(Worker& worker) {
  while (!worker.connections.empty()) {
    worker.sweep_timer.expires_after(worker.clock.interval);
    auto [ec] = co_await worker.sweep_timer.async_wait(kUse);
    if (ec) break;
    worker.clock.now = Clock::now();
    worker.cpu.store(base::CurrentCpu(), std::memory_order_relaxed);
    if (PackingOn() && worker.clock.now >= worker.next_sample) {
      worker.next_sample = worker.clock.now + options_.placement.sample_interval;
      SampleLoad(worker);
    }
    for (auto& c : worker.connections) {
      if (c.deadline > worker.clock.now) continue;
      c.Disarm();
      c.timed_out = true;
      boost::system::error_code ignored;
      c.socket.cancel(ignored);
    }
  }
  worker.sweeping = false;
  worker.busy.store(0, std::memory_order_relaxed);  // no connections: no load
  worker.cpu.store(-1, std::memory_order_relaxed);
  worker.moves = {};
}

void Server::Shutdown(std::chrono::milliseconds drain) {
  if (stopped_.exchange(true)) return;
  draining_ = true;
  for (auto& w : workers_) {
    net::post(w->ioc, [w = w.get()] {
      boost::system::error_code ec;
      w->acceptor->close(ec);
      for (auto& c : w->connections)
        if (c.idle) c.socket.cancel(ec);
    });
  }
  auto deadline = std::chrono::steady_clock::now() + drain;
  while (open_connections_ > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  for (auto& w : workers_) w->ioc.stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  for (auto& w : workers_) w->cpu.store(-1, std::memory_order_relaxed);  // stopped mid-sweep: no loops
}

void Server::Wait() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

}  // namespace ap::http
