// sim/internal/replica.h — one simulated replica's HTTP handler: the OpenAI/vLLM routes, the
// engine it feeds, and the step loop that drives that engine in real time.
//
// Everything here runs on the replica server's single event-loop thread: the engine, the map of
// waiting streams and the LoRA table are plain members, never locked. A stream is a coroutine
// parked on its own steady_timer; the step loop cancels that timer to wake it when its request
// got tokens. No request path throws: JSON is parsed with error codes and every failure becomes
// an OpenAI-shaped error body through Error().
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/value.hpp>

#include "http/server.h"
#include "sim/engine.h"
#include "sim/sim.h"
#include "sim/tokenizer.h"

namespace ap::sim::internal {

namespace net = boost::asio;
namespace json = boost::json;

// What a parked stream learns from the step loop.
struct Waiter {
  net::steady_timer* timer = nullptr;
  int64_t tokens = 0;
  bool finished = false;
  int64_t cached_tokens = 0;
};

// A generation request, parsed and planned: prompt ids, the output pieces, the finish reason.
struct Plan {
  bool chat = true;
  bool stream = false;
  bool include_usage = false;
  std::string model;  // as requested (base name or adapter)
  std::string lora;
  std::vector<uint32_t> prompt;
  std::string output_text;      // content text or tool-call arguments
  std::vector<Piece> pieces;    // into output_text, already cut to max_tokens
  std::string finish_reason;    // "stop", "length" or "tool_calls"
  bool tool_call = false;
  std::string tool_id, tool_name;
};

class ReplicaHandler final : public http::Handler {
 public:
  ReplicaHandler(SimOptions options, EngineConfig config, int index);
  ~ReplicaHandler() override;

  net::awaitable<void> Handle(http::Request& request, http::Responder& responder) override;
  http::Response ProtocolError(http::Status status, std::string_view message) override;

 private:
  // Routes (replica.cc). Dispatch answers everything that needs no waiting; `route` says when
  // the request is a generation or embedding call instead.
  enum class Route { kWhole, kChat, kCompletion, kEmbeddings };
  http::Response Dispatch(http::Request& request, Route* route, json::value* body);
  http::Response Models() const;
  http::Response Metrics();
  http::Response LoadLora(const json::value& body);
  http::Response UnloadLora(const json::value& body);
  http::Response EmbeddingsResponse(const json::value& body, double* delay);
  // Generation (generate.cc).
  net::awaitable<void> Generate(const json::value& body, bool chat, http::Responder& responder);
  bool MakePlan(const json::value& body, bool chat, Plan* plan, http::Response* error);
  net::awaitable<void> Stream(Plan& plan, uint64_t id, Waiter& waiter, bool drop,
                              http::Responder& responder);
  http::Response Whole(const Plan& plan, const Waiter& waiter);

  // The step loop (replica.cc).
  void Kick();
  net::awaitable<void> StepLoop();
  double Now() const;
  net::awaitable<void> Sleep(double real_seconds);

  bool ServesModel(std::string_view name, std::string* lora) const;

  SimOptions options_;
  Engine engine_;
  int index_;
  std::string hostname_;
  std::chrono::steady_clock::time_point start_;
  SeededRandom faults_;
  net::any_io_executor executor_;
  bool loop_running_ = false;
  bool loop_idle_ = false;
  net::steady_timer* loop_timer_ = nullptr;
  std::unordered_map<uint64_t, Waiter*> waiters_;
  std::vector<TokenEvent> events_;
  std::map<std::string, std::string> loras_;  // name → path
  double last_scrape_time_ = 0, last_scrape_busy_ = 0, last_util_ = 0;
};

// An OpenAI error response: {"error":{"message","type","param","code"}}.
http::Response Error(http::Status status, std::string_view message,
                     std::string_view type = "invalid_request_error",
                     std::string_view code = "");
http::Response JsonResponse(http::Status status, const json::value& body);
// `s` as a JSON string literal, quotes included.
void AppendJsonString(std::string& out, std::string_view s);

}  // namespace ap::sim::internal
