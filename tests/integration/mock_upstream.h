// tests/integration/mock_upstream.h — a programmable OpenAI-like upstream for gateway tests.
//
// Runs on ap::http::Server on 127.0.0.1:0. Each request is answered by `script(call_index)`,
// which says what to do: a JSON answer with a status and headers, a delay before answering, an
// SSE stream (optionally cut short), or closing the connection. Every request received is kept
// for assertions (unless `keep_received` is false: benchmarks, where the list would grow by
// every request and its copying and reallocation would show in their profiles), and a stream
// whose client went away is counted in `cancelled_streams`.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "http/server.h"

namespace ap::testing {

struct MockAction {
  int status = 200;
  std::string body;  // empty: a chat.completion with usage
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds delay{0};  // before the response header
  bool stream = false;                 // answer as SSE (chunks below)
  int chunks = 3;
  std::chrono::milliseconds chunk_interval{5};
  int drop_after = -1;  // close the connection after this many chunks
};

struct ReceivedRequest {
  std::string target;
  std::string body;
  std::map<std::string, std::string> headers;
};

class MockUpstream {
 public:
  explicit MockUpstream(bool keep_received = true);
  ~MockUpstream();
  uint16_t port() const { return server_->port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()) + "/v1"; }

  void SetScript(std::function<MockAction(int call)> script);
  std::vector<ReceivedRequest> received();
  int calls() const { return calls_.load(); }
  std::atomic<int> cancelled_streams{0};
  std::atomic<int> finished_streams{0};

 private:
  class Handler;
  friend class Handler;
  std::mutex mu_;
  std::function<MockAction(int)> script_;
  std::vector<ReceivedRequest> received_;
  std::atomic<int> calls_{0};
  const bool keep_received_;
  std::unique_ptr<http::Server> server_;
};

}  // namespace ap::testing
