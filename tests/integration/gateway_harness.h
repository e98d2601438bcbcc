// tests/integration/gateway_harness.h — an in-process gateway on 127.0.0.1:0 plus a blocking
// test client, so integration tests read as request → response.
#pragma once

#include <map>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "config/config.h"
#include "gateway/gateway.h"
#include "http/server.h"

namespace ap::testing {

class CapturingSink : public gateway::CompletionSink {
 public:
  void Record(const gateway::CompletionRecord& r) override {
    std::lock_guard lock(mu_);
    records_.push_back(r);
  }
  // The records so far, after waiting up to 2 s for at least `at_least` of them: a record is
  // written just after the last byte goes out, so it may trail the client's read by a moment.
  std::vector<gateway::CompletionRecord> records(size_t at_least = 1) {
    for (int i = 0; i < 200; ++i) {
      {
        std::lock_guard lock(mu_);
        if (records_.size() >= at_least) return records_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::lock_guard lock(mu_);
    return records_;
  }

 private:
  std::mutex mu_;
  std::vector<gateway::CompletionRecord> records_;
};

struct TestGateway {
  // `yaml` may refer to environment variables set by the test (for example ${AP_UP1}).
  explicit TestGateway(const std::string& yaml, int threads = 2, gateway::GatewayOptions options = {});
  ~TestGateway();
  uint16_t port() const { return server->port(); }
  std::shared_ptr<CapturingSink> sink = std::make_shared<CapturingSink>();
  std::shared_ptr<gateway::Gateway> gw;
  std::unique_ptr<http::Server> server;
  config::Config config;
};

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
};

// A blocking HTTP/1.1 client with one keep-alive connection.
class TestClient {
 public:
  explicit TestClient(uint16_t port);
  Reply Post(const std::string& target, const std::string& body,
             const std::vector<std::pair<std::string, std::string>>& headers = {});
  Reply Get(const std::string& target, const std::vector<std::pair<std::string, std::string>>& headers = {});
  // Starts a request and returns after the response header and the first body bytes; the
  // caller may then Close() to disconnect mid-stream.
  Reply PostAndReadFirstBytes(const std::string& target, const std::string& body);
  void Close();

 private:
  Reply Send(boost::beast::http::verb verb, const std::string& target, const std::string& body,
             const std::vector<std::pair<std::string, std::string>>& headers);
  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
};

// Every `data:` payload of an SSE body.
std::vector<std::string> SseData(const std::string& body);

// Closed-loop load for benchmarks: `clients` keep-alive clients POST `body` to `target` on
// 127.0.0.1:`port` as fast as answers come back, for `seconds`.
struct LoadResult {
  int64_t ok = 0;     // 200s
  int64_t other = 0;  // anything else
};
LoadResult RunClosedLoop(uint16_t port, int clients, double seconds, const std::string& target, const std::string& body,
                         const std::vector<std::pair<std::string, std::string>>& headers = {});

}  // namespace ap::testing
