// loadgen/report.h — turns a run's request records into the numbers people read: latency
// summaries, throughput, errors by kind; rendered as a text table or as one JSON object.
//
// Only measured requests (not warm-up ones) count. Latencies of failed requests are left out
// of every summary (as vLLM's benchmark does), but failures are counted by kind. Rates divide
// by the measured window (warm-up end to the last measured completion). It must never touch the
// network or the clock: it is a pure function of the records, so tests can feed it by hand.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "loadgen/runner.h"
#include "loadgen/stats.h"

namespace ap::loadgen {

struct Report {
  // What was run.
  std::string url;
  std::string model;
  std::string api;       // chat or completions
  bool stream = true;
  std::string workload;  // random, shared-prefix, multi-turn
  std::string arrivals;  // "poisson 20 qps" or "concurrency 8"
  // Counts.
  int64_t requests = 0;  // measured requests that ended
  int64_t ok = 0;
  int64_t failed = 0;
  int64_t warmup_requests = 0;
  std::map<std::string, int64_t> errors;  // kind -> count
  int64_t output_tokens = 0;              // successful requests
  int64_t prompt_tokens = 0;              // from usage, when the server sent it
  bool usage_seen = false;                // every successful request had a usage object
  // Rates over the measured window.
  double window_s = 0;
  double request_rate = 0;      // successful requests per second
  double output_token_rate = 0; // output tokens per second
  double total_token_rate = 0;  // (prompt + output) tokens per second
  // Latencies in milliseconds (successful requests; ITL/TTFT only when streaming).
  Summary ttft_ms;
  Summary itl_ms;           // every gap between content chunks, pooled
  Summary itl_request_ms;   // each request's mean gap
  Summary tpot_ms;          // (e2e − ttft) / (output tokens − 1)
  Summary e2e_ms;
  Summary output_tokens_per_request;
};

// Consumes `result` (sorts its vectors).
Report BuildReport(const RunOptions& options, RunResult& result);
std::string FormatTable(const Report& report);
std::string ToJson(const Report& report);

}  // namespace ap::loadgen
