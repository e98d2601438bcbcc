// The server and the pooled client against each other on loopback.
#include <gtest/gtest.h>

#include <thread>

#include <future>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/http/empty_body.hpp>

#include "http/client.h"
#include "http/test_await.h"
#include "http/server.h"

namespace ap::http {
namespace {

class EchoHandler : public Handler {
 public:
  net::awaitable<void> Handle(Request& req, Responder& res) override {
    if (req.target() == "/stream") {
      bhttp::response_header<> h;
      h.result(Status::ok);
      h.set(bhttp::field::content_type, "text/event-stream");
      co_await res.StartStream(std::move(h));
      for (int i = 0; i < 5; ++i) {
        std::string event = "data: " + std::to_string(i) + "\n\n";
        co_await res.SendChunk(event);
      }
      co_await res.EndStream();
      co_return;
    }
    Response r{Status::ok, 11};
    r.body() = "echo:" + req.body();
    co_await res.Send(std::move(r));
  }
  Response ProtocolError(Status s, std::string_view msg) override {
    Response r{s, 11};
    r.body() = std::string(msg);
    return r;
  }
};

struct Fixture : ::testing::Test {
  void SetUp() override {
    ServerOptions o;
    o.max_body_bytes = 1024;
    o.max_header_bytes = 2048;
    server = std::make_unique<Server>(o, std::make_shared<EchoHandler>());
    ASSERT_TRUE(server->Start());
    ep.host = "127.0.0.1";
    ep.port = server->port();
    ep.key = "http://127.0.0.1:" + std::to_string(ep.port);
  }
  void TearDown() override {
    ConnectionPool::Local().Clear();
    server->Shutdown(std::chrono::milliseconds(500));
  }
  net::awaitable<std::pair<int, std::string>> Call(std::string target, std::string body,
                                                   std::string extra_header = "") {
    Exchange ex(ep, ExchangeTimeouts{});
    bhttp::request<bhttp::string_body> req{bhttp::verb::post, target, 11};
    req.set(bhttp::field::host, "localhost");
    if (!extra_header.empty()) req.set("x-big", extra_header);
    req.body() = body;
    auto e = co_await ex.Start(req);
    if (e != ExchangeError::kNone) co_return std::pair{-1, std::string(ExchangeErrorName(e))};
    std::string out;
    e = co_await ex.ReadAll(out, 1 << 20);
    co_return std::pair{ex.status(), out};
  }
  std::unique_ptr<Server> server;
  Endpoint ep;
  net::io_context ioc;
};

TEST_F(Fixture, EchoAndKeepAliveReuse) {
  auto [s1, b1] = Await(ioc, Call("/x", "hello"));
  EXPECT_EQ(s1, 200);
  EXPECT_EQ(b1, "echo:hello");
  EXPECT_EQ(ConnectionPool::Local().idle_count(), 1u);
  auto [s2, b2] = Await(ioc, Call("/x", "again"));
  EXPECT_EQ(b2, "echo:again");
  EXPECT_EQ(ConnectionPool::Local().idle_count(), 1u);
  EXPECT_EQ(server->open_connections(), 1);
}

TEST_F(Fixture, ChunkedStreamIsReadIncrementally) {
  auto [s, b] = Await(ioc, Call("/stream", ""));
  EXPECT_EQ(s, 200);
  EXPECT_EQ(b, "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n");
}

TEST_F(Fixture, BodyOverLimitIs413) {
  auto [s, b] = Await(ioc, Call("/x", std::string(2000, 'a')));
  EXPECT_EQ(s, 413);
}

TEST_F(Fixture, HeadersOverLimitAre431) {
  auto [s, b] = Await(ioc, Call("/x", "", std::string(4000, 'h')));
  EXPECT_EQ(s, 431);
}

TEST_F(Fixture, ConnectErrorIsReported) {
  Endpoint bad{"127.0.0.1", 1, nullptr, "http://127.0.0.1:1", {}};
  auto r = Await(ioc, [&]() -> net::awaitable<ExchangeError> {
    Exchange ex(bad, ExchangeTimeouts{});
    bhttp::request<bhttp::string_body> req{bhttp::verb::get, "/", 11};
    co_return co_await ex.Start(req);
  }());
  EXPECT_EQ(r, ExchangeError::kConnect);
}

TEST_F(Fixture, StalePooledConnectionIsReplaced) {
  Await(ioc, Call("/x", "1"));
  ASSERT_EQ(ConnectionPool::Local().idle_count(), 1u);
  // Restart the server on the same port: the pooled connection is now dead.
  uint16_t port = server->port();
  server->Shutdown(std::chrono::milliseconds(200));
  ServerOptions o;
  o.port = port;
  server = std::make_unique<Server>(o, std::make_shared<EchoHandler>());
  ASSERT_TRUE(server->Start());
  auto [s, b] = Await(ioc, Call("/x", "2"));
  EXPECT_EQ(s, 200);
  EXPECT_EQ(b, "echo:2");
}

// Four pooled connections, all closed by a server restart.
void FillPoolThenRestart(Fixture& f) {
  Await(f.ioc, [&]() -> net::awaitable<void> {
    std::vector<std::unique_ptr<Exchange>> held;
    std::vector<bhttp::request<bhttp::string_body>> reqs(4, {bhttp::verb::post, "/x", 11});
    for (auto& req : reqs) {  // each holds its connection until read: four connections
      req.set(bhttp::field::host, "localhost");
      held.push_back(std::make_unique<Exchange>(f.ep, ExchangeTimeouts{}));
      EXPECT_EQ(co_await held.back()->Start(req), ExchangeError::kNone);
    }
    for (auto& ex : held) {
      std::string out;
      co_await ex->ReadAll(out, 1024);
    }
  }());
  ASSERT_EQ(ConnectionPool::Local().idle_count(), 4u);
  uint16_t port = f.server->port();
  f.server->Shutdown(std::chrono::milliseconds(200));
  ServerOptions o;
  o.port = port;
  f.server = std::make_unique<Server>(o, std::make_shared<EchoHandler>());
  ASSERT_TRUE(f.server->Start());
}

TEST_F(Fixture, AStaleConnectionIsRetriedOnAFreshOneNotAnotherPooledOne) {
  FillPoolThenRestart(*this);
  auto [s, b] = Await(ioc, Call("/x", "after"));  // at once: not rested long enough to be peeked
  EXPECT_EQ(s, 200) << b;
  EXPECT_EQ(b, "echo:after");
}

TEST_F(Fixture, ConnectionsThatRestedArePeekedForTheServersCloseBeforeReuse) {
  FillPoolThenRestart(*this);
  std::this_thread::sleep_for(ConnectionPool::kCheckAfterIdle + std::chrono::milliseconds(50));
  auto [s, b] = Await(ioc, Call("/x", "rested"));
  EXPECT_EQ(s, 200) << b;
  EXPECT_EQ(ConnectionPool::Local().idle_count(), 1u);  // the four closed ones were dropped
}

TEST(Loopback, Detects) {
  EXPECT_TRUE(IsLoopback(tcp::endpoint(net::ip::make_address("127.0.0.5"), 1)));
  EXPECT_TRUE(IsLoopback(tcp::endpoint(net::ip::make_address("::1"), 1)));
  EXPECT_TRUE(IsLoopback(tcp::endpoint(net::ip::make_address("::ffff:127.0.0.1"), 1)));
  EXPECT_FALSE(IsLoopback(tcp::endpoint(net::ip::make_address("10.1.2.3"), 1)));
}

}  // namespace
}  // namespace ap::http
