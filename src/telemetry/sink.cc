// telemetry/sink.cc — see sink.h.
#include "telemetry/sink.h"

#include <re2/re2.h>

#include <boost/json.hpp>
#include <array>
#include <charconv>

#include "base/strings.h"
#include "telemetry/exporter.h"
#include "telemetry/metrics.h"
#include "telemetry/writer.h"

namespace ap::telemetry {
namespace {

int64_t Micros(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

// A payload as JSON text: itself when it parses (and was not cut), else a JSON string.
std::string AsJson(const std::string& body, bool truncated) {
  if (!truncated) {
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (!ec) return boost::json::serialize(v);
  }
  return boost::json::serialize(boost::json::value(boost::json::string_view(body)));
}

// The status message of a failed request: its error, else "HTTP <status>".
std::string_view StatusMessage(const gateway::CompletionRecord& r, std::array<char, 16>& buf) {
  if (!r.error.empty()) return r.error;
  char* p = std::copy_n("HTTP ", 5, buf.data());
  return {buf.data(), static_cast<size_t>(std::to_chars(p, buf.data() + buf.size(), r.status).ptr - buf.data())};
}

// usage_details of a request whose usage the gateway counted (api/token_estimate.h).
constexpr std::string_view kEstimatedUsage = R"({"estimated":true})";

}  // namespace

GatewaySink::GatewaySink(std::shared_ptr<Writer> writer, std::shared_ptr<PriceTable> prices,
                         std::shared_ptr<Metrics> metrics, SinkOptions options)
    : writer_(std::move(writer)), prices_(std::move(prices)), metrics_(std::move(metrics)), options_(std::move(options)) {
  std::string error;
  auto capture = Compile(options_.capture, options_.capture_limit, options_.redact, &error);
  // At start-up an invalid pattern is left out (as before); Reload refuses one instead.
  if (!capture) {
    std::vector<std::string> valid;
    for (const auto& p : options_.redact)
      if (RE2(p, RE2::Quiet).ok()) valid.push_back(p);
    capture = Compile(options_.capture, options_.capture_limit, valid, &error);
  }
  capture_off_.store(capture->mode == CaptureMode::kOff, std::memory_order_release);
  capture_.store(std::move(capture));
}

GatewaySink::~GatewaySink() = default;

std::shared_ptr<const GatewaySink::Capture> GatewaySink::Compile(CaptureMode mode, uint64_t limit,
                                                                  const std::vector<std::string>& patterns,
                                                                  std::string* error) {
  auto c = std::make_shared<Capture>();
  c->mode = mode;
  c->limit = limit;
  for (const auto& p : patterns) {
    auto re = std::make_unique<RE2>(p, RE2::Quiet);
    if (!re->ok()) {
      *error = "redact pattern '" + p + "': " + re->error();
      return nullptr;
    }
    c->redact.push_back(std::move(re));
  }
  return c;
}

std::string GatewaySink::Reload(CaptureMode capture, uint64_t capture_limit, const std::vector<std::string>& redact) {
  std::lock_guard lock(reload_mu_);  // capture_ and capture_off_ change together
  std::string error;
  auto next = Compile(capture, capture_limit, redact, &error);
  if (!next) return error;
  capture_off_.store(next->mode == CaptureMode::kOff, std::memory_order_release);
  capture_.store(std::move(next));
  return {};
}

std::optional<Cost> CostOfRecord(PriceTable& prices, const gateway::CompletionRecord& r) {
  if (!r.usage.known) return std::nullopt;
  int64_t at = Micros(r.start);
  const auto& u = r.usage;
  if (!r.backend_model.empty())
    if (auto c = prices.ForTokens(r.backend_model, at, u.prompt_tokens, u.completion_tokens, u.cached_tokens)) return c;
  if (auto c = prices.ForTokens(r.model, at, u.prompt_tokens, u.completion_tokens, u.cached_tokens)) return c;
  if (!r.backend.empty()) return prices.ForGpuTime(r.backend, at + r.duration.count(), u.prompt_tokens, u.completion_tokens);
  return std::nullopt;
}

namespace {
// The record this thread priced last. The proxy prices a reply for its cost header and the
// sink then records the same record: one price lookup serves both, and the stored cost is the
// one the client was told (GPU-time prices move with each measured request). The key is the
// record's address, start and usage, so a later request reusing the address never matches,
// and the price table's generation, so a reload in between prices anew.
struct LastPriced {
  const GatewaySink* sink = nullptr;
  const gateway::CompletionRecord* record = nullptr;
  uint64_t generation = 0;
  std::chrono::system_clock::time_point start;
  int64_t prompt = 0, completion = 0, cached = 0;
  std::optional<Cost> cost;

  bool Matches(const GatewaySink* s, const gateway::CompletionRecord& r, uint64_t g) const {
    return sink == s && record == &r && generation == g && start == r.start && prompt == r.usage.prompt_tokens &&
           completion == r.usage.completion_tokens && cached == r.usage.cached_tokens;
  }
};
thread_local LastPriced last_priced;
}  // namespace

std::optional<Cost> GatewaySink::CostOf(const gateway::CompletionRecord& r) const {
  if (!prices_) return std::nullopt;
  LastPriced& last = last_priced;
  const uint64_t generation = prices_->generation();
  if (last.Matches(this, r, generation)) return last.cost;
  auto cost = CostOfRecord(*prices_, r);
  last = {this, &r, generation, r.start, r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.cached_tokens, cost};
  return cost;
}

std::vector<Item> GatewaySink::ToItems(const gateway::CompletionRecord& r, const std::optional<Cost>& cost) const {
  const int64_t start = Micros(r.start);
  // Built in place in the vector the writer receives (moving an Observation costs more than
  // filling it). A minted trace id is new by construction: the store may insert the trace
  // without looking.
  std::vector<Item> items(2);
  items[0].fresh = r.trace_minted;
  items[1].fresh = true;
  Trace& t = items[0].body.emplace<Trace>();
  t.id = r.trace_id;
  // Tenancy: a team's requests land in the team's project, so its keys read only its own data.
  const std::string& project = r.project.empty() ? options_.project : r.project;
  t.project = project;
  t.timestamp_us = start;
  t.name = r.path;
  if (!r.user.empty()) t.user_id = r.user;
  if (!r.session_id.empty()) t.session_id = r.session_id;
  if (!r.tags.empty()) t.tags = r.tags;
  if (!options_.environment.empty()) t.environment = options_.environment;

  Observation& g = items[1].body.emplace<Observation>();
  g.id = r.span_id;
  g.trace_id = r.trace_id;
  g.project = project;
  g.type = ObservationType::kGeneration;
  if (!r.parent_span_id.empty()) g.parent_id = r.parent_span_id;
  g.name = r.path;
  g.start_us = start;
  g.end_us = start + std::max<int64_t>(1, r.duration.count());
  if (r.first_byte.count() >= 0) g.completion_start_us = start + r.first_byte.count();
  if (!r.model.empty()) g.model = r.model;
  if (!r.user.empty()) g.user_id = r.user;
  if (!r.backend.empty()) g.backend = r.backend;
  if (!r.team.empty()) g.team = r.team;
  if (!r.key_id.empty()) g.key = r.key_id;
  if (!options_.environment.empty()) g.environment = options_.environment;
  g.status_code = r.status;
  if (r.status >= 400) {
    g.level = Level::kError;
    std::array<char, 16> buf;
    g.status_message = std::string(StatusMessage(r, buf));
  }
  if (r.usage.known) {
    g.input_tokens = r.usage.prompt_tokens;
    g.output_tokens = r.usage.completion_tokens;
    g.total_tokens = r.usage.total_tokens ? r.usage.total_tokens : r.usage.prompt_tokens + r.usage.completion_tokens;
    if (r.usage.cached_tokens) g.cached_tokens = r.usage.cached_tokens;
    // The backend reported none; the gateway counted (api/token_estimate.h).
    if (r.usage.estimated) g.usage_details = std::string(kEstimatedUsage);
  }
  if (cost) {
    g.input_cost = cost->input;
    g.output_cost = cost->output;
    g.total_cost = cost->total;
  }
  const auto capture = capture_.load();
  if (capture->mode != CaptureMode::kOff) {
    boost::json::object m;
    m["request_id"] = r.request_id;
    if (!r.route.empty()) m["route"] = r.route;
    if (!r.backend_model.empty()) m["backend_model"] = r.backend_model;
    m["attempts"] = r.attempts;
    m["stream"] = r.stream;
    if (!r.scheduler_pick.empty()) m["scheduler_pick"] = r.scheduler_pick;
    if (cost) m["cost_source"] = cost->source;
    if (r.payload_truncated) m["payload_truncated"] = true;
    g.metadata = boost::json::serialize(m);
    if (capture->mode == CaptureMode::kFull) {
      auto cut = [&](const std::string& s) {
        bool truncated = r.payload_truncated || s.size() > capture->limit;
        std::string text = s.substr(0, capture->limit);
        for (const auto& re : capture->redact) RE2::GlobalReplace(&text, *re, "[REDACTED]");
        return AsJson(text, truncated);
      };
      if (!r.request_body.empty()) g.input = cut(r.request_body);
      if (!r.response_body.empty()) g.output = cut(r.response_body);
    }
  }
  return items;
}


bool GatewaySink::Compacts(const gateway::CompletionRecord& r) const {
  if (!r.trace_minted || !(r.trace_id.size() == 32 && IsLowerHex(r.trace_id)) || r.span_id.empty() || r.path.empty()) return false;
  if (!capture_off_.load(std::memory_order_acquire)) return false;
  const std::string& project = r.project.empty() ? options_.project : r.project;
  if (project.empty()) return false;  // ToItems would keep an empty project; the record cannot say so
  size_t text = r.trace_id.size() + r.span_id.size() + r.parent_span_id.size() + project.size() + r.path.size() +
                r.user.size() + r.session_id.size() + options_.environment.size() + r.model.size() +
                r.backend.size() + r.team.size() + r.key_id.size();
  for (const auto& t : r.tags) {
    if (t.find('\0') != std::string::npos) return false;
    text += t.size() + 1;
  }
  if (r.status >= 400) {
    std::array<char, 16> buf;
    text += StatusMessage(r, buf).size();
  }
  if (r.usage.known && r.usage.estimated) text += kEstimatedUsage.size();
  return text <= GatewayRequest::kTextCapacity;
}

void GatewaySink::FillRequest(const gateway::CompletionRecord& r, const std::optional<Cost>& cost,
                              GatewayRequest& q) const {
  using F = GatewayRequest;
  q.used = 0;
  q.size.fill(0);
  const std::string& project = r.project.empty() ? options_.project : r.project;
  // Compacts checked that everything fits.
  q.Set(F::kTraceId, r.trace_id);
  q.Set(F::kSpanId, r.span_id);
  q.Set(F::kParentId, r.parent_span_id);
  q.Set(F::kProject, project);
  q.Set(F::kName, r.path);
  q.Set(F::kUser, r.user);
  q.Set(F::kSession, r.session_id);
  q.Set(F::kEnvironment, options_.environment);
  q.Set(F::kModel, r.model);
  q.Set(F::kBackend, r.backend);
  q.Set(F::kTeam, r.team);
  q.Set(F::kKey, r.key_id);
  if (!r.tags.empty()) q.SetTags(r.tags);
  const int64_t start = Micros(r.start);
  q.start_us = start;
  q.end_us = start + std::max<int64_t>(1, r.duration.count());
  q.completion_start_us = r.first_byte.count() >= 0 ? start + r.first_byte.count() : 0;
  q.status = r.status;
  q.error = r.status >= 400;
  if (q.error) {
    std::array<char, 16> buf;
    q.Set(F::kStatusMessage, StatusMessage(r, buf));
  }
  q.has_usage = r.usage.known;
  if (r.usage.known) {
    q.input_tokens = r.usage.prompt_tokens;
    q.output_tokens = r.usage.completion_tokens;
    q.total_tokens = r.usage.total_tokens ? r.usage.total_tokens : r.usage.prompt_tokens + r.usage.completion_tokens;
    q.cached_tokens = r.usage.cached_tokens;
    if (r.usage.estimated) q.Set(F::kUsageDetails, kEstimatedUsage);
  } else {
    q.input_tokens = q.output_tokens = q.total_tokens = q.cached_tokens = 0;
  }
  q.has_cost = cost.has_value();
  q.input_cost = cost ? cost->input : 0;
  q.output_cost = cost ? cost->output : 0;
  q.total_cost = cost ? cost->total : 0;
}

bool GatewaySink::ToRequest(const gateway::CompletionRecord& r, const std::optional<Cost>& cost,
                            GatewayRequest* out) const {
  if (!Compacts(r)) return false;
  FillRequest(r, cost, *out);
  return true;
}

void GatewaySink::Record(const gateway::CompletionRecord& r) {
  if (prices_ && r.usage.known && !r.backend.empty())
    prices_->MeasureServed(r.backend, r.usage.prompt_tokens + r.usage.completion_tokens,
                           Micros(r.start) + r.duration.count());
  auto cost = CostOf(r);
  if (metrics_) metrics_->ObserveRequest(r, r.team, cost ? cost->total : -1);
  if (writer_) {
    if (Compacts(r)) writer_->TryEnqueueRequest([&](GatewayRequest& q) noexcept { FillRequest(r, cost, q); });
    else writer_->TryEnqueue(ToItems(r, cost));
  }
  if (exporter_) exporter_->Enqueue(SpanOf(r, cost));
}

}  // namespace ap::telemetry
