// telemetry/metrics.cc — see metrics.h. Bucket boundaries are the ones the OpenTelemetry GenAI
// semantic conventions recommend for each instrument.
#include "base/thread.h"
#include "telemetry/metrics.h"

#include <atomic>
#include <charconv>
#include <cmath>
#include <cassert>
#include <cstdio>

#include "telemetry/writer.h"

namespace ap::telemetry {
namespace {

const std::vector<double> kDurationBounds = {0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64,
                                             1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92};
const std::vector<double> kTtftBounds = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                         0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0};
const std::vector<double> kTpotBounds = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,
                                         0.3, 0.4, 0.5, 0.75, 1.0, 2.5};
const std::vector<double> kTokenBounds = {1, 4, 16, 64, 256, 1024, 4096, 16384, 65536,
                                          262144, 1048576, 4194304, 16777216, 67108864};

const std::string kUnknownModel = "unknown";

std::string Number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<int64_t>(v));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  std::string s = buf;
  // Shortest form that still round-trips, for readability.
  for (int p = 1; p <= 17; ++p) {
    std::snprintf(buf, sizeof buf, "%.*g", p, v);
    if (std::strtod(buf, nullptr) == v) return buf;
  }
  return s;
}

void Escape(const std::string& in, std::string* out) {
  for (char c : in) {
    if (c == '\\') *out += "\\\\";
    else if (c == '"') *out += "\\\"";
    else if (c == '\n') *out += "\\n";
    else *out += c;
  }
}

void LabelText(const std::vector<std::pair<std::string, std::string>>& labels, const char* extra_key,
               const std::string& extra_value, std::string* out) {
  if (labels.empty() && !extra_key) return;
  *out += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) *out += ',';
    first = false;
    *out += k + "=\"";
    Escape(v, out);
    *out += '"';
  }
  if (extra_key) {
    if (!first) *out += ',';
    *out += std::string(extra_key) + "=\"" + extra_value + "\"";
  }
  *out += '}';
}

}  // namespace

Metrics::Family& Metrics::Get(const std::string& name, const char* help, const char* type) {
  auto& f = families_[name];
  if (f.name.empty()) {
    f.name = name;
    f.help = help;
    f.type = type;
  }
  return f;
}

namespace {
// The label set this thread looked up last and its series: a gateway thread sees the same model,
// backend, status and team request after request, and comparing them is cheaper than building
// and hashing the key. Valid while the instance and its series generation match.
struct LastSeries {
  uint64_t instance = 0, generation = 0;
  std::string model, backend, team;
  int status = 0;
  void* series = nullptr;
};
thread_local LastSeries last_series;
}  // namespace

Metrics::RequestSeries& Metrics::SeriesFor(const gateway::CompletionRecord& r, const std::string& team) {
  const std::string& model = r.model.empty() ? kUnknownModel : r.model;
  LastSeries& last = last_series;
  if (last.instance == instance_ && last.generation == series_generation_ && last.status == r.status &&
      last.model == model && last.backend == r.backend && last.team == team)
    return *static_cast<RequestSeries*>(last.series);
  RequestSeries& found = FindSeries(r, model, team);
  last.instance = instance_;
  last.generation = series_generation_;
  last.model = model;
  last.backend = r.backend;
  last.team = team;
  last.status = r.status;
  last.series = &found;  // unordered_map nodes stay put until series_ is cleared
  return found;
}

Metrics::RequestSeries& Metrics::FindSeries(const gateway::CompletionRecord& r, const std::string& model,
                                            const std::string& team) {
  std::string& key = series_key_;
  key.assign(model);
  key += '\0';
  key += r.backend;
  key += '\0';
  char status_digits[16];
  key.append(status_digits, std::to_chars(status_digits, status_digits + sizeof status_digits, r.status).ptr);
  key += '\0';
  key += team;
  auto it = series_.find(key);
  if (it != series_.end()) return it->second;
  // First request with this label set: find or create each series once; std::map nodes are
  // stable, so later requests update them through these pointers without building labels.
  const std::string backend = r.backend.empty() ? "none" : r.backend;
  const std::string status = std::to_string(r.status);
  RequestSeries s;
  s.requests = &Get("agentplane_gateway_requests_total", "Gateway requests by public model, backend and HTTP status.",
                    "counter").counters[{{"model", model}, {"backend", backend}, {"status", status}}];
  Labels gen = {{"gen_ai_request_model", model}, {"gen_ai_system", "agentplane"}};
  if (r.status >= 400) gen.push_back({"error_type", status});
  auto hist = [&](const char* name, const char* help, const std::vector<double>& bounds, Labels labels) {
    assert(bounds.size() <= kMaxBounds);
    auto* h = &Get(name, help, "histogram").histograms[std::move(labels)];
    h->bounds = &bounds;
    return h;
  };
  s.duration = hist("gen_ai_client_operation_duration_seconds",
                    "GenAI operation duration (gen_ai.client.operation.duration).", kDurationBounds, gen);
  s.ttft = hist("gen_ai_server_time_to_first_token_seconds", "Time to first token (gen_ai.server.time_to_first_token).",
                kTtftBounds, {{"gen_ai_request_model", model}});
  s.tpot = hist("gen_ai_server_time_per_output_token_seconds",
                "Time per output token after the first (gen_ai.server.time_per_output_token).", kTpotBounds,
                {{"gen_ai_request_model", model}});
  s.tokens_in = hist("gen_ai_client_token_usage", "Tokens used per request (gen_ai.client.token.usage).", kTokenBounds,
                     {{"gen_ai_request_model", model}, {"gen_ai_token_type", "input"}});
  s.tokens_out = hist("gen_ai_client_token_usage", "Tokens used per request (gen_ai.client.token.usage).", kTokenBounds,
                      {{"gen_ai_request_model", model}, {"gen_ai_token_type", "output"}});
  auto& tokens = Get("agentplane_gateway_tokens_total", "Tokens by public model and type.", "counter");
  s.total_in = &tokens.counters[{{"model", model}, {"type", "input"}}];
  s.total_out = &tokens.counters[{{"model", model}, {"type", "output"}}];
  if (series_.size() > 100'000) {  // bounded cache; the families keep the data
    series_.clear();
    ++series_generation_;
  }
  return series_.emplace(key, s).first->second;
}

void Metrics::ObserveRequest(const gateway::CompletionRecord& r, const std::string& team, double cost) {
  const double seconds = static_cast<double>(r.duration.count()) / 1e6;
  std::lock_guard lock(mu_);
  RequestSeries& s = SeriesFor(r, team);
  *s.requests += 1;
  s.duration->Observe(seconds);
  if (r.first_byte.count() >= 0 && r.status < 400) s.ttft->Observe(static_cast<double>(r.first_byte.count()) / 1e6);
  if (r.usage.known) {
    s.tokens_in->Observe(static_cast<double>(r.usage.prompt_tokens));
    s.tokens_out->Observe(static_cast<double>(r.usage.completion_tokens));
    *s.total_in += static_cast<double>(r.usage.prompt_tokens);
    *s.total_out += static_cast<double>(r.usage.completion_tokens);
    if (r.usage.completion_tokens > 1 && r.first_byte.count() >= 0) {
      double decode = static_cast<double>((r.duration - r.first_byte).count()) / 1e6;
      s.tpot->Observe(decode / static_cast<double>(r.usage.completion_tokens - 1));
    }
  }
  if (cost >= 0) {
    if (!s.cost) {
      const std::string& model = r.model.empty() ? kUnknownModel : r.model;
      s.cost = &Get("agentplane_cost_usd_total", "Cost of gateway requests in USD by team and model.", "counter")
                    .counters[{{"team", team.empty() ? "none" : team}, {"model", model}}];
    }
    *s.cost += cost;
  }
}

void Metrics::CountIngested(const std::string& source, int64_t events) {
  std::lock_guard lock(mu_);
  Get("agentplane_telemetry_ingested_events_total", "Events accepted by the ingestion APIs by source.", "counter")
      .counters[{{"source", source}}] += static_cast<double>(events);
}

void Metrics::AddCollector(Collector collector) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(collector));
}

void Metrics::RenderFamily(const Family& f, std::string* out) {
  *out += "# HELP " + f.name + " " + f.help + "\n# TYPE " + f.name + " " + f.type + "\n";
  for (const auto& [labels, v] : f.counters) {
    *out += f.name;
    LabelText(labels, nullptr, {}, out);
    *out += " " + Number(v) + "\n";
  }
  for (const auto& [labels, h] : f.histograms) {
    if (h.count == 0) continue;  // created for a label set but never observed
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= h.bounds->size(); ++i) {
      cumulative += h.counts[i];
      *out += f.name + "_bucket";
      LabelText(labels, "le", i < h.bounds->size() ? Number((*h.bounds)[i]) : "+Inf", out);
      *out += " " + std::to_string(cumulative) + "\n";
    }
    *out += f.name + "_sum";
    LabelText(labels, nullptr, {}, out);
    *out += " " + Number(h.sum) + "\n" + f.name + "_count";
    LabelText(labels, nullptr, {}, out);
    *out += " " + std::to_string(h.count) + "\n";
  }
}

std::string Metrics::Render() const {
  std::string out;
  std::vector<Collector> collectors;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, f] : families_) RenderFamily(f, &out);
    collectors = collectors_;
  }
  if (writer_) {
    auto gauge = [&](const char* name, const char* help, const char* type, int64_t v) {
      out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
             std::to_string(v) + "\n";
    };
    gauge("agentplane_telemetry_queue_depth", "Items waiting for the telemetry writer.", "gauge", writer_->depth());
    gauge("agentplane_telemetry_queue_capacity", "Capacity of the telemetry queue in items.", "gauge",
          static_cast<int64_t>(writer_->capacity()));
    gauge("agentplane_telemetry_dropped_items_total", "Items dropped because the telemetry queue was full.",
          "counter", writer_->dropped());
    gauge("agentplane_telemetry_written_items_total", "Items committed to the telemetry store.", "counter",
          writer_->written());
    gauge("agentplane_telemetry_write_failed_items_total", "Items whose batch failed to commit.", "counter",
          writer_->failed());
    gauge("agentplane_telemetry_writer_boosts_total",
          "Times a backlog, a waiting reply or a flush returned the background writer from idle CPU priority.",
          "counter", writer_->boosts());
  }
  for (const auto& c : collectors) c(&out);
  return out;
}

}  // namespace ap::telemetry
