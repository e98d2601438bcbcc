// loadgen/runner.h — drives an OpenAI-compatible endpoint with a workload and records every
// request's timings.
//
// Each of `threads` event loops (one io_context per thread, its own ConnectionPool) runs either
// a Poisson dispatcher (exponential inter-arrival times at qps/threads, one coroutine spawned per
// request, the schedule kept even when a timer fires late) or `concurrency/threads` closed-loop
// workers (each sends its next request when the previous one ends). One coroutine per in-flight
// request: build the body, Exchange::Start, then read the SSE stream and time every content chunk.
// It never blocks a loop (no locks on the request path, atomics for the shared budget and
// progress) and never throws on the request path: a failed request is a record with an error kind.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <boost/system/result.hpp>

#include "loadgen/workload.h"

namespace ap::loadgen {

using std::chrono::milliseconds;

enum class Api { kChat, kCompletions };

struct RunOptions {
  std::string url;    // base URL, e.g. http://127.0.0.1:8080/v1 ("/v1" assumed when no path)
  std::string model;
  Api api = Api::kChat;
  bool stream = true;      // SSE with stream_options.include_usage
  bool ignore_eos = true;  // so the server emits exactly max_tokens tokens
  double qps = 0;          // > 0: Poisson arrivals at this rate
  int concurrency = 0;     // > 0 (and qps == 0): closed loop with this many in flight
  milliseconds duration{0};  // measured phase length (after warm-up); 0 with `requests`
  int64_t requests = 0;      // measured requests to send; 0 with `duration`
  milliseconds warmup{0};    // requests started in the first `warmup` are not recorded
  milliseconds connect_timeout{5'000};
  milliseconds timeout{600'000};  // per request, first byte and total
  std::string api_key;            // sent as `Authorization: Bearer …` when not empty
  std::vector<std::pair<std::string, std::string>> headers;
  bool tls_verify = true;
  int threads = 1;  // event-loop threads (1 or 2 is plenty)
  WorkloadOptions workload;
};

// One request as the generator saw it. Times are milliseconds; -1 when not measured.
struct RequestRecord {
  bool ok = false;
  bool measured = true;    // false: sent during warm-up
  std::string error;       // "" when ok, else http_<status>, connect, timeout, broken_stream, bad_response
  int status = 0;
  double start_s = 0;      // since the run started
  double end_s = 0;
  double ttft_ms = -1;     // streaming only: until the first content chunk
  double e2e_ms = -1;
  double itl_mean_ms = -1; // streaming only: mean gap between content chunks (needs >= 2 chunks)
  double tpot_ms = -1;     // (e2e − ttft) / (output_tokens − 1)
  int64_t chunks = 0;      // content chunks received
  int64_t output_tokens = 0;
  int64_t prompt_tokens = 0;
  bool usage = false;      // token counts came from the server's usage object
};

// Live counters for a progress display; written by the loops, read by anyone.
struct Progress {
  std::atomic<int64_t> started{0};
  std::atomic<int64_t> done{0};
  std::atomic<int64_t> errors{0};
  std::atomic<int64_t> in_flight{0};
};

struct RunResult {
  std::vector<RequestRecord> records;  // every request, warm-up ones included (measured=false)
  std::vector<float> itl_ms;           // every gap of every successful measured stream
  double window_s = 0;  // measured phase: warm-up end to the last measured completion
  double elapsed_s = 0; // whole run
};

// Runs to completion (every in-flight request finished or timed out). Errors: a bad URL or
// options; request failures are records, not errors.
boost::system::result<RunResult, std::string> Run(const RunOptions& options, Progress* progress);

}  // namespace ap::loadgen
