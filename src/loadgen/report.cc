// loadgen/report.cc — aggregation, the text table and the JSON object.
#include "loadgen/report.h"

#include <cstdio>

#include <boost/json.hpp>

namespace ap::loadgen {
namespace {

namespace json = boost::json;

std::string Fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

json::object SummaryJson(const Summary& s) {
  return json::object{{"count", s.count}, {"mean", s.mean}, {"min", s.min}, {"max", s.max},
                      {"p50", s.p50},     {"p90", s.p90},   {"p99", s.p99}};
}

void Row(std::string& out, const char* name, const Summary& s) {
  char buf[200];
  if (s.count == 0) {
    std::snprintf(buf, sizeof buf, "  %-22s %10s %10s %10s %10s %10s\n", name, "-", "-", "-", "-", "-");
  } else {
    std::snprintf(buf, sizeof buf, "  %-22s %10.2f %10.2f %10.2f %10.2f %10.2f\n", name, s.mean, s.p50,
                  s.p90, s.p99, s.max);
  }
  out.append(buf);
}

}  // namespace

Report BuildReport(const RunOptions& o, RunResult& result) {
  Report r;
  r.url = o.url;
  r.model = o.model;
  r.api = o.api == Api::kChat ? "chat" : "completions";
  r.stream = o.stream;
  r.workload = WorkloadKindName(o.workload.kind);
  r.arrivals = o.qps > 0 ? "poisson " + Fmt("%g", o.qps) + " qps" : "concurrency " + std::to_string(o.concurrency);
  std::vector<double> ttft, itl_req, tpot, e2e, out_tokens;
  bool all_usage = true;
  for (const auto& rec : result.records) {
    if (!rec.measured) {
      ++r.warmup_requests;
      continue;
    }
    ++r.requests;
    if (!rec.ok) {
      ++r.failed;
      ++r.errors[rec.error];
      continue;
    }
    ++r.ok;
    r.output_tokens += rec.output_tokens;
    r.prompt_tokens += rec.prompt_tokens;
    all_usage = all_usage && rec.usage;
    if (rec.ttft_ms >= 0) ttft.push_back(rec.ttft_ms);
    if (rec.itl_mean_ms >= 0) itl_req.push_back(rec.itl_mean_ms);
    if (rec.tpot_ms >= 0) tpot.push_back(rec.tpot_ms);
    e2e.push_back(rec.e2e_ms);
    out_tokens.push_back(static_cast<double>(rec.output_tokens));
  }
  r.usage_seen = r.ok > 0 && all_usage;
  r.window_s = result.window_s;
  if (r.window_s > 0) {
    r.request_rate = static_cast<double>(r.ok) / r.window_s;
    r.output_token_rate = static_cast<double>(r.output_tokens) / r.window_s;
    r.total_token_rate = static_cast<double>(r.output_tokens + r.prompt_tokens) / r.window_s;
  }
  r.ttft_ms = Summarize(ttft);
  r.itl_ms = Summarize(result.itl_ms);
  r.itl_request_ms = Summarize(itl_req);
  r.tpot_ms = Summarize(tpot);
  r.e2e_ms = Summarize(e2e);
  r.output_tokens_per_request = Summarize(out_tokens);
  return r;
}

std::string FormatTable(const Report& r) {
  std::string out;
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "agentplane bench: %s %s (%s%s), workload %s, %s\n", r.url.c_str(), r.model.c_str(),
                r.api.c_str(), r.stream ? ", streaming" : "", r.workload.c_str(), r.arrivals.c_str());
  out.append(buf);
  std::snprintf(buf, sizeof buf,
                "  requests %lld (ok %lld, failed %lld; warm-up %lld not counted) in %.2f s\n",
                static_cast<long long>(r.requests), static_cast<long long>(r.ok),
                static_cast<long long>(r.failed), static_cast<long long>(r.warmup_requests), r.window_s);
  out.append(buf);
  std::snprintf(buf, sizeof buf,
                "  throughput %.2f req/s, %.1f output tok/s, %.1f total tok/s (tokens %s)\n",
                r.request_rate, r.output_token_rate, r.total_token_rate,
                r.usage_seen ? "from usage" : "partly counted from chunks");
  out.append(buf);
  std::snprintf(buf, sizeof buf, "  tokens: %lld output (%.1f per request), %lld prompt\n\n",
                static_cast<long long>(r.output_tokens), r.output_tokens_per_request.mean,
                static_cast<long long>(r.prompt_tokens));
  out.append(buf);
  std::snprintf(buf, sizeof buf, "  %-22s %10s %10s %10s %10s %10s\n", "latency (ms)", "mean", "p50", "p90",
                "p99", "max");
  out.append(buf);
  Row(out, "TTFT", r.ttft_ms);
  Row(out, "ITL (all gaps)", r.itl_ms);
  Row(out, "ITL (per-request mean)", r.itl_request_ms);
  Row(out, "TPOT", r.tpot_ms);
  Row(out, "E2E", r.e2e_ms);
  if (!r.errors.empty()) {
    out.append("\n  errors:");
    for (const auto& [kind, n] : r.errors) out.append(" ").append(kind).append("=").append(std::to_string(n));
    out.append("\n");
  }
  return out;
}

std::string ToJson(const Report& r) {
  json::object errors;
  for (const auto& [kind, n] : r.errors) errors[kind] = n;
  json::object o{
      {"url", r.url},
      {"model", r.model},
      {"api", r.api},
      {"stream", r.stream},
      {"workload", r.workload},
      {"arrivals", r.arrivals},
      {"requests", r.requests},
      {"ok", r.ok},
      {"failed", r.failed},
      {"warmup_requests", r.warmup_requests},
      {"errors", std::move(errors)},
      {"output_tokens", r.output_tokens},
      {"prompt_tokens", r.prompt_tokens},
      {"tokens_from_usage", r.usage_seen},
      {"duration_s", r.window_s},
      {"request_rate", r.request_rate},
      {"output_token_rate", r.output_token_rate},
      {"total_token_rate", r.total_token_rate},
      {"ttft_ms", SummaryJson(r.ttft_ms)},
      {"itl_ms", SummaryJson(r.itl_ms)},
      {"itl_request_mean_ms", SummaryJson(r.itl_request_ms)},
      {"tpot_ms", SummaryJson(r.tpot_ms)},
      {"e2e_ms", SummaryJson(r.e2e_ms)},
      {"output_tokens_per_request", SummaryJson(r.output_tokens_per_request)},
      {"percentile_method", "linear"}};
  return json::serialize(o);
}

}  // namespace ap::loadgen
