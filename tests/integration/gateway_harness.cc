// tests/integration/gateway_harness.cc
#include "gateway_harness.h"

#include <atomic>

#include <gtest/gtest.h>

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "http/sse.h"

namespace ap::testing {
namespace net = boost::asio;
namespace bhttp = boost::beast::http;

TestGateway::TestGateway(const std::string& yaml, int threads, gateway::GatewayOptions options) {
  auto cfg = config::ParseConfig(yaml, "test.yaml");
  if (!cfg) {
    ADD_FAILURE() << cfg.error().ToString();
    return;
  }
  config = *cfg;
  auto table = gateway::RouteTable::Build(config, nullptr, options.pickers.get());
  if (!table) {
    ADD_FAILURE() << table.error();
    return;
  }
  gw = std::make_shared<gateway::Gateway>(*table, sink, options);
  http::ServerOptions o;
  o.threads = threads;
  o.max_body_bytes = config.server.max_body_bytes;
  o.max_header_bytes = config.server.max_header_bytes;
  o.read_timeout = config.server.read_timeout;
  o.idle_timeout = config.server.idle_timeout;
  server = std::make_unique<http::Server>(o, gw);
  EXPECT_TRUE(server->Start());
}

TestGateway::~TestGateway() {
  if (server) server->Shutdown(std::chrono::milliseconds(200));
}

TestClient::TestClient(uint16_t port) : stream_(ioc_) {
  stream_.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
}

Reply TestClient::Send(bhttp::verb verb, const std::string& target, const std::string& body,
                       const std::vector<std::pair<std::string, std::string>>& headers) {
  bhttp::request<bhttp::string_body> req{verb, target, 11};
  req.set(bhttp::field::host, "127.0.0.1");
  if (verb == bhttp::verb::post) req.set(bhttp::field::content_type, "application/json");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  bhttp::write(stream_, req);
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 << 20);
  boost::system::error_code ec;
  bhttp::read(stream_, buffer_, parser, ec);
  Reply r;
  if (ec && !parser.is_header_done()) {
    r.status = -1;
    r.body = ec.message();
    return r;
  }
  r.status = parser.get().result_int();
  for (const auto& f : parser.get()) r.headers[std::string(f.name_string())] = std::string(f.value());
  r.body = parser.get().body();
  return r;
}

Reply TestClient::Post(const std::string& target, const std::string& body,
                       const std::vector<std::pair<std::string, std::string>>& headers) {
  return Send(bhttp::verb::post, target, body, headers);
}

Reply TestClient::Get(const std::string& target, const std::vector<std::pair<std::string, std::string>>& headers) {
  return Send(bhttp::verb::get, target, "", headers);
}

Reply TestClient::PostAndReadFirstBytes(const std::string& target, const std::string& body) {
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, target, 11};
  req.set(bhttp::field::host, "127.0.0.1");
  req.set(bhttp::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  bhttp::write(stream_, req);
  bhttp::response_parser<bhttp::buffer_body> parser;
  bhttp::read_header(stream_, buffer_, parser);
  Reply r;
  r.status = parser.get().result_int();
  char buf[4096];
  while (r.body.empty() && !parser.is_done()) {
    parser.get().body().data = buf;
    parser.get().body().size = sizeof buf;
    boost::system::error_code ec;
    bhttp::read_some(stream_, buffer_, parser, ec);
    if (ec && ec != bhttp::error::need_buffer) break;
    r.body.append(buf, sizeof buf - parser.get().body().size);
  }
  return r;
}

void TestClient::Close() {
  boost::system::error_code ec;
  stream_.socket().close(ec);
}

std::vector<std::string> SseData(const std::string& body) {
  std::vector<std::string> out;
  http::SseSplitter s;
  s.Feed(body, [&](const http::SseEvent& e) { out.emplace_back(e.data); });
  return out;
}

LoadResult RunClosedLoop(uint16_t port, int clients, double seconds, const std::string& target, const std::string& body,
                         const std::vector<std::pair<std::string, std::string>>& headers) {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> ok{0}, other{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&] {
      TestClient client(port);
      while (!stop) (client.Post(target, body, headers).status == 200 ? ok : other)++;
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  return {ok.load(), other.load()};
}

}  // namespace ap::testing
