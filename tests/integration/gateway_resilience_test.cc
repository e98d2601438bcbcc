// Retries, fallbacks, circuit breaking, timeouts, broken streams, disconnects, drain, reload.
#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>

#include <boost/json/parse.hpp>

#include "gateway_harness.h"
#include "mock_upstream.h"

namespace ap::testing {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

constexpr const char* kChat = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";

std::string Config(const std::string& backends_yaml, const std::string& model_yaml) {
  return "server: {access_log: off}\nbackends:\n" + backends_yaml + "models:\n" + model_yaml;
}

TEST(Resilience, RetriesA500ThenSucceeds) {
  MockUpstream up;
  up.SetScript([](int call) { MockAction a; if (call == 0) a.status = 500, a.body = R"({"error":"boom"})"; return a; });
  setenv("AP_UP1", up.url().c_str(), 1);
  TestGateway g(Config("  - {name: b, url: '${AP_UP1}', retries: {attempts: 3, backoff: 5ms}}\n",
                       "  - {name: m, backends: [b]}\n"));
  TestClient c(g.port());
  auto r = c.Post("/v1/chat/completions", kChat);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(up.calls(), 2);
  EXPECT_EQ(g.sink->records()[0].attempts, 2);
}

TEST(Resilience, HonoursRetryAfterOn429) {
  MockUpstream up;
  std::vector<std::chrono::steady_clock::time_point> times;
  std::mutex mu;
  up.SetScript([&](int call) {
    std::lock_guard lock(mu);
    times.push_back(std::chrono::steady_clock::now());
    MockAction a;
    if (call == 0) {
      a.status = 429;
      a.headers = {{"retry-after", "1"}};
      a.body = R"({"error":{"message":"slow down"}})";
    }
    return a;
  });
  setenv("AP_UP1", up.url().c_str(), 1);
  TestGateway g(Config("  - {name: b, url: '${AP_UP1}', retries: {attempts: 2, backoff: 1ms, max_backoff: 3s}}\n",
                       "  - {name: m, backends: [b]}\n"));
  TestClient c(g.port());
  EXPECT_EQ(c.Post("/v1/chat/completions", kChat).status, 200);
  ASSERT_EQ(times.size(), 2u);
  EXPECT_GE(times[1] - times[0], 950ms);  // waited as asked, not the 1 ms backoff
}

TEST(Resilience, RetryAfterBeyondMaxBackoffFallsBackAtOnce) {
  MockUpstream limited, spare;
  limited.SetScript([](int) { MockAction a; a.status = 429; a.headers = {{"retry-after", "60"}}; return a; });
  setenv("AP_UP1", limited.url().c_str(), 1);
  setenv("AP_UP2", spare.url().c_str(), 1);
  TestGateway g(Config("  - {name: a, url: '${AP_UP1}', retries: {attempts: 3, max_backoff: 2s}}\n"
                       "  - {name: b, url: '${AP_UP2}'}\n",
                       "  - {name: m, backends: [a], fallbacks: [b]}\n"));
  TestClient c(g.port());
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(c.Post("/v1/chat/completions", kChat).status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(limited.calls(), 1);
  EXPECT_EQ(spare.calls(), 1);
}

TEST(Resilience, All429sAnswer429WithRetryAfter) {
  MockUpstream up;
  up.SetScript([](int) { MockAction a; a.status = 429; a.headers = {{"retry-after", "0"}}; return a; });
  setenv("AP_UP1", up.url().c_str(), 1);
  TestGateway g(Config("  - {name: b, url: '${AP_UP1}', retries: {attempts: 2, backoff: 1ms}}\n", "  - {name: m, backends: [b]}\n"));
  TestClient c(g.port());
  auto r = c.Post("/v1/chat/completions", kChat);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.headers["Retry-After"], "0");
  EXPECT_EQ(json::parse(r.body).at("error").at("type").as_string(), "rate_limit_error");
}

TEST(Resilience, ConnectErrorFallsBackInOrder) {
  MockUpstream spare;
  setenv("AP_UP2", spare.url().c_str(), 1);
  TestGateway g(Config("  - {name: dead, url: 'http://127.0.0.1:1/v1', retries: {attempts: 2, backoff: 1ms}}\n"
                       "  - {name: spare, url: '${AP_UP2}', model: spare-model}\n",
                       "  - {name: m, backends: [dead], fallbacks: [other]}\n  - {name: other, backends: [spare]}\n"));
  TestClient c(g.port());
  auto r = c.Post("/v1/chat/completions", kChat);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(spare.received()[0].body).at("model").as_string(), "spare-model");
  auto rec = g.sink->records()[0];
  EXPECT_EQ(rec.backend, "spare");
  EXPECT_EQ(rec.attempts, 3);
}

TEST(Resilience, EveryBackendFailingGives502) {
  MockUpstream up;
  up.SetScript([](int) { MockAction a; a.status = 503; return a; });
  setenv("AP_UP1", up.url().c_str(), 1);
  TestGateway g(Config("  - {name: b, url: '${AP_UP1}', retries: {attempts: 2, backoff: 1ms}}\n", "  - {name: m, backends: [b]}\n"));
  TestClient c(g.port());
  auto r = c.Post("/v1/chat/completions", kChat);
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(json::parse(r.body).at("error").at("code").as_string(), "upstream_error");
  EXPECT_EQ(up.calls(), 2);
}

TEST(Resilience, SlowBackendTimesOutWith504) {
  MockUpstream up;
  up.SetScript([](int) { MockAction a; a.delay = 2s; return a; });
  setenv("AP_UP1", up.url().c_str(), 1);
  TestGateway g(Config("  - {name: b, url: '${AP_UP1}', timeouts: {first_byte: 150ms}, retries: {attempts: 2, backoff: 1ms}}\n",
                       "  - {name: m, backends: [b]}\n"));
  TestClient c(g.port());
  auto start = std::chrono::steady_clock::now();
  auto r = c.Post("/v1/chat/completions", kChat);
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(json::parse(r.body).at("error").at("code").as_string(), "upstream_timeout");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
}

TEST(Resilience, CircuitBreakerEjectsThenProbes) {
  MockUpstream flaky, spare;
  std::atomic<bool> healthy{false};
  flaky.SetScript([&](int) { MockAction a; if (!healthy) a.status = 500; return a; });
  setenv("AP_UP1", flaky.url().c_str(), 1);
  setenv("AP_UP2", spare.url().c_str(), 1);
  TestGateway g(Config("  - {name: flaky, url: '${AP_UP1}', retries: {attempts: 1}, circuit_breaker: {failures: 3, cooldown: 300ms}}\n"
                       "  - {name: spare, url: '${AP_UP2}'}\n",
                       "  - {name: m, backends: [flaky], fallbacks: [spare]}\n"));
  TestClient c(g.port());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(c.Post("/v1/chat/completions", kChat).status, 200);
  EXPECT_EQ(flaky.calls(), 3);  // ejected after three failures; the spare served the rest
  EXPECT_EQ(spare.calls(), 10);
  std::this_thread::sleep_for(350ms);
  healthy = true;
  EXPECT_EQ(c.Post("/v1/chat/completions", kChat).status, 200);  // the half-open probe
  EXPECT_EQ(flaky.calls(), 4);
  for (int i = 0; i < 5; ++i) c.Post("/v1/chat/completions", kChat);
  EXPECT_EQ(flaky.calls(), 9);  // closed again
}

TEST(Resilience, NoBackendAvailableIs503) {
  MockUpstream up;
  up.SetScript([](int) { MockAction a; a.status = 500; return a; });
  setenv("AP_UP1", up.url().c_str(), 1);
  TestGateway g(Config("  - {name: b, url: '${AP_UP1}', retries: {attempts: 1}, circuit_breaker: {failures: 1, cooldown: 60s}}\n",
                       "  - {name: m, backends: [b]}\n"));
  TestClient c(g.port());
  EXPECT_EQ(c.Post("/v1/chat/completions", kChat).status, 502);
  auto r = c.Post("/v1/chat/completions", kChat);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(json::parse(r.body).at("error").at("code").as_string(), "no_backend_available");
}

TEST(Resilience, BackendDyingBeforeAnyByteIsRetried) {
  MockUpstream up;
  up.SetScript([](int call) { MockAction a; a.stream = true; a.drop_after = call == 0 ? 0 : -1; return a; });
  setenv("AP_UP1", up.url().c_str(), 1);
  TestGateway g(Config("  - {name: b, url: '${AP_UP1}', retries: {attempts: 2, backoff: 1ms}}\n", "  - {name: m, backends: [b]}\n"));
  TestClient c(g.port());
  auto r = c.Post("/v1/chat/completions", R"({"model":"m","stream":true})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(SseData(r.body).back(), "[DONE]");
  EXPECT_EQ(up.calls(), 2);
}

TEST(Resilience, BackendDyingMidStreamEndsWithAnSseError) {
  MockUpstream up;
  up.SetScript([](int) { MockAction a; a.stream = true; a.chunks = 10; a.drop_after = 3; return a; });
  setenv("AP_UP1", up.url().c_str(), 1);
  TestGateway g(Config("  - {name: b, url: '${AP_UP1}', retries: {attempts: 3, backoff: 1ms}}\n", "  - {name: m, backends: [b]}\n"));
  TestClient c(g.port());
  auto r = c.Post("/v1/chat/completions", R"({"model":"m","stream":true})");
  EXPECT_EQ(r.status, 200);
  auto events = SseData(r.body);
  ASSERT_EQ(events.size(), 4u);
  auto err = json::parse(events.back());
  EXPECT_EQ(err.at("error").at("code").as_string(), "upstream_stream_broken");
  EXPECT_EQ(up.calls(), 1);  // bytes reached the client: no retry
  EXPECT_EQ(g.sink->records()[0].status, 502);
}

TEST(Resilience, ClientDisconnectCancelsTheUpstreamStream) {
  MockUpstream up;
  up.SetScript([](int) { MockAction a; a.stream = true; a.chunks = 400; a.chunk_interval = 10ms; return a; });
  setenv("AP_UP1", up.url().c_str(), 1);
  TestGateway g(Config("  - {name: b, url: '${AP_UP1}'}\n", "  - {name: m, backends: [b]}\n"));
  {
    TestClient c(g.port());
    auto first = c.PostAndReadFirstBytes("/v1/chat/completions", R"({"model":"m","stream":true})");
    EXPECT_EQ(first.status, 200);
    EXPECT_FALSE(first.body.empty());
    c.Close();
  }
  for (int i = 0; i < 200 && up.cancelled_streams == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(up.cancelled_streams, 1);  // long before its 4 s of chunks were over
  EXPECT_EQ(up.finished_streams, 0);
  ASSERT_EQ(g.sink->records().size(), 1u);
  EXPECT_EQ(g.sink->records()[0].status, 499);
}

TEST(Resilience, ShutdownDrainsInFlightStreams) {
  MockUpstream up;
  up.SetScript([](int) { MockAction a; a.stream = true; a.chunks = 30; a.chunk_interval = 10ms; return a; });
  setenv("AP_UP1", up.url().c_str(), 1);
  TestGateway g(Config("  - {name: b, url: '${AP_UP1}'}\n", "  - {name: m, backends: [b]}\n"));
  TestClient idle(g.port());
  ASSERT_EQ(idle.Get("/healthz").status, 200);  // an idle keep-alive connection
  Reply streamed;
  std::thread client([&] {
    TestClient c(g.port());
    streamed = c.Post("/v1/chat/completions", R"({"model":"m","stream":true})");
  });
  std::this_thread::sleep_for(80ms);
  g.gw->SetDraining(true);
  auto start = std::chrono::steady_clock::now();
  g.server->Shutdown(5s);
  client.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);  // returned when the stream ended
  EXPECT_EQ(streamed.status, 200);
  auto events = SseData(streamed.body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_EQ(events.size(), 31u);
  EXPECT_EQ(g.server->open_connections(), 0);
}

TEST(Resilience, ReloadSwapsRoutesForNewRequests) {
  MockUpstream a, b;
  setenv("AP_UP1", a.url().c_str(), 1);
  setenv("AP_UP2", b.url().c_str(), 1);
  TestGateway g(Config("  - {name: a, url: '${AP_UP1}'}\n  - {name: b, url: '${AP_UP2}'}\n", "  - {name: m, backends: [a]}\n"));
  TestClient c(g.port());
  EXPECT_EQ(c.Post("/v1/chat/completions", kChat).status, 200);
  auto next = config::ParseConfig(Config("  - {name: a, url: '${AP_UP1}'}\n  - {name: b, url: '${AP_UP2}'}\n",
                                         "  - {name: m, backends: [b]}\n  - {name: m2, backends: [a]}\n"), "reload.yaml");
  ASSERT_TRUE(next);
  std::string error;
  ASSERT_TRUE(g.gw->Reload(*next, &error)) << error;
  EXPECT_EQ(c.Post("/v1/chat/completions", kChat).status, 200);  // same keep-alive connection
  EXPECT_EQ(a.calls(), 1);
  EXPECT_EQ(b.calls(), 1);
  EXPECT_EQ(c.Post("/v1/chat/completions", R"({"model":"m2"})").status, 200);
  EXPECT_EQ(a.calls(), 2);
}

}  // namespace
}  // namespace ap::testing
