// End-to-end through an in-process gateway: wire format, streaming, routing, errors.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <thread>

#include <boost/json/parse.hpp>

#include "gateway_harness.h"
#include "mock_upstream.h"

namespace ap::testing {
namespace {
namespace json = boost::json;

std::string OneBackend(const std::string& url, const std::string& extra = "") {
  setenv("AP_UP1", url.c_str(), 1);
  return R"(
server: {max_body_size: 4KiB, max_header_size: 2KiB, read_timeout: 300ms}
backends:
  - name: b1
    url: ${AP_UP1}
    model: served-model
    headers: {x-extra: "42"}
models:
  - name: public-model
    backends: [b1]
)" + extra;
}

TEST(Proxy, NonStreamingRewritesModelOnlyAndRecordsUsage) {
  MockUpstream up;
  TestGateway g(OneBackend(up.url()));
  TestClient c(g.port());
  std::string body = R"({"model":"public-model","messages":[{"role":"user","content":"hi"}],"temperature":0.70,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"response_format":{"type":"json_object"},"logprobs":true})";
  auto r = c.Post("/v1/chat/completions", body, {{"x-request-id", "req-123"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["x-request-id"], "req-123");
  EXPECT_EQ(json::parse(r.body).at("choices").at(0).at("message").at("content").as_string(), "hello");
  auto got = up.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].target, "/v1/chat/completions");
  std::string expected = body;
  expected.replace(expected.find("public-model"), 12, "served-model");
  EXPECT_EQ(got[0].body, expected);  // byte for byte, except the model
  EXPECT_EQ(got[0].headers["x-extra"], "42");
  EXPECT_EQ(got[0].headers["x-request-id"], "req-123");
  // The rest of the head the gateway writes for the backend.
  EXPECT_EQ(got[0].headers["Host"], "127.0.0.1:" + std::to_string(up.port()));
  EXPECT_EQ(got[0].headers["Content-Type"], "application/json");
  EXPECT_EQ(got[0].headers["Accept"], "application/json");
  EXPECT_EQ(got[0].headers["User-Agent"], "agentplane/0.1");
  EXPECT_EQ(got[0].headers["Content-Length"], std::to_string(expected.size()));
  EXPECT_EQ(got[0].headers.count("Authorization"), 0u);
  auto recs = g.sink->records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].status, 200);
  EXPECT_EQ(recs[0].backend, "b1");
  EXPECT_EQ(recs[0].backend_model, "served-model");
  EXPECT_EQ(recs[0].route, "model:public-model");
  EXPECT_TRUE(recs[0].usage.known);
  EXPECT_EQ(recs[0].usage.total_tokens, 18);
  EXPECT_GE(recs[0].first_byte.count(), 0);
}

TEST(Proxy, StreamDropsUsageChunkTheClientDidNotAskFor) {
  MockUpstream up;
  up.SetScript([](int) { MockAction a; a.stream = true; a.chunks = 4; return a; });
  TestGateway g(OneBackend(up.url()));
  TestClient c(g.port());
  auto r = c.Post("/v1/chat/completions", R"({"model":"public-model","stream":true,"messages":[]})");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["Content-Type"], "text/event-stream");
  auto events = SseData(r.body);
  ASSERT_EQ(events.size(), 5u);  // 4 token chunks + [DONE]; the usage chunk was removed
  EXPECT_EQ(events.back(), "[DONE]");
  for (const auto& e : events) EXPECT_EQ(e.find("\"choices\":[]"), std::string::npos);
  // The backend was asked for usage anyway, and the gateway learned it.
  auto sent = json::parse(up.received()[0].body);
  EXPECT_TRUE(sent.at("stream_options").at("include_usage").as_bool());
  auto recs = g.sink->records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_TRUE(recs[0].usage.known);
  EXPECT_EQ(recs[0].usage.completion_tokens, 4);
}

TEST(Proxy, StreamRelaysUsageWhenAsked) {
  MockUpstream up;
  up.SetScript([](int) { MockAction a; a.stream = true; a.chunks = 2; return a; });
  TestGateway g(OneBackend(up.url()));
  TestClient c(g.port());
  auto r = c.Post("/v1/chat/completions",
                  R"({"model":"public-model","stream":true,"stream_options":{"include_usage":true}})");
  auto events = SseData(r.body);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(json::parse(events[2]).at("usage").at("completion_tokens").as_int64(), 2);
}

TEST(Proxy, CompletionsEmbeddingsAndModels) {
  MockUpstream up;
  up.SetScript([](int) {
    MockAction a;
    a.body = R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"usage":{"prompt_tokens":3,"total_tokens":3}})";
    return a;
  });
  TestGateway g(OneBackend(up.url()));
  TestClient c(g.port());
  auto e = c.Post("/v1/embeddings", R"({"model":"public-model","input":"hello"})");
  ASSERT_EQ(e.status, 200);
  EXPECT_EQ(up.received()[0].target, "/v1/embeddings");
  auto cpl = c.Post("/v1/completions", R"({"model":"public-model","prompt":"hello"})");
  ASSERT_EQ(cpl.status, 200);
  EXPECT_EQ(up.received()[1].target, "/v1/completions");
  auto m = c.Get("/v1/models");
  ASSERT_EQ(m.status, 200);
  auto list = json::parse(m.body);
  EXPECT_EQ(list.at("object").as_string(), "list");
  EXPECT_EQ(list.at("data").at(0).at("id").as_string(), "public-model");
  EXPECT_EQ(c.Get("/healthz").status, 200);
  EXPECT_EQ(c.Get("/readyz").status, 200);
}

TEST(Proxy, ClientErrorsAreOpenAiShaped) {
  MockUpstream up;
  TestGateway g(OneBackend(up.url()));
  TestClient c(g.port());
  auto check = [](const Reply& r, int status, const std::string& type, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body;
    auto v = json::parse(r.body);
    EXPECT_EQ(v.at("error").at("type").as_string(), type);
    if (!code.empty()) {
      EXPECT_EQ(v.at("error").at("code").as_string(), code);
    }
    EXPECT_TRUE(v.at("error").as_object().contains("param"));
    EXPECT_TRUE(v.at("error").as_object().contains("message"));
  };
  check(c.Post("/v1/chat/completions", R"({"model":"nope","messages":[]})"), 404, "invalid_request_error", "model_not_found");
  check(c.Post("/v1/chat/completions", R"({"model":"public-model",)"), 400, "invalid_request_error", "invalid_json");
  check(c.Post("/v1/chat/completions", R"({"messages":[]})"), 400, "invalid_request_error", "missing_required_parameter");
  check(c.Post("/v1/chat/completions", R"({"model":"public-model","stream":1})"), 400, "invalid_request_error", "");
  check(c.Post("/v1/nothing", "{}"), 404, "invalid_request_error", "unknown_url");
  EXPECT_EQ(up.calls(), 0);
  TestClient big(g.port());
  check(big.Post("/v1/chat/completions", std::string(5000, ' ')), 413, "invalid_request_error", "");
  TestClient headers(g.port());
  check(headers.Post("/v1/chat/completions", "{}", {{"x-big", std::string(3000, 'a')}}), 431, "invalid_request_error", "");
}

TEST(Proxy, SlowClientGets408) {
  MockUpstream up;
  TestGateway g(OneBackend(up.url()));
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket s(ioc);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), g.port()});
  std::string partial = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"mo";
  boost::asio::write(s, boost::asio::buffer(partial));
  std::string response(4096, '\0');
  boost::system::error_code ec;
  size_t n = s.read_some(boost::asio::buffer(response), ec);  // blocks until the 300 ms read timeout
  response.resize(n);
  EXPECT_NE(response.find("408"), std::string::npos) << response;
  EXPECT_NE(response.find("invalid_request_error"), std::string::npos);
}

TEST(Proxy, StaticKeysAreRequired) {
  MockUpstream up;
  TestGateway g(OneBackend(up.url(), "auth: {keys: [sk-good]}\n"));
  TestClient c(g.port());
  std::string body = R"({"model":"public-model","messages":[]})";
  auto none = c.Post("/v1/chat/completions", body);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(json::parse(none.body).at("error").at("type").as_string(), "authentication_error");
  EXPECT_EQ(c.Post("/v1/chat/completions", body, {{"authorization", "Bearer sk-bad"}}).status, 401);
  EXPECT_EQ(c.Post("/v1/chat/completions", body, {{"authorization", "Bearer sk-good"}}).status, 200);
  EXPECT_EQ(c.Post("/v1/chat/completions", body, {{"x-api-key", "sk-good"}}).status, 200);
  EXPECT_EQ(c.Get("/v1/models").status, 401);
  // The gateway's key never goes upstream.
  for (const auto& r : up.received()) EXPECT_EQ(r.headers.count("Authorization"), 0u);
}

TEST(Proxy, BackendKeyIsSentUpstream) {
  MockUpstream up;
  setenv("AP_UP1", up.url().c_str(), 1);
  setenv("AP_BACKEND_KEY", "sk-upstream", 1);
  TestGateway g(R"(
backends: [{name: b, url: "${AP_UP1}", api_key: "${AP_BACKEND_KEY}"}]
models: [{name: m, backends: [b]}]
)");
  TestClient c(g.port());
  ASSERT_EQ(c.Post("/v1/chat/completions", R"({"model":"m"})").status, 200);
  EXPECT_EQ(up.received()[0].headers["Authorization"], "Bearer sk-upstream");
  // The model is passed through unchanged when the backend names none.
  EXPECT_EQ(json::parse(up.received()[0].body).at("model").as_string(), "m");
}

// The reference HTTPRoute: x-model-id selects the rule; 80/20 canary within 2% over 10,000.
TEST(Proxy, ReferenceHttpRouteCanarySplit) {
  MockUpstream stable, canary, claude;
  setenv("AP_UP1", stable.url().c_str(), 1);
  setenv("AP_UP2", canary.url().c_str(), 1);
  setenv("AP_UP3", claude.url().c_str(), 1);
  TestGateway g(R"(
server: {access_log: off}
backends:
  - {name: vllm-gpt4, url: "${AP_UP1}"}
  - {name: vllm-gpt4-canary, url: "${AP_UP2}"}
  - {name: vllm-claude, url: "${AP_UP3}"}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ai-model-routing, namespace: ai-inference}
spec:
  parentRefs: [{name: ai-gateway, namespace: ai-gateway}]
  rules:
    - matches:
        - path: {type: PathPrefix, value: /v1/chat/completions}
          headers: [{name: x-model-id, value: "gpt-4"}]
      backendRefs:
        - {name: vllm-gpt4, port: 8000, weight: 80}
        - {name: vllm-gpt4-canary, port: 8000, weight: 20}
    - matches:
        - path: {type: PathPrefix, value: /v1/chat/completions}
          headers: [{name: x-model-id, value: "claude-3"}]
      backendRefs:
        - {name: vllm-claude, port: 8000}
)");
  TestClient c(g.port());
  const int n = 10000;
  for (int i = 0; i < n; ++i)
    ASSERT_EQ(c.Post("/v1/chat/completions", R"({"model":"gpt-4","messages":[]})", {{"x-model-id", "gpt-4"}}).status, 200);
  EXPECT_NEAR(stable.calls() / double(n), 0.80, 0.02);
  EXPECT_NEAR(canary.calls() / double(n), 0.20, 0.02);
  EXPECT_EQ(stable.calls() + canary.calls(), n);
  ASSERT_EQ(c.Post("/v1/chat/completions", R"({"model":"claude-3"})", {{"x-model-id", "claude-3"}}).status, 200);
  EXPECT_EQ(claude.calls(), 1);
  // No header: no rule matches and no model is configured.
  EXPECT_EQ(c.Post("/v1/chat/completions", R"({"model":"gpt-4"})").status, 404);
}

TEST(Proxy, QuickStartForwardsModelsListToTheBackend) {
  MockUpstream up;
  up.SetScript([](int) { MockAction a; a.body = R"({"object":"list","data":[{"id":"llama","object":"model"}]})"; return a; });
  auto cfg = config::SingleBackendConfig(up.url(), "");
  ASSERT_TRUE(cfg);
  auto table = gateway::RouteTable::Build(*cfg, nullptr);
  auto gw = std::make_shared<gateway::Gateway>(*table, nullptr);
  http::Server server(http::ServerOptions{}, gw);
  ASSERT_TRUE(server.Start());
  TestClient c(server.port());
  auto r = c.Get("/v1/models", {{"authorization", "Bearer sk-client"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body).at("data").at(0).at("id").as_string(), "llama");
  EXPECT_EQ(up.received()[0].target, "/v1/models");
  // No gateway keys: the client's own key is passed on (OpenAI quick start).
  EXPECT_EQ(up.received()[0].headers["Authorization"], "Bearer sk-client");
  EXPECT_EQ(c.Post("/v1/chat/completions", R"({"model":"anything"})").status, 200);
  server.Shutdown(std::chrono::milliseconds(100));
}

}  // namespace
}  // namespace ap::testing

namespace ap::testing {
namespace {

class FixedHandler : public http::Handler {
 public:
  http::net::awaitable<void> Handle(http::Request& req, http::Responder& res) override {
    http::Response r{http::Status::ok, 11};
    r.body() = "mounted:" + std::string(req.target());
    co_await res.Send(std::move(r));
  }
  http::Response ProtocolError(http::Status s, std::string_view) override { return http::Response{s, 11}; }
};

// Other modules serve their endpoints on the gateway's port through mounts.
TEST(Proxy, MountedHandlersTakeTheirPrefix) {
  MockUpstream up;
  auto cfg = config::SingleBackendConfig(up.url(), "");
  auto table = gateway::RouteTable::Build(*cfg, nullptr);
  gateway::GatewayOptions options;
  options.mounts.push_back({"/api/public/", std::make_shared<FixedHandler>()});
  auto gw = std::make_shared<gateway::Gateway>(*table, nullptr, options);
  http::Server server(http::ServerOptions{}, gw);
  ASSERT_TRUE(server.Start());
  TestClient c(server.port());
  auto r = c.Get("/api/public/traces?limit=1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "mounted:/api/public/traces?limit=1");
  EXPECT_EQ(c.Post("/v1/chat/completions", R"({"model":"x"})").status, 200);
  EXPECT_EQ(up.calls(), 1);
  server.Shutdown(std::chrono::milliseconds(100));
}

}  // namespace
}  // namespace ap::testing

namespace ap::testing {
namespace {

TEST(Proxy, TraceContextSessionUserAndTagsReachTheRecord) {
  MockUpstream up;
  setenv("AP_UP1", up.url().c_str(), 1);
  TestGateway g("backends: [{name: b, url: '${AP_UP1}'}]\nmodels: [{name: m, backends: [b]}]\n");
  TestClient c(g.port());
  ASSERT_EQ(c.Post("/v1/chat/completions", R"({"model":"m","user":"alice"})",
                   {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
                    {"x-session-id", "sess-1"}, {"x-tags", "prod, canary"}}).status, 200);
  auto r = g.sink->records()[0];
  EXPECT_EQ(r.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(r.parent_span_id, "00f067aa0ba902b7");
  EXPECT_EQ(r.span_id.size(), 16u);
  EXPECT_EQ(r.session_id, "sess-1");
  EXPECT_EQ(r.user, "alice");
  ASSERT_EQ(r.tags.size(), 2u);
  EXPECT_EQ(r.tags[1], "canary");
  EXPECT_EQ(up.received()[0].headers["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  // A malformed traceparent is ignored: a fresh trace id is minted.
  ASSERT_EQ(c.Post("/v1/chat/completions", R"({"model":"m"})", {{"traceparent", "00-zz-00-01"}, {"x-user-id", "bob"}}).status, 200);
  auto r2 = g.sink->records(2)[1];
  EXPECT_EQ(r2.trace_id.size(), 32u);
  EXPECT_TRUE(r2.parent_span_id.empty());
  EXPECT_EQ(r2.user, "bob");
  EXPECT_TRUE(r2.request_body.empty());  // capture is off by default
}

TEST(Proxy, PayloadCaptureIsBounded) {
  MockUpstream up;
  up.SetScript([](int call) { MockAction a; a.stream = call == 1; a.chunks = 3; return a; });
  setenv("AP_UP1", up.url().c_str(), 1);
  gateway::GatewayOptions options;
  options.capture_bytes = 200;
  TestGateway g("backends: [{name: b, url: '${AP_UP1}'}]\nmodels: [{name: m, backends: [b]}]\n", 2, options);
  TestClient c(g.port());
  std::string body = R"({"model":"m","messages":[{"role":"user","content":")" + std::string(300, 'x') + R"("}]})";
  ASSERT_EQ(c.Post("/v1/chat/completions", body).status, 200);
  auto r = g.sink->records()[0];
  EXPECT_EQ(r.request_body, body.substr(0, 200));
  EXPECT_TRUE(r.payload_truncated);
  EXPECT_NE(r.response_body.find("\"hello\""), std::string::npos);
  ASSERT_EQ(c.Post("/v1/chat/completions", R"({"model":"m","stream":true})").status, 200);
  auto s = g.sink->records(2)[1];
  EXPECT_NE(s.response_body.find("\"t0\""), std::string::npos);
  EXPECT_LE(s.response_body.size(), 200u);
}

}  // namespace
}  // namespace ap::testing

namespace ap::testing {
namespace {
TEST(Proxy, RecordsNameTheKeyByAHashNeverTheKey) {
  MockUpstream up;
  setenv("AP_UP1", up.url().c_str(), 1);
  TestGateway g("auth: {keys: [sk-secret-1]}\nbackends: [{name: b, url: '${AP_UP1}'}]\nmodels: [{name: m, backends: [b]}]\n");
  TestClient c(g.port());
  ASSERT_EQ(c.Post("/v1/chat/completions", R"({"model":"m"})", {{"authorization", "Bearer sk-secret-1"}}).status, 200);
  auto r = g.sink->records()[0];
  EXPECT_EQ(r.key_id, gateway::KeyIdFor("sk-secret-1"));
  EXPECT_EQ(r.key_id.size(), 16u);
  EXPECT_EQ(r.key_id.find("secret"), std::string::npos);
  EXPECT_NE(gateway::KeyIdFor("sk-secret-2"), r.key_id);
}
}  // namespace
}  // namespace ap::testing
