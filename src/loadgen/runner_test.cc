// The generator against an in-process mock upstream of known latency: TTFT 50 ms, then 10
// content chunks 5 ms apart. Bounds are loose on purpose (this machine is shared): they catch a
// wrong definition (ITL measured from the request start, TTFT including the whole stream…), not
// jitter.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "http/server.h"
#include "loadgen/report.h"
#include "loadgen/runner.h"

namespace ap::loadgen {
namespace {

namespace net = boost::asio;
namespace json = boost::json;
using http::Status;

class MockUpstream : public http::Handler {
 public:
  std::chrono::milliseconds ttft{50};
  std::chrono::milliseconds gap{5};
  int chunks = 10;
  int fail_status = 0;  // answer every request with this status when set
  std::atomic<int> active{0}, peak{0}, total{0};
  std::mutex mu;
  std::vector<std::string> session_ids;
  std::vector<size_t> message_counts;
  std::vector<std::string> auth;

  net::awaitable<void> Handle(http::Request& req, http::Responder& res) override {
    const int now_active = ++active;
    int p = peak.load();
    while (now_active > p && !peak.compare_exchange_weak(p, now_active)) {}
    ++total;
    json::value body = json::parse(req.body());
    {
      std::lock_guard lock(mu);
      session_ids.emplace_back(req["x-session-id"]);
      auth.emplace_back(req[http::bhttp::field::authorization]);
      if (const auto* m = body.as_object().if_contains("messages")) message_counts.push_back(m->as_array().size());
    }
    co_await Serve(req, body, res);
    --active;
  }

  net::awaitable<void> Serve(http::Request& req, json::value& body, http::Responder& res) {
    if (fail_status) {
      http::Response r{static_cast<Status>(fail_status), 11};
      r.body() = R"({"error":{"message":"boom","type":"server_error"}})";
      co_await res.Send(std::move(r));
      co_return;
    }
    net::steady_timer timer(co_await net::this_coro::executor);
    timer.expires_after(ttft);
    co_await timer.async_wait(net::as_tuple(net::use_awaitable));
    const bool stream = body.as_object().contains("stream");
    if (!stream) {
      http::Response r{Status::ok, 11};
      r.body() = R"({"choices":[{"index":0,"message":{"role":"assistant","content":"hello"}}],)"
                 R"("usage":{"prompt_tokens":7,"completion_tokens":)" + std::to_string(chunks) + "}}";
      co_await res.Send(std::move(r));
      co_return;
    }
    http::bhttp::response_header<> h;
    h.result(Status::ok);
    h.set(http::bhttp::field::content_type, "text/event-stream");
    co_await res.StartStream(std::move(h));
    const std::string role = "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n";
    co_await res.SendChunk(role);
    for (int i = 0; i < chunks; ++i) {
      if (i > 0) {
        timer.expires_after(gap);
        co_await timer.async_wait(net::as_tuple(net::use_awaitable));
      }
      const std::string ev = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" tok\"}}]}\n\n";
      co_await res.SendChunk(ev);
    }
    const std::string tail =
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n"
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":" +
        std::to_string(chunks) + "}}\n\ndata: [DONE]\n\n";
    co_await res.SendChunk(tail);
    co_await res.EndStream();
    (void)req;
  }

  http::Response ProtocolError(Status s, std::string_view msg) override {
    http::Response r{s, 11};
    r.body() = std::string(msg);
    return r;
  }
};

struct RunnerTest : ::testing::Test {
  void SetUp() override {
    mock = std::make_shared<MockUpstream>();
    http::ServerOptions so;
    so.threads = 1;
    server = std::make_unique<http::Server>(so, mock);
    ASSERT_TRUE(server->Start());
    options.url = "http://127.0.0.1:" + std::to_string(server->port()) + "/v1";
    options.model = "mock";
    options.workload.prompt_tokens = {20, 20};
    options.workload.output_tokens = {10, 10};
  }
  void TearDown() override { server->Shutdown(std::chrono::milliseconds(500)); }
  Report RunAndReport() {
    Progress progress;
    auto result = loadgen::Run(options, &progress);
    EXPECT_TRUE(result) << (result ? "" : result.error());
    if (!result) return Report{};
    EXPECT_EQ(progress.done.load(), static_cast<int64_t>(result->records.size()));
    EXPECT_EQ(progress.in_flight.load(), 0);
    return BuildReport(options, *result);
  }
  std::shared_ptr<MockUpstream> mock;
  std::unique_ptr<http::Server> server;
  RunOptions options;
};

TEST_F(RunnerTest, StreamingLatenciesMatchTheUpstream) {
  options.concurrency = 4;
  options.requests = 40;
  options.api_key = "sk-test";
  Report r = RunAndReport();
  EXPECT_EQ(r.requests, 40);
  EXPECT_EQ(r.ok, 40);
  EXPECT_EQ(mock->total.load(), 40);
  EXPECT_EQ(mock->peak.load(), 4);  // fixed concurrency
  EXPECT_EQ(r.output_tokens, 400);
  EXPECT_EQ(r.prompt_tokens, 280);
  EXPECT_TRUE(r.usage_seen);
  EXPECT_EQ(r.ttft_ms.count, 40);
  EXPECT_GE(r.ttft_ms.p50, 45);
  EXPECT_LE(r.ttft_ms.p50, 150);
  EXPECT_EQ(r.itl_ms.count, 40 * 9);  // 9 gaps per 10-chunk stream
  EXPECT_GE(r.itl_ms.p50, 3);
  EXPECT_LE(r.itl_ms.p50, 40);
  EXPECT_GE(r.itl_request_ms.p50, 3);
  EXPECT_LE(r.itl_request_ms.p50, 40);
  EXPECT_GE(r.e2e_ms.p50, 90);  // 50 + 9 × 5
  EXPECT_LE(r.e2e_ms.p50, 300);
  EXPECT_GE(r.e2e_ms.p50, r.ttft_ms.p50);
  EXPECT_GT(r.request_rate, 0);
  EXPECT_NEAR(r.output_token_rate / r.request_rate, 10.0, 1e-6);
  EXPECT_EQ(mock->auth.front(), "Bearer sk-test");
  const std::string table = FormatTable(r);
  EXPECT_NE(table.find("TTFT"), std::string::npos);
  json::value j = json::parse(ToJson(r));
  EXPECT_EQ(j.at("ok").as_int64(), 40);
  EXPECT_GT(j.at("ttft_ms").at("p50").as_double(), 0);
}

TEST_F(RunnerTest, NonStreamingMeasuresEndToEndOnly) {
  options.stream = false;
  options.api = Api::kCompletions;
  options.concurrency = 2;
  options.requests = 10;
  Report r = RunAndReport();
  EXPECT_EQ(r.ok, 10);
  EXPECT_EQ(r.ttft_ms.count, 0);
  EXPECT_EQ(r.itl_ms.count, 0);
  EXPECT_EQ(r.output_tokens, 100);
  EXPECT_GE(r.e2e_ms.p50, 45);
  EXPECT_LE(r.e2e_ms.p50, 200);
}

TEST_F(RunnerTest, PoissonArrivalRateIsRoughlyRight) {
  mock->ttft = std::chrono::milliseconds(1);
  mock->gap = std::chrono::milliseconds(0);
  mock->chunks = 2;
  options.qps = 200;
  options.duration = std::chrono::milliseconds(1500);
  options.threads = 2;
  Report r = RunAndReport();
  // 300 expected; Poisson sd ≈ 17, the bounds allow a slow shared machine.
  EXPECT_GE(r.requests, 200);
  EXPECT_LE(r.requests, 400);
  EXPECT_EQ(r.failed, 0);
  EXPECT_GE(r.request_rate, 120);
  EXPECT_LE(r.request_rate, 280);
}

TEST_F(RunnerTest, WarmupRequestsAreNotCounted) {
  mock->ttft = std::chrono::milliseconds(5);
  mock->gap = std::chrono::milliseconds(0);
  options.concurrency = 2;
  options.warmup = std::chrono::milliseconds(200);
  options.requests = 10;
  Report r = RunAndReport();
  EXPECT_EQ(r.requests, 10);
  EXPECT_GT(r.warmup_requests, 0);
  EXPECT_EQ(mock->total.load(), r.requests + r.warmup_requests);
}

TEST_F(RunnerTest, HttpErrorsAreCountedByStatus) {
  mock->fail_status = 500;
  options.concurrency = 2;
  options.requests = 12;
  Report r = RunAndReport();
  EXPECT_EQ(r.requests, 12);
  EXPECT_EQ(r.ok, 0);
  EXPECT_EQ(r.failed, 12);
  EXPECT_EQ(r.errors["http_500"], 12);
  EXPECT_EQ(r.e2e_ms.count, 0);  // failed requests' latencies are not summarised
}

TEST_F(RunnerTest, ConnectErrorsAreCounted) {
  const uint16_t port = server->port();
  server->Shutdown(std::chrono::milliseconds(200));
  server = std::make_unique<http::Server>(http::ServerOptions{}, mock);  // restarted in TearDown only
  ASSERT_TRUE(server->Start());
  options.url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  options.concurrency = 1;
  options.requests = 3;
  Report r = RunAndReport();
  EXPECT_EQ(r.failed, 3);
  EXPECT_EQ(r.errors["connect"], 3);
}

TEST_F(RunnerTest, MultiTurnSendsGrowingConversations) {
  mock->ttft = std::chrono::milliseconds(2);
  mock->gap = std::chrono::milliseconds(0);
  options.workload.kind = WorkloadKind::kMultiTurn;
  options.workload.users = 2;
  options.workload.turns = 3;
  options.workload.prefix_tokens = 10;
  options.workload.question_tokens = 5;
  options.concurrency = 2;
  options.requests = 6;
  Report r = RunAndReport();
  EXPECT_EQ(r.ok, 6);
  std::map<std::string, std::vector<size_t>> by_session;
  for (size_t i = 0; i < mock->session_ids.size(); ++i)
    by_session[mock->session_ids[i]].push_back(mock->message_counts[i]);
  EXPECT_EQ(by_session.size(), 2u);
  for (const auto& [id, counts] : by_session) {
    EXPECT_FALSE(id.empty());
    EXPECT_EQ(counts, (std::vector<size_t>{2, 4, 6})) << id;  // system+user, +answer+user, …
  }
}

}  // namespace
}  // namespace ap::loadgen
