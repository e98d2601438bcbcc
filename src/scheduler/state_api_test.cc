// scheduler/state_api_test.cc — the dashboard's view of the scheduler: DCGM and prefix-cache
// series parsed from a scrape, replica state and recent picks as JSON, GPUs grouped by cluster
// and node, and who may read them (admin key or local-mode loopback; other keys 403).
#include "scheduler/state_api.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

namespace ap::scheduler {
namespace {
namespace json = boost::json;
namespace net = boost::asio;

constexpr const char* kScrape = R"(vllm:num_requests_waiting{model_name="m"} 3
vllm:num_requests_running{model_name="m"} 7
vllm:kv_cache_usage_perc{model_name="m"} 0.25
vllm:prefix_cache_queries_total{model_name="m"} 1000
vllm:prefix_cache_hits_total{model_name="m"} 600
DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-a",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="node-1"} 42
DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-a",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="node-1"} 70000
DCGM_FI_DEV_FB_FREE{gpu="0",UUID="GPU-a",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="node-1"} 11559
DCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-a",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="node-1"} 51
DCGM_FI_DEV_POWER_USAGE{gpu="0",UUID="GPU-a",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="node-1"} 300.5
DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-b",device="nvidia1",modelName="NVIDIA H100 80GB HBM3",Hostname="node-2",cluster="eu"} 7
)";

TEST(ParseVllmMetrics, ReadsDcgmGpusAndPrefixCacheCounters) {
  auto m = ParseVllmMetrics(kScrape);
  EXPECT_EQ(m.prefix_queries, 1000);
  EXPECT_EQ(m.prefix_hits, 600);
  ASSERT_EQ(m.gpus.size(), 2u);
  EXPECT_EQ(m.gpus[0].uuid, "GPU-a");
  EXPECT_EQ(m.gpus[0].hostname, "node-1");
  EXPECT_EQ(m.gpus[0].model_name, "NVIDIA H100 80GB HBM3");
  EXPECT_DOUBLE_EQ(m.gpus[0].util_percent, 42);
  EXPECT_DOUBLE_EQ(m.gpus[0].fb_free_mib, 11559);
  EXPECT_DOUBLE_EQ(m.gpus[0].power_w, 300.5);
  EXPECT_EQ(m.gpus[1].cluster, "eu");
  EXPECT_DOUBLE_EQ(m.gpus[1].temp_c, -1);  // absent series
}

struct Fixture {
  Fixture() {
    for (int i = 0; i < 2; ++i) {
      auto b = std::make_unique<gateway::BackendState>();
      b->config.name = "r" + std::to_string(i);
      b->endpoint.host = "127.0.0.1";
      b->endpoint.port = 1;  // nothing listens: the factory's own scrapes fail, ours are published
      b->breaker = std::make_shared<gateway::CircuitBreaker>(
          config::CircuitBreakerConfig{1, std::chrono::seconds(60)});
      members.push_back(b.get());
      backends.push_back(std::move(b));
    }
    config::ModelConfig model;
    model.name = "m";
    model.scheduler.emplace();
    model.scheduler->scrape_interval = std::chrono::hours(1);
    model.scheduler->stale_after = std::chrono::hours(1);
    picker = factory->ForModel(model, members);
    pool = factory->FindPool("m");
    pool->replicas()[0]->Publish(ParseVllmMetrics(kScrape), Clock::now());
    body.model = "m";
    body.body = R"({"model":"m","messages":[{"role":"user","content":"hello there"}]})";
  }
  std::shared_ptr<SchedulerFactory> factory = std::make_shared<SchedulerFactory>();
  std::vector<std::unique_ptr<gateway::BackendState>> backends;
  std::vector<const gateway::BackendState*> members;
  std::shared_ptr<gateway::ReplicaPicker> picker;
  std::shared_ptr<Pool> pool;
  api::InferenceRequest body;
  http::Request incoming;
  std::vector<const gateway::BackendState*> exclude;
};

TEST(StateApi, ReplicasShowHealthLoadCachesAndRecentPicks) {
  Fixture f;
  gateway::PickContext ctx{f.body, f.incoming, f.exclude};
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(f.pool->Decide(ctx, Clock::now()).verdict, Pool::Verdict::kPicked);
  StateApi api(f.factory, {});
  auto v = json::parse(api.ReplicasJson());
  auto& models = v.at("models").as_array();
  ASSERT_EQ(models.size(), 1u);
  auto& m = models[0].as_object();
  EXPECT_EQ(m.at("model").as_string(), "m");
  auto& r0 = m.at("replicas").as_array()[0].as_object();
  EXPECT_EQ(r0.at("name").as_string(), "r0");
  EXPECT_TRUE(r0.at("fresh").as_bool());
  EXPECT_EQ(r0.at("waiting").as_int64(), 3);
  EXPECT_EQ(r0.at("running").as_int64(), 7);
  EXPECT_DOUBLE_EQ(r0.at("kv_cache_usage").as_double(), 0.25);
  EXPECT_DOUBLE_EQ(r0.at("prefix_cache_hits").as_double(), 600);
  EXPECT_EQ(r0.at("gpus").as_int64(), 2);
  auto& r1 = m.at("replicas").as_array()[1].as_object();
  EXPECT_TRUE(r1.at("kv_cache_usage").is_null());  // never scraped
  auto& picks = m.at("recent_picks").as_array();
  ASSERT_EQ(picks.size(), 3u);
  EXPECT_GE(picks[0].at("ago_ms").as_double(), 0);
  EXPECT_TRUE(picks[0].at("replica").as_string() == "r0" ||
              picks[0].at("replica").as_string() == "r1");
}

TEST(StateApi, RecentPicksKeepTheLatestOnes) {
  Fixture f;
  gateway::PickContext ctx{f.body, f.incoming, f.exclude};
  for (size_t i = 0; i < Pool::kRecentPicks + 5; ++i) f.pool->Decide(ctx, Clock::now());
  EXPECT_EQ(f.pool->RecentPicks().size(), Pool::kRecentPicks);
}

TEST(StateApi, FleetGroupsGpusByClusterAndNode) {
  Fixture f;
  StateApi api(f.factory, {});
  auto v = json::parse(api.FleetJson());
  auto& clusters = v.at("clusters").as_array();
  ASSERT_EQ(clusters.size(), 2u);
  EXPECT_EQ(clusters[0].at("name").as_string(), "eu");
  EXPECT_EQ(clusters[1].at("name").as_string(), "local");  // no cluster label
  auto& node = clusters[1].at("nodes").as_array()[0].as_object();
  EXPECT_EQ(node.at("name").as_string(), "node-1");
  auto& gpu = node.at("gpus").as_array()[0].as_object();
  EXPECT_EQ(gpu.at("uuid").as_string(), "GPU-a");
  EXPECT_DOUBLE_EQ(gpu.at("fb_total_mib").as_double(), 81559);
  EXPECT_EQ(gpu.at("replica").as_string(), "r0");
  EXPECT_EQ(gpu.at("model").as_string(), "m");
}

// Captures the one response a handler sends.
class FakeResponder : public http::Responder {
 public:
  explicit FakeResponder(const char* peer) : peer_(net::ip::make_address(peer), 5555) {}
  net::awaitable<bool> Send(http::Response r) override {
    response = std::move(r);
    co_return true;
  }
  net::awaitable<bool> StartStream(http::bhttp::response_header<>) override { co_return false; }
  void AddHeadLines(std::string_view lines) override { head_lines.append(lines); }
  std::string head_lines;
  net::awaitable<bool> SendChunk(std::string_view) override { co_return false; }
  net::awaitable<bool> SendFinalChunk(std::string_view, std::string_view) override { co_return false; }
  net::awaitable<bool> EndStream() override { co_return false; }
  bool started() const override { return false; }
  const http::tcp::endpoint& peer() const override { return peer_; }
  http::Response response;

 private:
  http::tcp::endpoint peer_;
};

int StatusOf(StateApi& api, const char* peer, std::string bearer,
             std::string path = "/api/fleet/gpus") {
  http::Request req{http::bhttp::verb::get, path, 11};
  req.set(http::bhttp::field::host, "127.0.0.1:8080");  // what a local client sends
  if (!bearer.empty()) req.set(http::bhttp::field::authorization, "Bearer " + bearer);
  FakeResponder responder(peer);
  net::io_context ioc;
  net::co_spawn(ioc, api.Handle(req, responder), net::detached);
  ioc.run();
  return static_cast<int>(responder.response.result_int());
}

TEST(StateApi, OnlyTheAdminKeyOrLocalLoopbackMayRead) {
  Fixture f;
  StateApiOptions o;
  o.loopback_without_key = true;
  o.is_admin = [](std::string_view t) { return t == "sk-admin"; };
  StateApi api(f.factory, o);
  EXPECT_EQ(StatusOf(api, "127.0.0.1", ""), 200);
  EXPECT_EQ(StatusOf(api, "10.1.2.3", ""), 401);
  EXPECT_EQ(StatusOf(api, "10.1.2.3", "sk-admin"), 200);
  EXPECT_EQ(StatusOf(api, "127.0.0.1", "sk-team-key"), 403);
  EXPECT_EQ(StatusOf(api, "127.0.0.1", "", "/api/scheduler/replicas"), 200);
  EXPECT_EQ(StatusOf(api, "127.0.0.1", "", "/api/scheduler/nope"), 404);
  StateApi closed(f.factory, {});
  EXPECT_EQ(StatusOf(closed, "127.0.0.1", ""), 401);
}

}  // namespace
}  // namespace ap::scheduler
