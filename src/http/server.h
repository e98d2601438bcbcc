// http/server.h — the HTTP/1.1 keep-alive server every agentplane listener runs on.
//
// One io_context and one thread per worker; every worker accepts on the same port through
// SO_REUSEPORT. A connection is served on one thread at a time, so per-thread state needs no
// locks; between two requests it may move to another worker (http/placement.h: connections are
// packed onto the fewest loops that keep up). Each connection is one C++20 coroutine: read a request (header and body limits, an idle
// timeout between requests and a read timeout for the request itself), hand it to the Handler,
// loop. The Handler answers through a Responder, whole or as a chunked stream.
//
// Timeouts cost no timer per operation: a connection notes the deadline of the read or write it
// waits on, and each worker sweeps its connections a few times per shortest timeout, cancelling
// the operations past their deadline (so a timeout fires up to one sweep interval late).
//
// It knows HTTP, not OpenAI: protocol errors (413, 431, 408, 400) are rendered by the Handler so
// that each API keeps its own error shape. Shutdown() stops accepting, closes idle keep-alive
// connections and lets in-flight exchanges finish until the drain timeout.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "base/thread.h"
#include "http/placement.h"
#include "http/request.h"

namespace ap::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using Response = bhttp::response<bhttp::string_body>;
using Status = bhttp::status;

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port (see Server::port())
  int threads = 1;
  uint64_t max_body_bytes = 32ull << 20;
  uint64_t max_header_bytes = 64ull << 10;
  std::chrono::milliseconds read_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds write_timeout{60'000};
  // Which worker each connection lives on (http/placement.h): packed by default.
  PlacementPolicy placement;
};

// How a handler answers one request. Every method is called on the connection's own thread.
class Responder {
 public:
  virtual ~Responder() = default;
  // Sends a whole response. Returns false when the client is gone.
  virtual net::awaitable<bool> Send(Response response) = 0;
  // Starts a chunked response; then SendChunk… and EndStream. The head may be held back and sent
  // with the first chunk (one write instead of two): callers start a stream when they have data.
  virtual net::awaitable<bool> StartStream(bhttp::response_header<> header) = 0;
  virtual net::awaitable<bool> SendChunk(std::string_view data) = 0;
  // The last chunk and the end of the stream in one write, with `trailer` fields after it
  // ("name: value\r\n" lines, announced in the head's Trailer header; may be empty).
  virtual net::awaitable<bool> SendFinalChunk(std::string_view data, std::string_view trailer) = 0;
  virtual net::awaitable<bool> EndStream() = 0;
  // Header lines ("name: value\r\n" each, valid as they are) for the next head this responder
  // writes, after the response's own fields: computed headers without a Beast field each.
  virtual void AddHeadLines(std::string_view lines) = 0;
  // True once any byte of the response has been written.
  virtual bool started() const = 0;
  // The peer address, for logs and loopback checks.
  virtual const tcp::endpoint& peer() const = 0;
};

class Handler {
 public:
  virtual ~Handler() = default;
  virtual net::awaitable<void> Handle(Request& request, Responder& responder) = 0;
  // The response for a request that could not be read: 400, 408, 413 or 431.
  virtual Response ProtocolError(Status status, std::string_view message) = 0;
};

class Server {
 public:
  Server(ServerOptions options, std::shared_ptr<Handler> handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts the worker threads; returns false (and logs) when the port cannot be bound.
  bool Start();
  uint16_t port() const { return port_; }
  // Stops accepting, closes idle connections, waits up to `drain` for in-flight ones, then stops.
  void Shutdown(std::chrono::milliseconds drain);
  // Connections currently open, over all workers.
  int64_t open_connections() const { return open_connections_.load(); }
  int64_t active_requests() const { return active_requests_.load(); }
  // Each worker's load as placement sees it (busy share and connections held).
  std::vector<WorkerLoad> worker_loads() const;
  // The CPUs the workers holding connections ran on at their last deadline sweep (a few times a
  // second): where the event loops that serve traffic live, for background threads (the
  // telemetry writer) to stay off. Empty when no worker holds a connection.
  base::CpuSet LoopCpus() const;
  // Connections moved to another worker between two of their requests (placement), ever.
  int64_t connections_moved() const { return connections_moved_.load(); }
  // Blocks until Shutdown() has finished.
  void Wait();

 private:
  struct Worker;
  struct MovedSocket;
  static constexpr size_t kMaxPlacedWorkers = 256;  // more workers than this: the kernel's hash only
  bool PackingOn() const;
  int PlaceNew() const;  // the worker a new connection should live on
  // Every worker's load, into `out` (one per worker, up to out.size()).
  std::span<const WorkerLoad> Loads(std::span<WorkerLoad> out) const;
  net::awaitable<void> AcceptLoop(Worker& worker);
  // Serves one connection on `worker`; `pending` holds bytes already read from it (a connection
  // moved from another worker between requests).
  net::awaitable<void> ServeConnection(Worker& worker, tcp::socket socket, std::string pending);
  // Hands a connection (and bytes already read from it) to worker `to`. False when the socket
  // could not be detached (it stays with the caller).
  bool HandOff(int to, tcp::socket& socket, std::string pending);
  // Samples the worker's load and plans which connections it should move (its own thread).
  void SampleLoad(Worker& worker);
  // Cancels the operations of `worker`'s connections that are past their deadline, every
  // sweep interval while it has connections.
  net::awaitable<void> SweepDeadlines(Worker& worker);

  ServerOptions options_;
  std::shared_ptr<Handler> handler_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  std::atomic<bool> draining_{false};
  std::atomic<int64_t> open_connections_{0};
  std::atomic<int64_t> active_requests_{0};
  std::atomic<int64_t> connections_moved_{0};
  std::atomic<bool> stopped_{false};
};

// True for 127.0.0.0/8 and ::1 (and IPv4-mapped loopback).
bool IsLoopback(const tcp::endpoint& endpoint);

// Local mode (`agentplane up`) lets loopback clients in without a key. A browser on this machine
// is a loopback client too, so a keyless request must also name a loopback host (no DNS
// rebinding: Host evil.example resolving to 127.0.0.1) and must not come from another site (no
// cross-site form or fetch POSTs: Origin, Sec-Fetch-Site). True when all of that holds.
bool TrustedLocalRequest(const Request& request, const tcp::endpoint& peer);

}  // namespace ap::http
