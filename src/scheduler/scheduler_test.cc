// scheduler/scheduler_test.cc — the Pool as the gateway uses it: queueing and shedding under
// saturation, stale metrics, breakers and exclusions (driven with hand-published metrics), then
// end to end through a real gateway in front of simulated replicas: prefix affinity, a dead
// replica taken out with the request retried on another, and the Prometheus text.
#include "scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "gateway/gateway.h"
#include "sim/sim.h"

namespace ap::scheduler {
namespace {
namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using std::chrono::milliseconds;

std::string Metrics(int waiting, double kv) {
  return "vllm:num_requests_waiting{model_name=\"m\"} " + std::to_string(waiting) +
         "\nvllm:kv_cache_usage_perc{model_name=\"m\"} " + std::to_string(kv) +
         "\nvllm:cache_config_info{block_size=\"16\",num_gpu_blocks=\"1000\"} 1\n";
}

// A pool over hand-made backends (no scraper: the test publishes metrics itself).
struct PoolHarness {
  explicit PoolHarness(size_t n, config::SchedulerConfig cfg = {}) {
    for (size_t i = 0; i < n; ++i) {
      auto b = std::make_unique<gateway::BackendState>();
      b->config.name = "r" + std::to_string(i);
      b->endpoint.host = "127.0.0.1";
      b->endpoint.port = 1;
      b->breaker = std::make_shared<gateway::CircuitBreaker>(config::CircuitBreakerConfig{1, std::chrono::seconds(60)});
      members.push_back(b.get());
      backends.push_back(std::move(b));
    }
    pool = std::make_unique<Pool>("m", cfg, members);
    body.model = "m";
    body.body = R"({"model":"m","messages":[{"role":"user","content":"hello"}]})";
  }
  void PublishAll(int waiting, double kv) {
    for (auto& r : pool->replicas()) r->Publish(ParseVllmMetrics(Metrics(waiting, kv)), Clock::now());
  }
  // Starts a Pick on the io_context; the result lands in *out when it finishes.
  void StartPick(std::optional<gateway::PickResult>* out) {
    net::co_spawn(ioc, pool->Pick(group, ctx), [out](std::exception_ptr, gateway::PickResult r) { *out = std::move(r); });
  }
  gateway::PickResult PickNow() {
    std::optional<gateway::PickResult> r;
    StartPick(&r);
    Run(milliseconds(50));
    EXPECT_TRUE(r.has_value());
    return r.value_or(gateway::PickResult{});
  }
  void Run(milliseconds d) {
    ioc.restart();
    ioc.run_for(d);
  }

  net::io_context ioc;
  std::vector<std::unique_ptr<gateway::BackendState>> backends;
  std::vector<const gateway::BackendState*> members;
  std::unique_ptr<Pool> pool;
  gateway::BackendGroup group;
  api::InferenceRequest body;
  http::Request incoming;
  std::vector<const gateway::BackendState*> exclude;
  gateway::PickContext ctx{body, incoming, exclude};
};

TEST(Pool, SaturatedFleetQueuesUntilCapacityFrees) {
  config::SchedulerConfig cfg;
  cfg.queue_timeout = milliseconds(5000);
  PoolHarness h(3, cfg);
  h.PublishAll(/*waiting=*/9, 0.5);  // every replica saturated (max_waiting 5)
  std::optional<gateway::PickResult> r;
  h.StartPick(&r);
  h.Run(milliseconds(30));
  EXPECT_FALSE(r.has_value());  // waiting at the gateway, not sent to a replica
  EXPECT_EQ(h.pool->queue().size(), 1u);
  auto& r2 = *h.pool->replicas()[2];
  r2.Publish(ParseVllmMetrics(Metrics(0, 0.1)), Clock::now());
  h.pool->AfterScrape(r2);  // the scraper's wake-up
  h.Run(milliseconds(30));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->backend, h.members[2]);
  EXPECT_EQ(h.pool->metrics().queue_wait.count(), 1u);
}

TEST(Pool, ShedsWith429PastTheBoundAndAfterTheTimeout) {
  config::SchedulerConfig cfg;
  cfg.queue_max = 2;
  cfg.queue_timeout = milliseconds(100);
  PoolHarness h(2, cfg);
  h.PublishAll(0, 0.95);  // KV cache over 0.9 everywhere
  std::vector<std::optional<gateway::PickResult>> r(3);
  for (auto& x : r) h.StartPick(&x);
  h.Run(milliseconds(30));
  ASSERT_TRUE(r[2].has_value());  // third: the queue holds two
  ASSERT_TRUE(r[2]->error);
  EXPECT_EQ(r[2]->error->kind, api::ErrorKind::kRateLimited);
  EXPECT_EQ(r[2]->error->code, "scheduler_queue_full");
  EXPECT_NE(r[2]->error->message.find("queue is full"), std::string::npos);
  h.Run(milliseconds(200));
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(r[i].has_value());
    ASSERT_TRUE(r[i]->error);
    EXPECT_EQ(r[i]->error->code, "scheduler_queue_timeout");
  }
  EXPECT_EQ(h.pool->metrics().rejected_full.load(), 1u);
  EXPECT_EQ(h.pool->metrics().rejected_timeout.load(), 2u);
}

TEST(Pool, StaleMetricsAreIgnored) {
  PoolHarness h(2);
  auto old = Clock::now() - std::chrono::seconds(5);
  for (auto& r : h.pool->replicas()) r->Publish(ParseVllmMetrics(Metrics(50, 0.99)), old);
  auto r = h.PickNow();  // saturated numbers, but 5 s old: not trusted, so no queueing
  EXPECT_NE(r.backend, nullptr);
  EXPECT_FALSE(r.error);
}

TEST(Pool, RespectsExcludeBreakersAndDownReplicas) {
  PoolHarness h(3);
  h.PublishAll(0, 0.1);
  h.exclude.push_back(h.members[0]);
  h.backends[1]->breaker->RecordFailure(gateway::CircuitBreaker::Clock::now());  // threshold 1: open
  for (int i = 0; i < 10; ++i) EXPECT_EQ(h.PickNow().backend, h.members[2]);
  h.pool->replicas()[2]->request_failed = true;  // failing replica: the health filter keeps it only
  EXPECT_EQ(h.PickNow().backend, h.members[2]);   // because nothing else is left
  h.exclude.push_back(h.members[2]);
  auto none = h.PickNow();
  EXPECT_EQ(none.backend, nullptr);  // the gateway falls back
  EXPECT_FALSE(none.error);
}

TEST(Pool, LearnsPrefixesFromItsOwnDecisions) {
  config::SchedulerConfig cfg;
  cfg.debug_header = true;
  PoolHarness h(4, cfg);
  h.PublishAll(0, 0.1);
  std::string prefix(4000, 'x');
  for (size_t i = 0; i < prefix.size(); ++i) prefix[i] = static_cast<char>('a' + (i * 7 + i / 3) % 26);
  h.body.body = R"({"model":"m","messages":[{"role":"system","content":")" + prefix + R"("},{"role":"user","content":"q1"}]})";
  auto first = h.PickNow();
  ASSERT_NE(first.backend, nullptr);
  for (int i = 0; i < 5; ++i) {
    h.body.body = R"({"model":"m","messages":[{"role":"system","content":")" + prefix +
                  R"("},{"role":"user","content":"question )" + std::to_string(i) + R"("}]})";
    auto next = h.PickNow();
    EXPECT_EQ(next.backend, first.backend);
    EXPECT_NE(next.debug.find("replica=" + first.backend->config.name), std::string::npos) << next.debug;
    EXPECT_TRUE(next.debug.find("prefix=0.9") != std::string::npos ||
                next.debug.find("prefix=1.00") != std::string::npos) << next.debug;
  }
  EXPECT_GT(h.pool->metrics().prefix_blocks_matched.load(), 0u);
}

TEST(Pool, ModesRoundRobinAndRandomIgnoreSaturation) {
  config::SchedulerConfig cfg;
  cfg.mode = "round-robin";
  PoolHarness h(3, cfg);
  h.PublishAll(99, 1.0);
  std::vector<const gateway::BackendState*> got;
  for (int i = 0; i < 6; ++i) got.push_back(h.PickNow().backend);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(got[i], got[i + 3]);
  EXPECT_NE(got[0], got[1]);
  EXPECT_NE(got[1], got[2]);
}

// --- end to end: gateway + simulated replicas -------------------------------------------------

struct Reply {
  int status = 0;
  std::string pick, body;
};

Reply Post(uint16_t port, const std::string& body) {
  net::io_context ioc;
  boost::beast::tcp_stream stream(ioc);
  stream.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/v1/chat/completions", 11};
  req.set(bhttp::field::host, "127.0.0.1");
  req.set(bhttp::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  bhttp::write(stream, req);
  boost::beast::flat_buffer buf;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(stream, buf, res);
  return {static_cast<int>(res.result_int()), std::string(res["x-agentplane-pick"]), res.body()};
}

struct Fleet {
  explicit Fleet(int replicas, const std::string& extra_backend_yaml = "", const std::string& extra_member = "") {
    sim::SimOptions o;
    o.port = 0;
    o.replicas = replicas;
    o.time_scale = 0.01;
    sim = std::make_unique<sim::Simulator>(o);
    std::string error;
    EXPECT_TRUE(sim->Start(&error)) << error;
    std::string yaml = "backends:\n";
    std::string members;
    for (size_t i = 0; i < sim->ports().size(); ++i) {
      yaml += "  - {name: r" + std::to_string(i) + ", url: http://127.0.0.1:" + std::to_string(sim->ports()[i]) +
              "/v1, model: " + o.model + ", retries: {attempts: 1}}\n";
      members += (i ? ", r" : "r") + std::to_string(i);
    }
    yaml += extra_backend_yaml;
    if (!extra_member.empty()) members += ", " + extra_member;
    yaml += "models:\n  - name: m\n    backends: [" + members +
            "]\n    scheduler: {scrape_interval: 20ms, stale_after: 200ms, debug_header: true}\n";
    auto cfg = config::ParseConfig(yaml, "fleet.yaml");
    EXPECT_TRUE(cfg) << cfg.error().ToString();
    factory = std::make_shared<SchedulerFactory>();
    auto table = gateway::RouteTable::Build(*cfg, nullptr, factory.get());
    EXPECT_TRUE(table) << table.error();
    gateway::GatewayOptions go;
    go.pickers = factory;
    gw = std::make_shared<gateway::Gateway>(*table, nullptr, go);
    http::ServerOptions so;
    so.threads = 2;
    server = std::make_unique<http::Server>(so, gw);
    EXPECT_TRUE(server->Start());
  }
  ~Fleet() {
    server->Shutdown(milliseconds(200));
    sim->Shutdown(milliseconds(0));
    sim->Wait();
  }
  std::unique_ptr<sim::Simulator> sim;
  std::shared_ptr<SchedulerFactory> factory;
  std::shared_ptr<gateway::Gateway> gw;
  std::unique_ptr<http::Server> server;
};

std::string ChatBody(const std::string& system, const std::string& question) {
  return R"({"model":"m","max_tokens":4,"messages":[{"role":"system","content":")" + system +
         R"("},{"role":"user","content":")" + question + R"("}]})";
}

std::string Words(int seed, int n) {
  static const char* kWords[] = {"the", "cat", "sat", "on", "mat", "dog", "ran", "far", "red", "sky"};
  std::string s;
  for (int i = 0; i < n; ++i) s += std::string(i ? " " : "") + kWords[(seed * 31 + i * 7 + i / 3) % 10];
  return s;
}

TEST(EndToEnd, SharedPrefixesStickToOneReplicaAndHitTheCache) {
  Fleet f(4);
  std::this_thread::sleep_for(milliseconds(100));  // first scrapes
  std::map<int, std::string> replica_of_group;
  for (int round = 0; round < 3; ++round)
    for (int g = 0; g < 4; ++g) {
      auto r = Post(f.server->port(), ChatBody(Words(g, 600), "question " + std::to_string(round)));
      ASSERT_EQ(r.status, 200) << r.body;
      // The pick recorded its prefix on the bookkeeping thread; the next decision must see it
      // (on a loaded machine that thread can lag behind a fast gateway).
      if (auto pool = f.factory->FindPool("m"))
        for (int i = 0; i < 200 && pool->pending_records() > 0; ++i) std::this_thread::sleep_for(milliseconds(5));
      std::string replica = r.pick.substr(0, r.pick.find(';'));
      if (round == 0) replica_of_group[g] = replica;
      else EXPECT_EQ(replica, replica_of_group[g]) << "group " << g << ": " << r.pick;
      if (round > 0) {
        EXPECT_NE(r.body.find("\"cached_tokens\":"), std::string::npos);
      }
    }
  auto pool = f.factory->FindPool("m");
  ASSERT_TRUE(pool);
  double matched = static_cast<double>(pool->metrics().prefix_blocks_matched.load());
  double total = static_cast<double>(pool->metrics().prefix_blocks_total.load());
  EXPECT_GT(matched / total, 0.5);  // two thirds of the rounds reuse a prefix
  EXPECT_GT(pool->replicas()[0]->capacity_tokens.load(), 0);  // learned from cache_config_info
}

TEST(EndToEnd, DeadReplicaIsTakenOutAndRequestsRetryOnAnother) {
  // "dead" points at a port nobody listens on (bound then closed).
  net::io_context ioc;
  net::ip::tcp::acceptor a(ioc, {net::ip::make_address("127.0.0.1"), 0});
  uint16_t dead_port = a.local_endpoint().port();
  a.close();
  Fleet f(2, "  - {name: dead, url: http://127.0.0.1:" + std::to_string(dead_port) +
                 "/v1, retries: {attempts: 1}, circuit_breaker: {failures: 100}}\n", "dead");
  for (int i = 0; i < 12; ++i) {
    auto r = Post(f.server->port(), ChatBody(Words(i, 50), "q"));
    EXPECT_EQ(r.status, 200) << r.body;  // a try on "dead" fails before any byte: retried elsewhere
  }
  std::this_thread::sleep_for(milliseconds(150));  // a few failed scrapes
  auto pool = f.factory->FindPool("m");
  ASSERT_TRUE(pool);
  EXPECT_TRUE(pool->replicas()[2]->Down());
  uint64_t before = pool->replicas()[2]->picks.load();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(Post(f.server->port(), ChatBody(Words(i, 50), "q")).status, 200);
  EXPECT_EQ(pool->replicas()[2]->picks.load(), before);  // no longer chosen
  std::string text;
  f.factory->AppendPrometheus(&text);
  EXPECT_NE(text.find("agentplane_scheduler_replica_up{model=\"m\",replica=\"dead\"} 0"), std::string::npos) << text;
  EXPECT_NE(text.find("agentplane_scheduler_picks_total{model=\"m\",replica=\"r0\"}"), std::string::npos);
  EXPECT_NE(text.find("agentplane_scheduler_decision_seconds_bucket{model=\"m\",le=\"+Inf\"}"), std::string::npos);
}

TEST(EndToEnd, MetricsPassPromtool) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) GTEST_SKIP() << "promtool not installed";
  Fleet f(2);
  for (int i = 0; i < 3; ++i) Post(f.server->port(), ChatBody(Words(i, 100), "q"));
  std::string text;
  f.factory->AppendPrometheus(&text);
  std::string path = ::testing::TempDir() + "/scheduler_metrics.txt";
  std::ofstream(path) << text;
  std::string cmd = "promtool check metrics < " + path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  int rc = pclose(p);
  EXPECT_EQ(rc, 0) << out;
}

}  // namespace
}  // namespace ap::scheduler
