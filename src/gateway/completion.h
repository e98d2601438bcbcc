// gateway/completion.h — the one record every gateway request ends in.
//
// Built on the request's coroutine and handed to a CompletionSink when the exchange is over
// (after the last byte went to the client). Sinks must not block: the access log writes one
// line; the telemetry store (a later module) queues the record for its writer thread.
#pragma once

#include <chrono>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "api/openai.h"

namespace ap::gateway {

struct CompletionRecord {
  std::string request_id;
  std::string method;
  std::string path;
  std::string route;          // route or "model:<name>"; empty when nothing matched
  std::string model;          // the public model the client asked for
  std::string backend;        // the backend that answered (the last one tried)
  std::string backend_model;  // the model name sent upstream
  std::string user;           // the body's `user`, else the x-user-id header
  std::string session_id;     // x-session-id
  std::string team;           // the authenticated team (limits module), if any
  std::string key_id;         // "key-" + 12 hex of SHA-256 of the client's key; never the key
  std::string project;        // telemetry tenant ("team:ml", "key:key-…"); empty: the default project
  std::string trace_id;       // 32 hex: from W3C traceparent or x-trace-id, else minted
  bool trace_minted = false;  // trace_id was minted for this request: no other record has it
  std::string parent_span_id; // 16 hex: the caller's span from traceparent, if any
  std::string span_id;        // 16 hex: this request's own span
  std::vector<std::string> tags;  // x-tags: comma-separated
  std::string scheduler_pick; // why the scheduler chose the backend (when it explains itself)
  // Payloads, captured only when GatewayOptions::capture_bytes > 0, each cut at that many bytes:
  // the request body as sent by the client, and the response body (for streams, the `data:`
  // payloads joined by '\n').
  std::string request_body;
  std::string response_body;
  bool payload_truncated = false;
  int status = 0;             // what the client got (499: the client went away first)
  bool stream = false;
  int attempts = 0;           // upstream attempts over all backends
  std::string error;          // short reason when not 2xx
  std::chrono::system_clock::time_point start;
  std::chrono::microseconds first_byte{-1};  // to the first byte sent to the client
  std::chrono::microseconds duration{0};
  api::Usage usage;
  // The price the client was told (x-agentplane-cost-usd), once the proxy priced the reply;
  // settlement reuses it instead of pricing the request a second time.
  std::optional<double> cost_usd;
};

class CompletionSink {
 public:
  virtual ~CompletionSink() = default;
  virtual void Record(const CompletionRecord& record) = 0;
};

// Fans a record out to several sinks.
class MultiSink : public CompletionSink {
 public:
  void Add(std::shared_ptr<CompletionSink> sink) { sinks_.push_back(std::move(sink)); }
  void Record(const CompletionRecord& record) override {
    for (auto& s : sinks_) s->Record(record);
  }

 private:
  std::vector<std::shared_ptr<CompletionSink>> sinks_;
};

}  // namespace ap::gateway
