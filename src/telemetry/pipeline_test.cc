// telemetry/pipeline_test.cc — the request-path half of telemetry: pricing, the gateway sink
// (record → trace + generation, capture modes, redaction, estimates), the writer's bounded queue
// and commit callbacks, and the Prometheus rendering.
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include <unistd.h>

#include <gtest/gtest.h>

#include "base/random.h"
#include "base/thread.h"
#include "telemetry/metrics.h"
#include "telemetry/pricing.h"
#include "telemetry/sink.h"
#include "telemetry/sqlite_store.h"
#include "telemetry/telemetry.h"
#include "telemetry/writer.h"

namespace ap::telemetry {
namespace {

constexpr int64_t kNow = 1'760'000'000'000'000;  // 2025-10-09

gateway::CompletionRecord Record() {
  gateway::CompletionRecord r;
  r.request_id = "req-1";
  r.method = "POST";
  r.path = "/v1/chat/completions";
  r.model = "gpt-4o-mini";
  r.backend = "openai";
  r.backend_model = "gpt-4o-mini-2024-07-18";
  r.user = "alice";
  r.session_id = "s1";
  r.trace_id = "0af7651916cd43dd8448eb211c80319c";
  r.parent_span_id = "b7ad6b7169203331";
  r.span_id = "00f067aa0ba902b7";
  r.tags = {"prod", "chat"};
  r.status = 200;
  r.attempts = 1;
  r.start = std::chrono::system_clock::time_point(std::chrono::microseconds(kNow));
  r.first_byte = std::chrono::microseconds(150'000);
  r.duration = std::chrono::microseconds(1'150'000);
  r.usage = {1000, 100, 1100, 400, true};
  return r;
}

TEST(Pricing, BuiltInTableMatchesSnapshotsProvidersAndDates) {
  PriceTable t({}, {});
  auto c = t.ForTokens("gpt-4o-mini-2024-07-18", kNow, 1000, 100, 400);
  ASSERT_TRUE(c);
  EXPECT_NEAR(c->input, 600 * 0.15e-6 + 400 * 0.075e-6, 1e-12);
  EXPECT_NEAR(c->output, 100 * 0.6e-6, 1e-12);
  EXPECT_NEAR(c->total, c->input + c->output, 1e-15);
  EXPECT_TRUE(t.ForTokens("openai/gpt-4o-mini", kNow, 1, 1, 0));
  EXPECT_TRUE(t.ForTokens("claude-3-5-sonnet-20241022", kNow, 1, 1, 0));
  EXPECT_FALSE(t.ForTokens("my-local-llama", kNow, 1, 1, 0));
  // gpt-4o changed price on 2024-10-01: older requests keep the old price.
  auto before = t.ForTokens("gpt-4o", *ParseIsoTime("2024-09-01T00:00:00Z"), 1'000'000, 0, 0);
  auto after = t.ForTokens("gpt-4o", *ParseIsoTime("2024-11-01T00:00:00Z"), 1'000'000, 0, 0);
  EXPECT_NEAR(before->total, 5.0, 1e-9);
  EXPECT_NEAR(after->total, 2.5, 1e-9);
}

TEST(Pricing, ConfigOverridesWin) {
  ModelPrice p;
  p.match = "gpt-4o-mini.*";
  p.input = 1e-6;
  p.output = 2e-6;
  PriceTable t({p}, {});
  EXPECT_NEAR(t.ForTokens("gpt-4o-mini", kNow, 10, 10, 0)->total, 30e-6, 1e-15);
}

TEST(Pricing, AThreadsMemoTellsTablesModelsDatesAndReplacementsApart) {
  ModelPrice a{"model-a", 0, 1e-6, 1e-6};
  ModelPrice b{"model-b", 0, 2e-6, 2e-6};
  ModelPrice b_later{"model-b", kNow, 3e-6, 3e-6};
  PriceTable first({a, b, b_later}, {});
  EXPECT_NEAR(first.ForTokens("model-a", kNow, 1, 0, 0)->total, 1e-6, 1e-15);
  EXPECT_NEAR(first.ForTokens("model-b", kNow - 1, 1, 0, 0)->total, 2e-6, 1e-15);
  EXPECT_NEAR(first.ForTokens("model-b", kNow, 1, 0, 0)->total, 3e-6, 1e-15);  // same model, later date
  EXPECT_STREQ(first.ForTokens("model-b", kNow, 1, 0, 0)->source, "price_table");
  {
    PriceTable other({ModelPrice{"model-b", 0, 5e-6, 5e-6}}, {});  // the same model in another table
    EXPECT_NEAR(other.ForTokens("model-b", kNow, 1, 0, 0)->total, 5e-6, 1e-15);
  }
  EXPECT_NEAR(first.ForTokens("model-b", kNow, 1, 0, 0)->total, 3e-6, 1e-15);
  first.Replace({ModelPrice{"model-b", 0, 7e-6, 7e-6}}, {});
  EXPECT_NEAR(first.ForTokens("model-b", kNow, 1, 0, 0)->total, 7e-6, 1e-15);
  EXPECT_FALSE(first.ForTokens("model-a", kNow, 1, 0, 0));
  // Another thread sees the replacement as well.
  std::optional<Cost> there;
  std::thread([&] { there = first.ForTokens("model-b", kNow, 1, 0, 0); }).join();
  ASSERT_TRUE(there);
  EXPECT_NEAR(there->total, 7e-6, 1e-15);
}

TEST(Pricing, GpuTimeUsesMeasuredThroughput) {
  PriceTable t({}, {{"vllm-.*", 36.0, 1000}});  // $36/h = $0.01/s
  EXPECT_FALSE(t.ForGpuTime("openai", kNow, 1, 1));
  // Nothing measured yet: the configured 1000 tokens/s → $1e-5 per token.
  EXPECT_NEAR(t.ForGpuTime("vllm-0", kNow, 100, 0)->total, 100 * 1e-5, 1e-12);
  // 10 s at 5000 tokens/s measured → $2e-6 per token.
  for (int s = 0; s < 10; ++s) t.MeasureServed("vllm-0", 5000, kNow + s * 1'000'000);
  auto c = t.ForGpuTime("vllm-0", kNow + 9'000'000, 500, 500);
  ASSERT_TRUE(c);
  EXPECT_STREQ(c->source, "gpu_time");
  EXPECT_NEAR(c->total, 1000 * 2e-6, 1e-9);
}

TEST(Sink, RecordBecomesTraceAndGeneration) {
  GatewaySink sink(nullptr, std::make_shared<PriceTable>(std::vector<ModelPrice>{}, std::vector<GpuPrice>{}), nullptr, {});
  auto r = Record();
  auto cost = sink.CostOf(r);
  ASSERT_TRUE(cost);
  auto items = sink.ToItems(r, cost);
  ASSERT_EQ(items.size(), 2u);
  const auto& t = std::get<Trace>(items[0].body);
  EXPECT_EQ(t.id, r.trace_id);
  EXPECT_EQ(t.user_id, "alice");
  EXPECT_EQ(t.session_id, "s1");
  EXPECT_EQ(t.tags, r.tags);
  const auto& g = std::get<Observation>(items[1].body);
  EXPECT_TRUE(items[1].fresh);
  EXPECT_EQ(g.type, ObservationType::kGeneration);
  EXPECT_EQ(g.id, r.span_id);
  EXPECT_EQ(g.parent_id, r.parent_span_id);
  EXPECT_EQ(g.start_us, kNow);
  EXPECT_EQ(g.completion_start_us, kNow + 150'000);
  EXPECT_EQ(g.end_us, kNow + 1'150'000);
  EXPECT_EQ(g.input_tokens, 1000);
  EXPECT_EQ(g.output_tokens, 100);
  EXPECT_EQ(g.cached_tokens, 400);
  EXPECT_NEAR(*g.total_cost, cost->total, 1e-15);
  EXPECT_FALSE(g.input);     // capture off: no payloads …
  EXPECT_FALSE(g.metadata);  // … and no metadata
}

TEST(Sink, ARecordIsPricedOnceForItsHeaderAndItsRowUntilPricesChange) {
  auto prices = std::make_shared<PriceTable>(std::vector<ModelPrice>{}, std::vector<GpuPrice>{});
  GatewaySink sink(nullptr, prices, nullptr, {});
  auto r = Record();
  auto told = sink.CostOf(r);  // the proxy, for x-agentplane-cost-usd
  ASSERT_TRUE(told);
  auto recorded = sink.CostOf(r);  // Record, for the row
  ASSERT_TRUE(recorded);
  EXPECT_EQ(recorded->total, told->total);
  r.usage.completion_tokens += 1;  // other usage (or another request): priced anew
  EXPECT_GT(sink.CostOf(r)->total, told->total);
  ModelPrice p;
  p.match = ".*";
  p.input = p.output = 1.0;
  prices->Replace({p}, {});  // a reload: the same record is priced with the new table
  EXPECT_GT(sink.CostOf(r)->total, 1000.0);
}

TEST(Sink, FullCaptureRedactsAndCuts) {
  SinkOptions o;
  o.capture = CaptureMode::kFull;
  o.capture_limit = 64;
  o.redact = {"sk-[A-Za-z0-9]+"};
  GatewaySink sink(nullptr, nullptr, nullptr, o);
  auto r = Record();
  r.request_body = R"({"messages":[{"content":"my key is sk-abc123"}]})";
  r.response_body = std::string(100, 'x');
  auto items = sink.ToItems(r, std::nullopt);
  const auto& g = std::get<Observation>(items[1].body);
  ASSERT_TRUE(g.input);
  EXPECT_NE(g.input->find("[REDACTED]"), std::string::npos);
  EXPECT_EQ(g.input->find("sk-abc123"), std::string::npos);
  EXPECT_EQ(g.input->front(), '{');  // still JSON, not a string
  ASSERT_TRUE(g.output);
  EXPECT_EQ(*g.output, "\"" + std::string(64, 'x') + "\"");  // cut → stored as a JSON string
  EXPECT_NE(g.metadata->find("\"request_id\":\"req-1\""), std::string::npos);
}

// The gateway estimates usage a backend did not report (api/token_estimate.h); the generation
// keeps the counts and says they are estimated.
TEST(Sink, MarksEstimatedUsage) {
  SinkOptions o;
  o.capture = CaptureMode::kMetadata;
  GatewaySink sink(nullptr, nullptr, nullptr, o);
  auto r = Record();
  r.usage = {100, 20, 120, 0, true, true};
  r.request_body = std::string(400, 'a');
  r.response_body = std::string(80, 'b');
  auto g = std::get<Observation>(sink.ToItems(r, std::nullopt)[1].body);
  EXPECT_EQ(g.input_tokens, 100);
  EXPECT_EQ(g.output_tokens, 20);
  EXPECT_EQ(g.usage_details, R"({"estimated":true})");
  EXPECT_FALSE(g.input);  // metadata mode keeps no bodies
}

std::shared_ptr<Store> TempStore(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("ap_pipe_" + std::to_string(::getpid()) + name);
  std::filesystem::remove_all(dir);
  auto s = SqliteStore::Open({(dir / "t.db").string()});
  EXPECT_TRUE(s);
  return std::shared_ptr<Store>(std::move(*s));
}

// Config reload swaps prices, capture mode and redaction in place; a bad pattern changes nothing.
TEST(Telemetry, ReloadSwapsPricesCaptureAndRedaction) {
  auto dir = std::filesystem::temp_directory_path() / ("ap_reload_" + std::to_string(::getpid()));
  config::TelemetryConfig cfg;
  cfg.data_dir = dir.string();
  auto started = Telemetry::Start(cfg, false);
  ASSERT_TRUE(started) << started.error();
  auto& tel = **started;
  auto r = Record();
  r.model = "my-finetune";
  r.backend_model.clear();
  r.request_body = R"({"key":"sk-abc123"})";
  EXPECT_FALSE(tel.sink()->CostOf(r));
  auto items = tel.sink()->ToItems(r, std::nullopt);
  EXPECT_FALSE(std::get<Observation>(items[1].body).input);
  EXPECT_EQ(tel.capture_bytes(), 0u);

  config::TelemetryConfig next = cfg;
  next.capture = "full";
  next.capture_limit = 1024;
  next.redact = {"sk-[a-z0-9]+"};
  next.prices.push_back({"my-finetune", "", 1.0, 2.0, -1});
  ASSERT_TRUE(tel.Reload(next));
  auto cost = tel.sink()->CostOf(r);
  ASSERT_TRUE(cost);
  EXPECT_NEAR(cost->total, 1000 * 1e-6 + 100 * 2e-6, 1e-12);
  items = tel.sink()->ToItems(r, cost);
  EXPECT_EQ(std::get<Observation>(items[1].body).input, R"({"key":"[REDACTED]"})");
  EXPECT_EQ(tel.capture_bytes(), 1024u);

  config::TelemetryConfig bad = next;
  bad.capture = "off";
  bad.redact = {"("};
  auto failed = tel.Reload(bad);
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().find("redact"), std::string::npos);
  items = tel.sink()->ToItems(r, cost);
  EXPECT_EQ(std::get<Observation>(items[1].body).input, R"({"key":"[REDACTED]"})");  // unchanged
  tel.Stop();
  std::filesystem::remove_all(dir);
}

TEST(Writer, CommitsAndCallsBackAfterCommit) {
  auto store = TempStore("commit");
  Writer w(store, {});
  GatewaySink sink(nullptr, nullptr, nullptr, {});
  std::atomic<int> committed{0};
  for (int i = 0; i < 100; ++i) {
    auto r = Record();
    r.span_id = "span" + std::to_string(i);
    ASSERT_TRUE(w.TryEnqueue(sink.ToItems(r, std::nullopt), [&](bool ok) { committed += ok; }));
  }
  w.Flush();
  EXPECT_EQ(committed.load(), 100);
  EXPECT_EQ(w.written(), 200);
  EXPECT_EQ(w.depth(), 0);
  EXPECT_EQ(store->Stats()->observations, 100);
  EXPECT_EQ(store->Stats()->traces, 1);  // all share one trace id
}

TEST(Writer, DropsAndCountsWhenFullWithoutBlocking) {
  auto store = TempStore("full");
  WriterOptions o;
  o.queue_capacity = 10;
  Writer w(store, o);
  GatewaySink sink(nullptr, nullptr, nullptr, {});
  int accepted = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 10'000; ++i) {
    auto r = Record();
    r.span_id = "s" + std::to_string(i);
    accepted += w.TryEnqueue(sink.ToItems(r, std::nullopt));
  }
  auto elapsed = std::chrono::steady_clock::now() - t0;
  w.Flush();
  EXPECT_LT(accepted, 10'000);
  EXPECT_EQ(w.dropped(), (10'000 - accepted) * 2);
  EXPECT_EQ(w.written(), accepted * 2);
  EXPECT_LT(elapsed, std::chrono::seconds(5));
  w.Stop();
  EXPECT_FALSE(w.TryEnqueue(sink.ToItems(Record(), std::nullopt)));
}

TEST(Metrics, RepeatedAndAlternatingLabelSetsCountInTheirOwnSeries) {
  auto m = std::make_unique<Metrics>();
  auto r = Record();
  for (int i = 0; i < 3; ++i) m->ObserveRequest(r, "red", 0.5);  // repeats: the thread's shortcut
  auto other = r;
  other.model = "gpt-4o";
  m->ObserveRequest(other, "red", 0.5);
  m->ObserveRequest(r, "blue", 0.5);  // same model, backend and status, another team
  m->ObserveRequest(r, "red", 0.5);
  std::string text = m->Render();
  EXPECT_NE(text.find("agentplane_gateway_requests_total{model=\"gpt-4o-mini\",backend=\"openai\",status=\"200\"} 5\n"),
            std::string::npos);
  EXPECT_NE(text.find("agentplane_gateway_requests_total{model=\"gpt-4o\",backend=\"openai\",status=\"200\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("agentplane_cost_usd_total{team=\"red\",model=\"gpt-4o-mini\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("agentplane_cost_usd_total{team=\"blue\",model=\"gpt-4o-mini\"} 0.5\n"), std::string::npos);
  // A new Metrics (at whatever address) never reuses the previous one's series.
  m = std::make_unique<Metrics>();
  m->ObserveRequest(r, "red", 0.5);
  EXPECT_NE(m->Render().find("agentplane_cost_usd_total{team=\"red\",model=\"gpt-4o-mini\"} 0.5\n"), std::string::npos);
}

TEST(Metrics, RendersPrometheusText) {
  Metrics m;
  auto r = Record();
  m.ObserveRequest(r, "red", 0.25);
  r.status = 502;
  r.usage = {};
  m.ObserveRequest(r, "", -1);
  m.AddCollector([](std::string* out) { *out += "# TYPE other_metric gauge\nother_metric 1\n"; });
  std::string text = m.Render();
  EXPECT_NE(text.find("agentplane_gateway_requests_total{model=\"gpt-4o-mini\",backend=\"openai\",status=\"200\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("agentplane_gateway_requests_total{model=\"gpt-4o-mini\",backend=\"openai\",status=\"502\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("agentplane_cost_usd_total{team=\"red\",model=\"gpt-4o-mini\"} 0.25\n"), std::string::npos);
  EXPECT_NE(text.find("gen_ai_server_time_to_first_token_seconds_bucket{gen_ai_request_model=\"gpt-4o-mini\",le=\"0.25\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("gen_ai_client_token_usage_sum{gen_ai_request_model=\"gpt-4o-mini\",gen_ai_token_type=\"output\"} 100\n"),
            std::string::npos);
  EXPECT_NE(text.find("# TYPE gen_ai_client_operation_duration_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("other_metric 1\n"), std::string::npos);
}

}  // namespace
}  // namespace ap::telemetry

namespace ap::telemetry {
namespace {

// The compact record of a minted-trace request means exactly the items the sink builds for it.
void ExpectSameItems(const std::vector<Item>& a, const std::vector<Item>& b) {
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(a[i].fresh, b[i].fresh) << i;
    EXPECT_EQ(a[i].event_id, b[i].event_id) << i;
  }
  const auto &ta = std::get<Trace>(a[0].body), &tb = std::get<Trace>(b[0].body);
  EXPECT_EQ(std::tie(ta.id, ta.project, ta.timestamp_us, ta.name, ta.user_id, ta.session_id, ta.release, ta.version,
                     ta.environment, ta.tags, ta.input, ta.output, ta.metadata, ta.is_public),
            std::tie(tb.id, tb.project, tb.timestamp_us, tb.name, tb.user_id, tb.session_id, tb.release, tb.version,
                     tb.environment, tb.tags, tb.input, tb.output, tb.metadata, tb.is_public));
  const auto &ga = std::get<Observation>(a[1].body), &gb = std::get<Observation>(b[1].body);
  EXPECT_EQ(std::tie(ga.id, ga.trace_id, ga.project, ga.type, ga.parent_id, ga.name, ga.model, ga.status_message,
                     ga.version, ga.environment, ga.level, ga.start_us, ga.end_us, ga.completion_start_us),
            std::tie(gb.id, gb.trace_id, gb.project, gb.type, gb.parent_id, gb.name, gb.model, gb.status_message,
                     gb.version, gb.environment, gb.level, gb.start_us, gb.end_us, gb.completion_start_us));
  EXPECT_EQ(std::tie(ga.model_parameters, ga.input, ga.output, ga.metadata, ga.input_tokens, ga.output_tokens,
                     ga.total_tokens, ga.cached_tokens, ga.usage_details, ga.cost_details, ga.input_cost,
                     ga.output_cost, ga.total_cost, ga.user_id, ga.team, ga.key, ga.backend, ga.status_code),
            std::tie(gb.model_parameters, gb.input, gb.output, gb.metadata, gb.input_tokens, gb.output_tokens,
                     gb.total_tokens, gb.cached_tokens, gb.usage_details, gb.cost_details, gb.input_cost,
                     gb.output_cost, gb.total_cost, gb.user_id, gb.team, gb.key, gb.backend, gb.status_code));
}

TEST(GatewaySink, CompactRequestMeansTheSameItems) {
  SinkOptions options;
  options.environment = "prod";
  GatewaySink sink(nullptr, nullptr, nullptr, options);
  std::vector<std::pair<std::string, gateway::CompletionRecord>> cases;
  auto base = Record();
  base.trace_minted = true;
  cases.emplace_back("full", base);
  auto r = base;
  r.tags = {};
  r.parent_span_id.clear();
  r.session_id.clear();
  r.usage.cached_tokens = 0;
  r.usage.total_tokens = 0;
  r.first_byte = std::chrono::microseconds(-1);
  cases.emplace_back("sparse", r);
  r = base;
  r.status = 502;
  r.error = "upstream failed";
  r.usage = {};
  cases.emplace_back("error, no usage", r);
  r.error.clear();
  r.tags = {"", "a,b"};
  cases.emplace_back("error without text, odd tags", r);
  r = base;
  r.usage.estimated = true;
  r.project = "team:ml";
  r.team = "ml";
  r.key_id = "key-0123456789ab";
  r.user.clear();
  cases.emplace_back("estimated, team", r);
  for (const auto& [name, rec] : cases) {
    SCOPED_TRACE(name);
    for (const std::optional<Cost>& cost : {std::optional<Cost>(), std::optional<Cost>(Cost{0.1, 0.2, 0.3, "x"})}) {
      GatewayRequest q;
      ASSERT_TRUE(sink.ToRequest(rec, cost, &q));
      ExpectSameItems(ToItems(q), sink.ToItems(rec, cost));
    }
  }
}

TEST(GatewaySink, CompactRequestOnlyForMintedTracesWithoutCaptureThatFit) {
  GatewaySink sink(nullptr, nullptr, nullptr, {});
  GatewayRequest q;
  auto r = Record();
  EXPECT_FALSE(sink.ToRequest(r, std::nullopt, &q));  // the caller's trace id
  r.trace_minted = true;
  EXPECT_TRUE(sink.ToRequest(r, std::nullopt, &q));
  auto upper = r;
  upper.trace_id = "0AF7651916CD43DD8448EB211C80319C";
  EXPECT_FALSE(sink.ToRequest(upper, std::nullopt, &q));
  auto long_user = r;
  long_user.user.assign(GatewayRequest::kTextCapacity, 'u');
  EXPECT_FALSE(sink.ToRequest(long_user, std::nullopt, &q));
  SinkOptions capture;
  capture.capture = CaptureMode::kMetadata;
  GatewaySink capturing(nullptr, nullptr, nullptr, capture);
  EXPECT_FALSE(capturing.ToRequest(r, std::nullopt, &q));
}

// Compact requests share the queue's capacity and counters (two items each), are committed
// with the item entries, and Flush waits for both lanes.
TEST(Writer, QueuesCompactRequestsWithItems) {
  auto store = TempStore("compact");
  Writer w(store, {});
  GatewaySink sink(nullptr, nullptr, nullptr, {});
  std::atomic<int> committed{0};
  for (int i = 0; i < 50; ++i) {
    auto r = Record();
    r.trace_minted = true;
    r.trace_id = TimeOrderedHexId(kNow / 1000 + i);
    r.span_id = "span" + std::to_string(i);
    GatewayRequest q;
    ASSERT_TRUE(sink.ToRequest(r, std::nullopt, &q));
    ASSERT_TRUE(w.TryEnqueue(q));
    auto other = Record();
    other.span_id = "other" + std::to_string(i);
    ASSERT_TRUE(w.TryEnqueue(sink.ToItems(other, std::nullopt), [&](bool ok) { committed += ok; }));
  }
  w.Flush();
  EXPECT_EQ(committed.load(), 50);
  EXPECT_EQ(w.written(), 200);
  EXPECT_EQ(w.depth(), 0);
  EXPECT_EQ(store->Stats()->observations, 100);
  EXPECT_EQ(store->Stats()->traces, 51);  // 50 minted, and the caller's one shared by the rest

  WriterOptions small;
  small.queue_capacity = 4;
  small.linger = std::chrono::milliseconds(200);
  Writer full(store, small);
  auto r = Record();
  r.trace_minted = true;
  GatewayRequest q;
  ASSERT_TRUE(sink.ToRequest(r, std::nullopt, &q));
  int accepted = 0;
  for (int i = 0; i < 10; ++i) accepted += full.TryEnqueue(q);
  EXPECT_LE(accepted, 2);
  EXPECT_EQ(full.dropped(), (10 - accepted) * 2);
  full.Stop();
  EXPECT_FALSE(full.TryEnqueue(q));
}

}  // namespace
}  // namespace ap::telemetry

namespace ap::telemetry {
namespace {

// A store that knows only items (as a new store would start): Store::WriteBatch's default hands
// it each compact request as the trace and generation it stands for.
class ItemsOnlyStore : public Store {
 public:
  explicit ItemsOnlyStore(std::shared_ptr<Store> inner) : inner_(std::move(inner)) {}
  Result<void> WriteGroups(ItemGroups groups) override {
    for (const auto& g : groups) items_ += static_cast<int>(g.size());
    return inner_->WriteGroups(groups);
  }
  Result<std::optional<Trace>> GetTrace(const std::string& p, const std::string& id) override { return inner_->GetTrace(p, id); }
  Result<Page<TraceSummary>> ListTraces(const TraceQuery& q) override { return inner_->ListTraces(q); }
  Result<Page<Observation>> ListObservations(const ObservationQuery& q) override { return inner_->ListObservations(q); }
  Result<std::vector<Score>> ListScores(const std::string& p, const std::string& t) override { return inner_->ListScores(p, t); }
  Result<Page<Score>> QueryScores(const ScoreQuery& q) override { return inner_->QueryScores(q); }
  Result<Page<SessionSummary>> ListSessions(const SessionQuery& q) override { return inner_->ListSessions(q); }
  Result<std::optional<SessionSummary>> GetSession(const std::string& p, const std::string& id) override {
    return inner_->GetSession(p, id);
  }
  Result<std::vector<UsageRow>> AggregateUsage(const UsageQuery& q) override { return inner_->AggregateUsage(q); }
  Result<std::vector<TimeBucket>> TimeSeries(const TimeSeriesQuery& q) override { return inner_->TimeSeries(q); }
  Result<int64_t> DeleteOlderThan(int64_t c) override { return inner_->DeleteOlderThan(c); }
  Result<StoreStats> Stats() override { return inner_->Stats(); }
  int items() const { return items_; }

 private:
  std::shared_ptr<Store> inner_;
  int items_ = 0;
};

TEST(Writer, AStoreWithoutCompactRequestsGetsTheirItems) {
  auto store = std::make_shared<ItemsOnlyStore>(TempStore("items-only"));
  Writer w(store, {});
  GatewaySink sink(nullptr, nullptr, nullptr, {});
  auto r = Record();
  r.trace_minted = true;
  GatewayRequest q;
  ASSERT_TRUE(sink.ToRequest(r, Cost{0.1, 0.2, 0.3, "x"}, &q));
  ASSERT_TRUE(w.TryEnqueue(q));
  w.Flush();
  EXPECT_EQ(store->items(), 2);
  EXPECT_EQ(w.written(), 2);
  auto t = store->GetTrace("default", r.trace_id);
  ASSERT_TRUE(t && *t);
  EXPECT_EQ((*t)->tags, r.tags);
  auto obs = store->ListObservations([&] {
    ObservationQuery oq;
    oq.project = "default";
    oq.trace_id = r.trace_id;
    return oq;
  }());
  ASSERT_TRUE(obs);
  ASSERT_EQ(obs->items.size(), 1u);
  EXPECT_EQ(obs->items[0].id, r.span_id);
  EXPECT_EQ(obs->items[0].total_cost, 0.3);
  EXPECT_EQ(obs->items[0].status_code, 200);
}

}  // namespace
}  // namespace ap::telemetry

namespace ap::telemetry {
namespace {

// A store whose writes wait at a gate the test opens and closes.
class GatedStore : public ItemsOnlyStore {
 public:
  using ItemsOnlyStore::ItemsOnlyStore;
  Result<void> WriteGroups(ItemGroups groups) override {
    {
      std::unique_lock lock(mu_);
      changed_.wait(lock, [&] { return open_; });
    }
    return ItemsOnlyStore::WriteGroups(groups);
  }
  void SetOpen(bool open) {
    {
      std::lock_guard lock(mu_);
      open_ = open;
    }
    changed_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  bool open_ = true;
};

template <typename Predicate>
bool Eventually(Predicate predicate) {
  for (int i = 0; i < 400 && !predicate(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return predicate();
}

TEST(Writer, WritesAtIdlePriorityAndIsBoostedWhileWorkMustNotWait) {
  auto store = std::make_shared<GatedStore>(TempStore("background"));
  WriterOptions o;
  o.queue_capacity = 64;
  o.boost_depth = 16;
  o.linger = std::chrono::milliseconds(0);
  Writer w(store, o);
  ASSERT_TRUE(Eventually([&] { return w.thread_id() != 0; }));
  const int id = w.thread_id();
  GatewaySink sink(nullptr, nullptr, nullptr, {});
  auto r = Record();
  r.trace_minted = true;
  GatewayRequest q;
  ASSERT_TRUE(sink.ToRequest(r, std::nullopt, &q));
  auto priority = [&] { return base::ThreadPriorityOf(id); };
  if (!base::CanLeaveIdlePriority()) {  // an unprivileged container: batch priority, never boosted
    EXPECT_TRUE(Eventually([&] { return priority() == base::ThreadPriority::kBatch; }));
    ASSERT_TRUE(w.TryEnqueue(q));
    w.Flush();
    EXPECT_EQ(w.boosts(), 0);
    return;
  }
  // Waiting for work (holding or taking the queue's lock) it is at batch priority.
  EXPECT_TRUE(Eventually([&] { return priority() == base::ThreadPriority::kBatch; }));

  // A write with nothing waiting on it runs at idle priority: the store holds the first request.
  store->SetOpen(false);
  ASSERT_TRUE(w.TryEnqueue(q));
  ASSERT_TRUE(Eventually([&] { return priority() == base::ThreadPriority::kIdle; }));
  // A backlog: six more (14 items in all) are still idle work; the next reaches boost_depth.
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(w.TryEnqueue(q));
  EXPECT_EQ(priority(), base::ThreadPriority::kIdle);
  EXPECT_EQ(w.boosts(), 0);
  ASSERT_TRUE(w.TryEnqueue(q));
  EXPECT_EQ(priority(), base::ThreadPriority::kBatch);
  EXPECT_EQ(w.boosts(), 1);
  store->SetOpen(true);
  EXPECT_TRUE(Eventually([&] { return w.depth() == 0; }));
  EXPECT_TRUE(Eventually([&] { return priority() == base::ThreadPriority::kBatch; }));  // back to waiting

  // An entry someone waits for (an ingestion reply) is urgent however short the queue.
  store->SetOpen(false);
  ASSERT_TRUE(w.TryEnqueue(q));
  ASSERT_TRUE(Eventually([&] { return priority() == base::ThreadPriority::kIdle; }));
  std::atomic<bool> committed{false};
  ASSERT_TRUE(w.TryEnqueue(sink.ToItems(Record(), std::nullopt), [&](bool ok) { committed = ok; }));
  EXPECT_EQ(priority(), base::ThreadPriority::kBatch);
  EXPECT_EQ(w.boosts(), 2);
  store->SetOpen(true);
  EXPECT_TRUE(Eventually([&] { return committed.load(); }));
  EXPECT_TRUE(Eventually([&] { return w.depth() == 0; }));
  EXPECT_EQ(w.written(), 20);
  EXPECT_EQ(w.dropped(), 0);
}

TEST(Writer, InTheBackgroundStaysOffTheCpusItIsToldOfWhileOthersRemain) {
  const base::CpuSet allowed = base::ThreadCpus();
  if (allowed.count() < 2) GTEST_SKIP() << "one CPU: nowhere else to go";
  int first = 0, last = 0;
  for (int cpu = 0; cpu < base::kMaxCpus; ++cpu)
    if (allowed.test(cpu)) last = cpu;
  while (!allowed.test(first)) ++first;
  base::CpuSet loops;  // declared before the writer: it outlives every call of the source
  std::atomic<int> asked{0};
  WriterOptions o;
  o.linger = std::chrono::milliseconds(0);
  Writer w(TempStore("placement"), o);
  ASSERT_TRUE(Eventually([&] { return w.thread_id() != 0; }));
  GatewaySink sink(nullptr, nullptr, nullptr, {});
  auto r = Record();
  r.trace_minted = true;
  GatewayRequest q;
  ASSERT_TRUE(sink.ToRequest(r, std::nullopt, &q));
  auto write = [&] {
    ASSERT_TRUE(w.TryEnqueue(q));
    w.Flush();
  };
  auto writer_cpus = [&] { return base::ThreadCpus(w.thread_id()); };
  {
    KeptOffCpus kept(&w, [&] {
      ++asked;
      return loops;
    });
    loops.set(first);
    write();
    EXPECT_GT(asked.load(), 0);
    EXPECT_EQ(writer_cpus(), allowed & ~loops);
    loops = allowed;  // event loops on every CPU: the writer may go anywhere again
    write();
    EXPECT_EQ(writer_cpus(), allowed);
    loops.reset();
    loops.set(first);
    write();
    EXPECT_EQ(writer_cpus(), allowed & ~loops);
    // The process's CPUs are read at each write: narrowed to all but `last` (this test's thread
    // is the main thread, whose mask ProcessId names), the writer may not use `last` either.
    ASSERT_EQ(base::ThisThreadId(), base::ProcessId());
    base::CpuSet narrowed = allowed;
    narrowed.reset(last);
    ASSERT_TRUE(base::SetThreadCpus(0, narrowed));
    write();
    const base::CpuSet seen = writer_cpus();
    ASSERT_TRUE(base::SetThreadCpus(0, allowed));  // restored before any check can return
    EXPECT_EQ(seen, (narrowed & ~loops).any() ? narrowed & ~loops : narrowed);
  }
  const int calls = asked.load();
  write();  // the guard cleared the source: not asked again, placed anywhere
  EXPECT_EQ(asked.load(), calls);
  EXPECT_EQ(writer_cpus(), allowed);
}

TEST(Writer, InTheForegroundKeepsNormalPriority) {
  base::CpuSet loops;  // outlives the writer that may read it
  WriterOptions o;
  o.background = false;
  Writer w(TempStore("foreground"), o);
  ASSERT_TRUE(Eventually([&] { return w.thread_id() != 0; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(base::ThreadPriorityOf(w.thread_id()), base::ThreadPriority::kNormal);
  // Nor does it move off the event loops' CPUs: the kernel places it.
  const base::CpuSet allowed = base::ThreadCpus();
  for (int cpu = 0; cpu < base::kMaxCpus && loops.none(); ++cpu)
    if (allowed.test(cpu)) loops.set(cpu);
  w.KeepOffCpus([&] { return loops; });
  GatewaySink sink(nullptr, nullptr, nullptr, {});
  auto r = Record();
  r.trace_minted = true;
  GatewayRequest q;
  ASSERT_TRUE(sink.ToRequest(r, std::nullopt, &q));
  ASSERT_TRUE(w.TryEnqueue(q));
  w.Flush();
  EXPECT_EQ(base::ThreadCpus(w.thread_id()), allowed);
}

}  // namespace
}  // namespace ap::telemetry
