// cmd/bench_cmd.cc — `agentplane bench`: the LLM load generator against any OpenAI-compatible
// endpoint (the gateway, `agentplane sim`, a real vLLM).
//
// It only wires flags to the loadgen module (workload, arrivals, request shape), shows the
// progress line while running and prints the report: a table on stdout, or JSON with --json
// (and to a file with --json-out). No measuring or statistics code lives here. Exit status:
// 0 when at least one measured request succeeded, 1 when none did, 2 for bad flags.
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "base/strings.h"
#include "cmd/commands.h"
#include "loadgen/progress.h"
#include "loadgen/report.h"
#include "loadgen/runner.h"

namespace ap::cmd {
namespace {

struct BenchFlags {
  loadgen::RunOptions run;
  std::string api = "chat";
  bool no_stream = false;
  bool no_ignore_eos = false;
  bool insecure = false;
  std::string duration;
  std::string warmup = "0s";
  std::string timeout = "600s";
  std::string connect_timeout = "5s";
  std::string workload = "random";
  std::string prompt_tokens = "256";
  std::string output_tokens = "128";
  std::string api_key_env = "OPENAI_API_KEY";
  std::vector<std::string> headers;
  bool json = false;
  std::string json_out;
  bool progress = false;
};

// "128" or "64-256".
bool ParseRange(const std::string& text, loadgen::LengthRange* out) {
  auto dash = text.find('-');
  auto lo = ParseUint(dash == std::string::npos ? text : text.substr(0, dash));
  auto hi = dash == std::string::npos ? lo : ParseUint(text.substr(dash + 1));
  if (!lo || !hi || *lo > *hi || *hi > 10'000'000) return false;
  out->min = static_cast<int>(*lo);
  out->max = static_cast<int>(*hi);
  return true;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 2;
}

int RunBench(BenchFlags f) {
  loadgen::RunOptions& o = f.run;
  o.api = f.api == "completions" ? loadgen::Api::kCompletions : loadgen::Api::kChat;
  o.stream = !f.no_stream;
  o.ignore_eos = !f.no_ignore_eos;
  o.tls_verify = !f.insecure;
  if (o.qps > 0 && o.concurrency > 0) return Fail("give --qps or --concurrency, not both");
  if (o.qps <= 0 && o.concurrency <= 0) o.concurrency = 1;
  if (!f.duration.empty()) {
    auto d = ParseDuration(f.duration);
    if (!d || d->count() <= 0) return Fail("--duration: not a duration: " + f.duration);
    if (o.requests > 0) return Fail("give --duration or --requests, not both");
    o.duration = *d;
  } else if (o.requests <= 0) {
    o.requests = 100;
  }
  struct { const std::string* text; std::chrono::milliseconds* out; const char* name; } durations[] = {
      {&f.warmup, &o.warmup, "--warmup"},
      {&f.timeout, &o.timeout, "--timeout"},
      {&f.connect_timeout, &o.connect_timeout, "--connect-timeout"}};
  for (auto& d : durations) {
    auto v = ParseDuration(*d.text);
    if (!v) return Fail(std::string(d.name) + ": not a duration: " + *d.text);
    *d.out = *v;
  }
  if (f.workload == "shared-prefix") o.workload.kind = loadgen::WorkloadKind::kSharedPrefix;
  else if (f.workload == "multi-turn") o.workload.kind = loadgen::WorkloadKind::kMultiTurn;
  else o.workload.kind = loadgen::WorkloadKind::kRandom;
  if (!ParseRange(f.prompt_tokens, &o.workload.prompt_tokens))
    return Fail("--prompt-tokens: want N or MIN-MAX, got " + f.prompt_tokens);
  if (!ParseRange(f.output_tokens, &o.workload.output_tokens) || o.workload.output_tokens.min < 1)
    return Fail("--output-tokens: want N or MIN-MAX (at least 1), got " + f.output_tokens);
  for (const auto& h : f.headers) {
    auto colon = h.find(':');
    if (colon == std::string::npos || colon == 0) return Fail("--header: want 'Name: value', got " + h);
    o.headers.emplace_back(std::string(Trim(h.substr(0, colon))), std::string(Trim(h.substr(colon + 1))));
  }
  if (o.api_key.empty() && !f.api_key_env.empty()) {
    if (const char* k = std::getenv(f.api_key_env.c_str())) o.api_key = k;
  }

  loadgen::Progress progress;
  boost::system::result<loadgen::RunResult, std::string> result = std::string();
  {
    loadgen::ProgressBar bar(o, progress, f.progress);
    result = loadgen::Run(o, &progress);
  }
  if (!result) return Fail(result.error());
  loadgen::Report report = loadgen::BuildReport(o, *result);
  const std::string json = loadgen::ToJson(report);
  if (f.json) std::printf("%s\n", json.c_str());
  else std::fputs(loadgen::FormatTable(report).c_str(), stdout);
  std::fflush(stdout);
  if (!f.json_out.empty()) {
    std::ofstream out(f.json_out);
    out << json << "\n";
    if (!out) {
      std::fprintf(stderr, "error: cannot write %s\n", f.json_out.c_str());
      return 1;
    }
  }
  return report.ok > 0 ? 0 : 1;
}

}  // namespace

void AddBenchCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<BenchFlags>();
  auto* cmd = app.add_subcommand(
      "bench",
      "Load-test an OpenAI-compatible endpoint (gateway, sim, vLLM): TTFT, ITL, E2E, tokens/s.\n\n"
      "Examples:\n"
      "  agentplane bench --url http://127.0.0.1:8000/v1 --model meta-llama/Llama-3.1-8B-Instruct --concurrency 16 --requests 500\n"
      "  agentplane bench --url http://127.0.0.1:8080/v1 --model llama-3.1-8b --qps 20 --duration 30s \\\n"
      "      --workload shared-prefix --groups 8 --users 16 --prefix-tokens 2000 --question-tokens 100 --output-tokens 100\n"
      "  agentplane bench --url http://127.0.0.1:8080/v1 --model llama-3.1-8b --workload multi-turn --users 32 --turns 6 \\\n"
      "      --concurrency 32 --duration 1m --warmup 10s --json-out result.json\n"
      "  agentplane bench --url http://127.0.0.1:8000/v1 --model m --qps 50 --requests 1000 --prompt-tokens 100-1000 \\\n"
      "      --output-tokens 50-300 --api completions --no-stream --json\n\n"
      "Token counts are approximate: the synthetic prompt text is one token per word for the\n"
      "simulator's tokenizer and about one per word for real ones. See docs/loadgen.md.");
  loadgen::RunOptions& o = flags->run;
  cmd->add_option("--url", o.url, "Base URL of the OpenAI API, e.g. http://127.0.0.1:8080/v1")->required();
  cmd->add_option("-m,--model", o.model, "Model name sent in every request")->required();
  cmd->add_option("--api", flags->api, "chat (/v1/chat/completions) or completions (/v1/completions)")
      ->capture_default_str()->check(CLI::IsMember({"chat", "completions"}));
  cmd->add_flag("--no-stream", flags->no_stream, "Non-streaming requests (no TTFT/ITL, E2E only)");
  cmd->add_option("--qps", o.qps, "Poisson arrivals at this many requests per second (open loop)");
  cmd->add_option("-c,--concurrency", o.concurrency, "Closed loop with this many requests in flight (default 1)");
  cmd->add_option("-d,--duration", flags->duration, "Measured phase length, e.g. 30s, 2m (or --requests)");
  cmd->add_option("-n,--requests", o.requests, "Measured requests to send (default 100 when no --duration)");
  cmd->add_option("--warmup", flags->warmup, "Requests started in this first period are not recorded")
      ->capture_default_str();
  cmd->add_option("--workload", flags->workload, "random, shared-prefix or multi-turn")
      ->capture_default_str()->check(CLI::IsMember({"random", "shared-prefix", "multi-turn"}));
  cmd->add_option("--prompt-tokens", flags->prompt_tokens, "random: prompt length, N or MIN-MAX (uniform)")
      ->capture_default_str();
  cmd->add_option("--output-tokens", flags->output_tokens, "max_tokens of each request, N or MIN-MAX")
      ->capture_default_str();
  cmd->add_option("--groups", o.workload.groups, "shared-prefix: groups (one shared prefix each)")->capture_default_str();
  cmd->add_option("--users", o.workload.users, "shared-prefix: users per group; multi-turn: conversations")
      ->capture_default_str();
  cmd->add_option("--prefix-tokens", o.workload.prefix_tokens,
                  "shared-prefix: shared system prefix; multi-turn: per-conversation system prompt (0: none)")
      ->capture_default_str();
  cmd->add_option("--question-tokens", o.workload.question_tokens,
                  "shared-prefix: question per user; multi-turn: each user turn")->capture_default_str();
  cmd->add_option("--turns", o.workload.turns, "multi-turn: user turns per conversation")->capture_default_str();
  cmd->add_option("--seed", o.workload.seed, "Seed of the synthetic prompts and arrivals")->capture_default_str();
  cmd->add_flag("--no-ignore-eos", flags->no_ignore_eos, "Do not send ignore_eos (outputs may end early)");
  cmd->add_option("--api-key", o.api_key, "API key (Authorization: Bearer)");
  cmd->add_option("--api-key-env", flags->api_key_env, "Environment variable with the API key, when no --api-key")
      ->capture_default_str();
  cmd->add_option("-H,--header", flags->headers, "Extra request header 'Name: value' (repeatable)");
  cmd->add_option("--timeout", flags->timeout, "Per-request timeout")->capture_default_str();
  cmd->add_option("--connect-timeout", flags->connect_timeout, "Connect timeout")->capture_default_str();
  cmd->add_flag("--insecure", flags->insecure, "Do not verify the server's TLS certificate");
  cmd->add_option("--threads", o.threads, "Event-loop threads of the generator")->capture_default_str()
      ->check(CLI::Range(1, 16));
  cmd->add_flag("--json", flags->json, "Print the report as one JSON object instead of a table");
  cmd->add_option("--json-out", flags->json_out, "Also write the JSON report to this file");
  cmd->add_flag("--progress", flags->progress, "Draw the progress line even when stderr is not a terminal");
  cmd->callback([flags, exit_code] { *exit_code = RunBench(*flags); });
}

}  // namespace ap::cmd
