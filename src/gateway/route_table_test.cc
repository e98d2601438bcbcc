#include "gateway/route_table.h"

#include <gtest/gtest.h>

#include <map>

#include "base/random.h"

namespace ap::gateway {
namespace {

constexpr const char* kConfig = R"(
backends:
  - {name: vllm-gpt4, url: "http://127.0.0.1:8000/v1", model: gpt4-served}
  - {name: vllm-gpt4-canary, url: "http://127.0.0.1:8001/v1"}
  - {name: vllm-claude, url: "http://127.0.0.1:8002/v1"}
  - {name: other, url: "http://127.0.0.1:8003/v1"}
models:
  - name: small
    backends: [other]
    fallbacks: [vllm-claude]
routes:
  - name: regex
    matches:
      - headers: [{name: x-tenant, value: "team-[0-9]+", type: RegularExpression}]
    backendRefs: [{name: other}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ai-model-routing}
spec:
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
)";

std::shared_ptr<const RouteTable> Table() {
  auto cfg = config::ParseConfig(kConfig, "t.yaml");
  EXPECT_TRUE(cfg) << cfg.error().ToString();
  auto t = RouteTable::Build(*cfg, nullptr);
  EXPECT_TRUE(t) << t.error();
  return *t;
}

http::Request Req(std::string target, std::vector<std::pair<std::string, std::string>> headers) {
  http::Request r{http::bhttp::verb::post, target, 11};
  for (auto& [k, v] : headers) r.set(k, v);
  return r;
}

TEST(Routes, MatchesPathAndHeader) {
  auto t = Table();
  auto* a = t->Resolve(Req("/v1/chat/completions", {{"x-model-id", "gpt-4"}}), "whatever");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->route, "ai-model-routing/0");
  auto* b = t->Resolve(Req("/v1/chat/completions", {{"X-Model-Id", "claude-3"}}), "x");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->route, "ai-model-routing/1");
  // Header present but path elsewhere: no route; falls to the model table.
  EXPECT_EQ(t->Resolve(Req("/v1/embeddings", {{"x-model-id", "gpt-4"}}), "nope"), nullptr);
  // PathPrefix matches whole segments only.
  EXPECT_EQ(t->Resolve(Req("/v1/chat/completionsX", {{"x-model-id", "gpt-4"}}), "nope"), nullptr);
  auto* m = t->Resolve(Req("/v1/chat/completions", {}), "small");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->route, "model:small");
  ASSERT_EQ(m->fallbacks.size(), 1u);
  EXPECT_EQ(m->fallbacks[0]->members[0].backend->config.name, "vllm-claude");
}

TEST(Routes, RegexHeaderMatchIsFull) {
  auto t = Table();
  EXPECT_EQ(t->Resolve(Req("/v1/completions", {{"x-tenant", "team-42"}}), "")->route, "regex");
  EXPECT_EQ(t->Resolve(Req("/v1/completions", {{"x-tenant", "team-42x"}}), ""), nullptr);
}

TEST(Weights, CanarySplitHoldsWithinTwoPercentOver10000) {
  auto t = Table();
  auto* target = t->Resolve(Req("/v1/chat/completions", {{"x-model-id", "gpt-4"}}), "");
  ASSERT_TRUE(target);
  std::map<std::string, int> counts;
  auto now = CircuitBreaker::Clock::now();
  for (int i = 0; i < 10000; ++i) counts[target->group->Pick(RandomUnit, {}, now)->config.name]++;
  EXPECT_NEAR(counts["vllm-gpt4"] / 10000.0, 0.80, 0.02);
  EXPECT_NEAR(counts["vllm-gpt4-canary"] / 10000.0, 0.20, 0.02);
}

TEST(Weights, ExcludesTriedAndEjectedBackends) {
  auto t = Table();
  auto* target = t->Resolve(Req("/v1/chat/completions", {{"x-model-id", "gpt-4"}}), "");
  auto now = CircuitBreaker::Clock::now();
  const BackendState* primary = target->group->members[0].backend;
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(target->group->Pick(RandomUnit, {primary}, now)->config.name, "vllm-gpt4-canary");
  // Eject the canary: with the primary excluded nothing is left.
  auto* canary = target->group->members[1].backend;
  for (int i = 0; i < 10; ++i) canary->breaker->RecordFailure(now);
  EXPECT_EQ(target->group->Pick(RandomUnit, {primary}, now), nullptr);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(target->group->Pick(RandomUnit, {}, now), primary);
}

TEST(Reload, KeepsBreakersOfUnchangedBackends) {
  auto cfg = config::ParseConfig(kConfig, "t.yaml");
  auto first = *RouteTable::Build(*cfg, nullptr);
  auto second = *RouteTable::Build(*cfg, first.get());
  EXPECT_EQ(first->backends()[0]->breaker, second->backends()[0]->breaker);
  cfg->backends[0].url.port = 9999;
  auto third = *RouteTable::Build(*cfg, second.get());
  EXPECT_NE(third->backends()[0]->breaker, second->backends()[0]->breaker);
}

}  // namespace
}  // namespace ap::gateway
