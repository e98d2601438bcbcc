// The upstream client against scripted raw sockets: its deadlines (connect with the TLS
// handshake, first byte, total; one timer per connection that closes the socket), the timer
// left behind by none of them, and the pool slots endpoints carry.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/time.h>

#include <functional>
#include <future>
#include <thread>

#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "http/client.h"
#include "http/test_await.h"

namespace ap::http {
namespace {
using namespace std::chrono_literals;

// One connection on loopback, served by `script` on its own thread (blocking socket calls; a
// read gives up after 5 s so a client that never closes cannot hang the test).
class ScriptedServer {
 public:
  explicit ScriptedServer(std::function<void(tcp::socket&)> script)
      : acceptor_(ioc_, tcp::endpoint(net::ip::address_v4::loopback(), 0)) {
    thread_ = std::thread([this, script = std::move(script)] {
      tcp::socket s(ioc_);
      error_code ec;
      acceptor_.accept(s, ec);
      if (ec) return;
      timeval tv{5, 0};
      ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      script(s);
    });
  }
  ~ScriptedServer() { thread_.join(); }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }

  // Reads the request head (the requests here have no body).
  static void ReadRequest(tcp::socket& s) {
    net::streambuf buf;
    error_code ec;
    net::read_until(s, buf, "\r\n\r\n", ec);
  }
  // Waits until the client closes the connection.
  static void UntilClosed(tcp::socket& s) {
    char byte[256];
    error_code ec;
    while (!ec) s.read_some(net::buffer(byte), ec);
  }
  static void Send(tcp::socket& s, std::string_view bytes) {
    error_code ec;
    net::write(s, net::buffer(bytes), ec);
  }

 private:
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

Endpoint PlainEndpoint(uint16_t port) {
  Endpoint ep;
  ep.host = "127.0.0.1";
  ep.port = port;
  ep.key = "http://127.0.0.1:" + std::to_string(port);
  return ep;
}

constexpr std::string_view kGet = "GET /x HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";

struct ClientTest : ::testing::Test {
  void TearDown() override { ConnectionPool::Local().Clear(); }
  // Start() alone: its result, and the error detail in `detail`.
  ExchangeError StartOnly(const Endpoint& ep, ExchangeTimeouts timeouts, std::string* detail) {
    return Await(ioc, [&]() -> net::awaitable<ExchangeError> {
      Exchange ex(ep, timeouts);
      auto e = co_await ex.Start(kGet, {});
      *detail = ex.error_detail();
      co_return e;
    }());
  }
  net::io_context ioc;
};

TEST_F(ClientTest, AnUpstreamThatNeverAnswersTimesOutAtTheFirstByte) {
  ScriptedServer server([](tcp::socket& s) {
    ScriptedServer::ReadRequest(s);
    ScriptedServer::UntilClosed(s);
  });
  Endpoint ep = PlainEndpoint(server.port());
  std::string detail;
  auto e = StartOnly(ep, ExchangeTimeouts{1s, 100ms, 10s}, &detail);
  EXPECT_EQ(e, ExchangeError::kFirstByteTimeout);
  EXPECT_NE(detail.find("timed out"), std::string::npos) << detail;
  EXPECT_EQ(ConnectionPool::Local().idle_count(), 0u);
}

TEST_F(ClientTest, ABodyThatStallsTimesOutAtTheTotalDeadlineAfterWhatArrived) {
  ScriptedServer server([](tcp::socket& s) {
    ScriptedServer::ReadRequest(s);
    ScriptedServer::Send(s, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc");
    ScriptedServer::UntilClosed(s);
  });
  Endpoint ep = PlainEndpoint(server.port());
  std::vector<std::string> pieces;
  auto e = Await(ioc, [&]() -> net::awaitable<ExchangeError> {
    Exchange ex(ep, ExchangeTimeouts{1s, 5s, 200ms});
    if (auto e = co_await ex.Start(kGet, {}); e != ExchangeError::kNone) co_return e;
    while (true) {
      std::string piece;
      auto e = co_await ex.ReadSome(piece);
      if (e != ExchangeError::kNone || piece.empty()) co_return e;
      pieces.push_back(piece);
    }
  }());
  EXPECT_EQ(e, ExchangeError::kTotalTimeout);
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_EQ(pieces[0], "abc");
}

TEST_F(ClientTest, ReadAllStopsAtTheTotalDeadline) {
  ScriptedServer server([](tcp::socket& s) {
    ScriptedServer::ReadRequest(s);
    ScriptedServer::Send(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
    ScriptedServer::UntilClosed(s);
  });
  Endpoint ep = PlainEndpoint(server.port());
  auto e = Await(ioc, [&]() -> net::awaitable<ExchangeError> {
    Exchange ex(ep, ExchangeTimeouts{1s, 5s, 200ms});
    if (auto e = co_await ex.Start(kGet, {}); e != ExchangeError::kNone) co_return e;
    std::string body;
    co_return co_await ex.ReadAll(body, 1 << 20);
  }());
  EXPECT_EQ(e, ExchangeError::kTotalTimeout);
}

// The timer closes the socket even when no read is pending: the next read fails at once, as a
// timeout, whatever arrived meanwhile.
TEST_F(ClientTest, ADeadlinePassingBetweenReadsFailsTheNextOne) {
  std::promise<void> late;
  ScriptedServer server([&](tcp::socket& s) {
    ScriptedServer::ReadRequest(s);
    ScriptedServer::Send(s, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc");
    late.get_future().wait();
    ScriptedServer::Send(s, "def");
    ScriptedServer::UntilClosed(s);
  });
  Endpoint ep = PlainEndpoint(server.port());
  std::string first;
  auto e = Await(ioc, [&]() -> net::awaitable<ExchangeError> {
    Exchange ex(ep, ExchangeTimeouts{1s, 5s, 150ms});
    if (auto e = co_await ex.Start(kGet, {}); e != ExchangeError::kNone) co_return e;
    if (auto e = co_await ex.ReadSome(first); e != ExchangeError::kNone) co_return e;
    net::steady_timer wait(co_await net::this_coro::executor, 400ms);
    co_await wait.async_wait(net::use_awaitable);
    late.set_value();
    std::string rest;
    co_return co_await ex.ReadSome(rest);
  }());
  EXPECT_EQ(first, "abc");
  EXPECT_EQ(e, ExchangeError::kTotalTimeout);
}

// The connect deadline covers the TLS handshake: a peer that takes the TCP connection but never
// answers the ClientHello fails the connect.
TEST_F(ClientTest, ATlsHandshakeThatNeverCompletesIsAConnectTimeout) {
  ScriptedServer server([](tcp::socket& s) { ScriptedServer::UntilClosed(s); });
  Endpoint ep = PlainEndpoint(server.port());
  ep.key = "https://127.0.0.1:" + std::to_string(server.port());
  std::string error;
  ep.tls = MakeClientTlsContext("", true, &error);
  ASSERT_TRUE(ep.tls) << error;
  std::string detail;
  auto e = StartOnly(ep, ExchangeTimeouts{150ms, 5s, 10s}, &detail);
  EXPECT_EQ(e, ExchangeError::kConnect);
  EXPECT_NE(detail.find("timed out"), std::string::npos) << detail;
}

// A connection back in the pool has no timer waiting: the event loop runs out of work (a
// worker's run() returns, the load generator's threads end).
TEST_F(ClientTest, APooledConnectionLeavesNoTimerWaiting) {
  ScriptedServer server([](tcp::socket& s) {
    for (int i = 0; i < 2; ++i) {
      ScriptedServer::ReadRequest(s);
      ScriptedServer::Send(s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }
    ScriptedServer::UntilClosed(s);
  });
  Endpoint ep = PlainEndpoint(server.port());
  auto call = [&]() -> net::awaitable<std::string> {
    Exchange ex(ep, ExchangeTimeouts{1s, 5s, 10s});
    if (co_await ex.Start(kGet, {}) != ExchangeError::kNone) co_return "start failed";
    std::string body;
    if (co_await ex.ReadAll(body, 1024) != ExchangeError::kNone) co_return "read failed";
    co_return body;
  };
  for (int i = 0; i < 2; ++i) {  // the second on the pooled connection
    EXPECT_EQ(Await(ioc, call()), "ok");
    ASSERT_EQ(ConnectionPool::Local().idle_count(), 1u);
    ioc.restart();
    ioc.poll();  // runs the cancelled wait's handler, if any; with no work left the loop stops
    EXPECT_TRUE(ioc.stopped());
  }
  ConnectionPool::Local().Clear();
}

TEST(PoolSlot, OnePerKeyFoundAgainByCopies) {
  Endpoint a, b, c;
  a.key = "http://slot-test-a:1";
  b.key = "http://slot-test-b:1";
  c.key = a.key;
  EXPECT_EQ(a.slot.Get(a.key), c.slot.Get(c.key));
  EXPECT_NE(a.slot.Get(a.key), b.slot.Get(b.key));
  Endpoint copy = a;  // its slot is looked up again: the copy's key may have been changed
  copy.key = b.key;
  EXPECT_EQ(copy.slot.Get(copy.key), b.slot.Get(b.key));
}

}  // namespace
}  // namespace ap::http
