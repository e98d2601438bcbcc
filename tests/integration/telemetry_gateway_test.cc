// tests/integration/telemetry_gateway_test.cc — telemetry wired into an in-process gateway the
// way cmd/serve_gateway.cc wires it: a gateway request becomes a generation with the right
// usage and cost, readable through the Langfuse and JSON APIs; ingestion replies 207, is
// idempotent and refuses bad keys; OTLP/HTTP ingests; /metrics reports the request.
#include <filesystem>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "gateway_harness.h"
#include "mock_upstream.h"
#include "telemetry/telemetry.h"

namespace ap::testing {
namespace {
namespace json = boost::json;

// base64("pk-lf-1:sk-lf-1")
const std::pair<std::string, std::string> kAuth{"authorization", "Basic cGstbGYtMTpzay1sZi0x"};

struct TelemetryGateway {
  explicit TelemetryGateway(const std::string& upstream_url) {
    dir = (std::filesystem::temp_directory_path() / ("ap_telgw_" + std::to_string(::getpid()))).string();
    std::filesystem::remove_all(dir);
    setenv("AP_UP1", upstream_url.c_str(), 1);
    auto cfg = config::ParseConfig(R"(
backends: [{name: b1, url: "${AP_UP1}", model: gpt-4o-mini}]
models: [{name: public-model, backends: [b1]}]
telemetry:
  capture: full
  redact: ['sk-[a-z0-9]+']
  projects: [{name: default, public_key: pk-lf-1, secret_key: sk-lf-1}]
)", "t.yaml");
    EXPECT_TRUE(cfg) << cfg.error().ToString();
    cfg->telemetry.data_dir = dir;
    auto started = telemetry::Telemetry::Start(cfg->telemetry, false);
    EXPECT_TRUE(started) << started.error();
    tel = std::move(*started);
    gateway::GatewayOptions options;
    options.mounts = tel->Mounts();
    options.capture_bytes = tel->capture_bytes();
    options.cost_estimator = [sink = tel->sink()](const gateway::CompletionRecord& r) -> std::optional<double> {
      auto cost = sink->CostOf(r);
      return cost ? std::optional<double>(cost->total) : std::nullopt;
    };
    auto table = gateway::RouteTable::Build(*cfg, nullptr);
    gw = std::make_shared<gateway::Gateway>(*table, tel->sink(), options);
    server = std::make_unique<http::Server>(http::ServerOptions{}, gw);
    EXPECT_TRUE(server->Start());
  }
  ~TelemetryGateway() {
    server->Shutdown(std::chrono::milliseconds(200));
    tel->Stop();
    std::filesystem::remove_all(dir);
  }
  // Records trail the response by a moment; then the writer commits them.
  void Settle(int64_t at_least_items) {
    for (int i = 0; i < 300 && tel->writer()->written() < at_least_items; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    tel->writer()->Flush();
  }
  std::string dir;
  std::unique_ptr<telemetry::Telemetry> tel;
  std::shared_ptr<gateway::Gateway> gw;
  std::unique_ptr<http::Server> server;
};

TEST(TelemetryGateway, RequestBecomesAGenerationWithUsageAndCost) {
  MockUpstream up;
  TelemetryGateway g(up.url());
  TestClient c(g.server->port());
  auto r = c.Post("/v1/chat/completions",
                  R"({"model":"public-model","user":"alice","messages":[{"role":"user","content":"key sk-abc123"}]})",
                  {{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
                   {"x-session-id", "sess-7"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NEAR(std::stod(r.headers["x-agentplane-cost-usd"]), 11 * 0.15e-6 + 7 * 0.60e-6, 1e-12);
  g.Settle(2);
  auto t = c.Get("/api/public/traces/0af7651916cd43dd8448eb211c80319c", {kAuth});
  ASSERT_EQ(t.status, 200) << t.body;
  auto trace = json::parse(t.body).as_object();
  EXPECT_EQ(trace["userId"], "alice");
  EXPECT_EQ(trace["sessionId"], "sess-7");
  auto& obs = trace["observations"].as_array();
  ASSERT_EQ(obs.size(), 1u);
  auto& gen = obs[0].as_object();
  EXPECT_EQ(gen["type"], "GENERATION");
  EXPECT_EQ(gen["parentObservationId"], "b7ad6b7169203331");
  EXPECT_EQ(gen["model"], "public-model");
  EXPECT_EQ(gen["usage"].at("input"), 11);   // the mock's usage: 11 prompt + 7 completion
  EXPECT_EQ(gen["usage"].at("output"), 7);
  double expected_cost = 11 * 0.15e-6 + 7 * 0.60e-6;  // gpt-4o-mini list price
  EXPECT_NEAR(gen["calculatedTotalCost"].to_number<double>(), expected_cost, 1e-12);
  EXPECT_NE(json::serialize(gen["input"]).find("[REDACTED]"), std::string::npos);
  EXPECT_EQ(json::serialize(gen["input"]).find("sk-abc123"), std::string::npos);
  EXPECT_FALSE(gen["timeToFirstToken"].is_null());

  auto usage = c.Get("/api/telemetry/usage?group_by=model,user", {kAuth});
  ASSERT_EQ(usage.status, 200) << usage.body;
  auto rows = json::parse(usage.body).at("rows").as_array();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("user"), "alice");
  EXPECT_NEAR(rows[0].at("cost_usd").to_number<double>(), expected_cost, 1e-12);
  auto list = c.Get("/api/telemetry/traces?session=sess-7&status=ok", {kAuth});
  EXPECT_EQ(json::parse(list.body).at("traces").as_array().size(), 1u);

  auto metrics = c.Get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("agentplane_gateway_requests_total{model=\"public-model\",backend=\"b1\",status=\"200\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("agentplane_cost_usd_total{team=\"none\",model=\"public-model\"}"), std::string::npos);
  EXPECT_NE(metrics.body.find("agentplane_telemetry_dropped_items_total 0"), std::string::npos);
}

TEST(TelemetryGateway, LangfuseIngestionIs207IdempotentAndAuthenticated) {
  MockUpstream up;
  TelemetryGateway g(up.url());
  TestClient c(g.server->port());
  std::string batch = R"({"batch":[
    {"id":"ev-1","type":"trace-create","timestamp":"2024-05-01T12:00:00Z","body":{"id":"lf-trace","name":"agent","userId":"bob"}},
    {"id":"ev-2","type":"generation-create","timestamp":"2024-05-01T12:00:00Z","body":{"id":"lf-gen","traceId":"lf-trace","model":"gpt-4o","startTime":"2024-05-01T12:00:00Z","usage":{"input":1000,"output":100}}},
    {"id":"ev-3","type":"bogus","body":{}}]})";
  auto r = c.Post("/api/public/ingestion", batch, {kAuth});
  ASSERT_EQ(r.status, 207) << r.body;
  auto reply = json::parse(r.body).as_object();
  EXPECT_EQ(reply["successes"].as_array().size(), 2u);
  ASSERT_EQ(reply["errors"].as_array().size(), 1u);
  EXPECT_EQ(reply["errors"].at(0).at("id"), "ev-3");
  EXPECT_EQ(reply["errors"].at(0).at("status"), 400);
  // Acknowledged means committed: readable at once, with the price table's cost.
  auto t = c.Get("/api/public/observations?traceId=lf-trace", {kAuth});
  ASSERT_EQ(t.status, 200) << t.body;
  auto data = json::parse(t.body).at("data").as_array();
  ASSERT_EQ(data.size(), 1u);
  // gpt-4o as priced on 2024-05-01 (before the 2024-10-01 price cut): $5 / $15 per million.
  EXPECT_NEAR(data[0].at("calculatedTotalCost").to_number<double>(), 1000 * 5e-6 + 100 * 15e-6, 1e-12);
  // The SDK re-sends whole batches: nothing is counted twice.
  ASSERT_EQ(c.Post("/api/public/ingestion", batch, {kAuth}).status, 207);
  auto usage = json::parse(c.Get("/api/telemetry/usage", {kAuth}).body).at("rows").as_array();
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage[0].at("generations"), 1);

  auto bad = c.Post("/api/public/ingestion", batch, {{"authorization", "Basic cGstbGYtMTp3cm9uZw=="}});
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(c.Get("/api/public/traces").status, 401);
  EXPECT_EQ(c.Post("/api/public/ingestion", "not json", {kAuth}).status, 400);
}

TEST(TelemetryGateway, OtlpJsonSpansBecomeGenerations) {
  MockUpstream up;
  TelemetryGateway g(up.url());
  TestClient c(g.server->port());
  std::string body = R"({"resourceSpans":[{"scopeSpans":[{"spans":[
    {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"chat claude",
     "startTimeUnixNano":"1714564800000000000","endTimeUnixNano":"1714564801000000000",
     "attributes":[{"key":"gen_ai.request.model","value":{"stringValue":"claude-3-5-haiku"}},
                   {"key":"gen_ai.usage.input_tokens","value":{"intValue":"1000"}},
                   {"key":"gen_ai.usage.output_tokens","value":{"intValue":"10"}},
                   {"key":"user.id","value":{"stringValue":"carol"}}]}]}]}]})";
  auto r = c.Post("/v1/traces", body, {kAuth, {"content-type", "application/json"}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto t = c.Get("/api/telemetry/traces/5b8efff798038103d269b633813fc60c", {kAuth});
  ASSERT_EQ(t.status, 200) << t.body;
  auto trace = json::parse(t.body).as_object();
  EXPECT_EQ(trace["userId"], "carol");
  auto& gen = trace["observations"].at(0).as_object();
  EXPECT_EQ(gen["type"], "GENERATION");
  EXPECT_NEAR(gen["calculatedTotalCost"].to_number<double>(), 1000 * 0.8e-6 + 10 * 4e-6, 1e-12);
  EXPECT_EQ(c.Post("/v1/traces", "junk", {kAuth, {"content-type", "application/x-protobuf"}}).status, 400);
}

}  // namespace
}  // namespace ap::testing

namespace ap::testing {
namespace {

// A streamed reply cannot carry its cost in the head (the usage comes last): it follows the
// last chunk as an HTTP trailer announced by `Trailer:`.
TEST(TelemetryGateway, StreamedRepliesCarryTheCostAsATrailer) {
  MockUpstream up;
  up.SetScript([](int) {
    MockAction a;
    a.stream = true;
    a.chunks = 4;
    return a;
  });
  TelemetryGateway g(up.url());
  TestClient c(g.server->port());
  auto r = c.Post("/v1/chat/completions", R"({"model":"public-model","stream":true,"messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["Trailer"], "x-agentplane-cost-usd");
  ASSERT_TRUE(r.headers.count("x-agentplane-cost-usd")) << "trailer not received";
  EXPECT_NEAR(std::stod(r.headers["x-agentplane-cost-usd"]), 11 * 0.15e-6 + 4 * 0.60e-6, 1e-12);
  EXPECT_EQ(r.body.find("\"usage\":{"), std::string::npos);  // the client did not ask for it
}

// A backend that reports no usage still gets its request counted and priced: the gateway
// estimates prompt and completion tokens, and telemetry marks them as estimated.
TEST(TelemetryGateway, MissingUsageIsEstimatedAndMarked) {
  MockUpstream up;
  up.SetScript([](int) {
    MockAction a;
    a.body = R"({"id":"x","object":"chat.completion","created":1,"model":"backend","choices":[{"index":0,)"
             R"("message":{"role":"assistant","content":"The quick brown fox jumps over the lazy dog."},"finish_reason":"stop"}]})";
    return a;
  });
  TelemetryGateway g(up.url());
  TestClient c(g.server->port());
  auto r = c.Post("/v1/chat/completions",
                  R"({"model":"public-model","messages":[{"role":"user","content":"Tell me about foxes."}]})",
                  {{"x-trace-id", "estimate-1"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.headers.count("x-agentplane-cost-usd"));
  g.Settle(2);
  auto t = c.Get("/api/public/traces/estimate-1", {kAuth});
  ASSERT_EQ(t.status, 200) << t.body;
  json::value trace = json::parse(t.body);
  const auto& gen = trace.at("observations").as_array().at(0).as_object();
  EXPECT_NEAR(gen.at("usage").at("output").to_number<double>(), 10, 3);  // cl100k: 10
  EXPECT_NEAR(gen.at("usage").at("input").to_number<double>(), 12, 4);   // 5 of text + framing
  EXPECT_NE(json::serialize(gen).find("estimated"), std::string::npos);
}

}  // namespace
}  // namespace ap::testing

namespace ap::testing {
namespace {

// Ids arrive percent-decoded once; a second decoding used to throw on "%zz" and end the process.
TEST(TelemetryGateway, OddTraceIdsAreLookedUpNotDecodedTwice) {
  MockUpstream up;
  TelemetryGateway g(up.url());
  TestClient c(g.server->port());
  for (const char* path : {"/api/public/traces/%25zz", "/api/telemetry/traces/%25g1", "/api/public/observations/%25",
                           "/api/public/sessions/%2525"}) {
    auto r = c.Get(path, {kAuth});
    EXPECT_EQ(r.status, 404) << path << ": " << r.body;
  }
  EXPECT_EQ(c.Get("/healthz").status, 200);  // still up
}

}  // namespace
}  // namespace ap::testing
