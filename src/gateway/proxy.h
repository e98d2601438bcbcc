// gateway/proxy.h — one inference request through the backends: pick, attempt, retry, fall back,
// relay (whole or as an SSE stream), and fill in the completion record.
//
// Order of work: the target's weighted group first, then each fallback group; within a group a
// backend is tried at most once per request (its own retries aside), skipping backends whose
// circuit breaker is open. Retries and fallbacks happen only while nothing has reached the client.
#pragma once

#include <functional>
#include <optional>

#include <boost/asio/awaitable.hpp>

#include "api/openai.h"
#include "gateway/admission.h"
#include "gateway/completion.h"
#include "gateway/route_table.h"
#include "http/server.h"

namespace ap::gateway {

struct ProxyRequest {
  const Target* target;
  const api::InferenceRequest* body;
  const http::Request* incoming;
  std::string upstream_path;      // appended to the backend's base path, e.g. "/chat/completions"
  bool forward_client_auth;       // pass the client's Authorization on (no gateway keys configured)
  uint64_t max_response_bytes;
  uint64_t capture_bytes = 0;     // copy payloads into the record up to this size; 0: off
  // Sets x-agentplane-cost-usd on non-streaming replies (GatewayOptions::cost_estimator).
  const std::function<std::optional<double>(const CompletionRecord&)>* cost_estimator = nullptr;
  // Added to the client's reply (the admitter's x-ratelimit-* headers).
  const ResponseHeaders* extra_headers = nullptr;
};

boost::asio::awaitable<void> ProxyInference(const ProxyRequest& request, http::Responder& responder,
                                            CompletionRecord& record);

// GET <base>/models on a backend of `group`, relayed as is (quick-start mode's /v1/models).
boost::asio::awaitable<void> ForwardModels(const BackendGroup& group, const http::Request& incoming,
                                           bool forward_client_auth, http::Responder& responder,
                                           CompletionRecord& record);

// Sends `error` as an OpenAI error response (with `headers`) and records it.
boost::asio::awaitable<void> SendApiError(http::Responder& responder, CompletionRecord& record,
                                          const api::ApiError& error,
                                          const ResponseHeaders& headers);
// The same without extra headers. (No default argument: GCC 12 mishandles temporaries in
// co_await'ed calls.)
boost::asio::awaitable<void> SendApiError(http::Responder& responder, CompletionRecord& record,
                                          const api::ApiError& error);

}  // namespace ap::gateway
