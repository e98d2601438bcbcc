#include "config/config.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace ap::config {
namespace {

constexpr const char* kFull = R"(
server:
  port: 9000
  max_body_size: 1MiB
  read_timeout: 2s
backends:
  - name: vllm-gpt4
    url: http://10.0.0.1:8000/v1/
    model: meta-llama/Llama-3.1-8B
    api_key: ${AP_TEST_KEY}
    headers: {x-team: ml}
    timeouts: {connect: 1s, first_byte: 10s, total: 60s}
    retries: {attempts: 4, backoff: 50ms}
    circuit_breaker: {failures: 3, cooldown: 5s}
  - name: vllm-gpt4-canary
    url: https://canary.example.com
models:
  - name: gpt-4
    backends: [{name: vllm-gpt4, weight: 80}, {name: vllm-gpt4-canary, weight: 20}]
    fallbacks: [vllm-gpt4-canary]
routes:
  - name: canary
    matches:
      - path: {type: PathPrefix, value: /v1/chat/completions}
        headers: [{name: x-model-id, value: gpt-4}]
    backendRefs:
      - {name: vllm-gpt4, weight: 80}
      - {name: vllm-gpt4-canary, weight: 20}
)";

TEST(Config, ParsesEveryField) {
  setenv("AP_TEST_KEY", "sk-test", 1);
  auto cfg = ParseConfig(kFull, "test.yaml");
  ASSERT_TRUE(cfg) << cfg.error().ToString();
  EXPECT_EQ(cfg->server.port, 9000);
  EXPECT_EQ(cfg->server.max_body_bytes, 1u << 20);
  EXPECT_EQ(cfg->server.read_timeout.count(), 2000);
  ASSERT_EQ(cfg->backends.size(), 2u);
  const auto& b = cfg->backends[0];
  EXPECT_EQ(b.url.host, "10.0.0.1");
  EXPECT_EQ(b.url.port, 8000);
  EXPECT_EQ(b.url.base_path, "/v1");
  EXPECT_EQ(b.api_key, "sk-test");
  EXPECT_EQ(b.retry.max_attempts, 4);
  EXPECT_EQ(b.breaker.failure_threshold, 3);
  EXPECT_EQ(b.timeouts.first_byte.count(), 10000);
  EXPECT_TRUE(cfg->backends[1].url.tls);
  EXPECT_EQ(cfg->backends[1].url.port, 443);
  ASSERT_EQ(cfg->routes.size(), 1u);
  EXPECT_EQ(cfg->routes[0].matches[0].headers[0].name, "x-model-id");
  EXPECT_EQ(cfg->routes[0].backends[1].weight, 20u);
  EXPECT_EQ(cfg->FindModel("gpt-4")->fallbacks[0], "vllm-gpt4-canary");
}

TEST(Config, ErrorsNameFileLineAndField) {
  auto cfg = ParseConfig("server:\n  port: 9000\n  read_timeout: soon\n", "bad.yaml");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().line, 3);
  EXPECT_EQ(cfg.error().field, "server.read_timeout");
  EXPECT_EQ(cfg.error().ToString(), "bad.yaml:3: server.read_timeout: not a duration: 'soon'");
}

TEST(Config, ConnectionPlacementIsPackOrSpread) {
  auto cfg = ParseConfig("server:\n  port: 9000\n", "a.yaml");
  ASSERT_TRUE(cfg);
  EXPECT_EQ(cfg->server.connection_placement, "pack");
  cfg = ParseConfig("server:\n  connection_placement: spread\n", "b.yaml");
  ASSERT_TRUE(cfg);
  EXPECT_EQ(cfg->server.connection_placement, "spread");
  cfg = ParseConfig("server:\n  connection_placement: random\n", "c.yaml");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().ToString(), "c.yaml:2: server.connection_placement: must be pack or spread");
}

TEST(Config, UnknownFieldsAreErrors) {
  auto cfg = ParseConfig("server:\n  prot: 9000\n", "typo.yaml");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().field, "server.prot");
  EXPECT_EQ(cfg.error().line, 2);
}

TEST(Config, UnknownBackendReference) {
  auto cfg = ParseConfig("models:\n  - name: m\n    backends: [nope]\n", "ref.yaml");
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message.find("unknown backend 'nope'"), std::string::npos);
  EXPECT_EQ(cfg.error().line, 2);
}

TEST(Config, MissingEnvVariableIsAnError) {
  unsetenv("AP_DEFINITELY_UNSET");
  auto cfg = ParseConfig("backends:\n  - name: a\n    url: http://h:1\n    api_key: ${AP_DEFINITELY_UNSET}\n", "env.yaml");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().line, 4);
  EXPECT_NE(cfg.error().message.find("AP_DEFINITELY_UNSET"), std::string::npos);
}

TEST(Config, EnvDefaults) {
  unsetenv("AP_UNSET2");
  EXPECT_EQ(*ExpandEnv("a${AP_UNSET2:-b}c", nullptr), "abc");
  setenv("AP_SET2", "x", 1);
  EXPECT_EQ(*ExpandEnv("${AP_SET2}/${AP_SET2}", nullptr), "x/x");
}

TEST(Config, YamlSyntaxErrorHasLine) {
  auto cfg = ParseConfig("server:\n  port: [1, 2\n", "syntax.yaml");
  ASSERT_FALSE(cfg);
  EXPECT_GT(cfg.error().line, 0);
}

// The HTTPRoute from the reference document, as written there, is accepted.
TEST(Config, AcceptsReferenceHttpRoute) {
  constexpr const char* kYaml = R"(
backends:
  - {name: vllm-gpt4, url: "http://127.0.0.1:8000"}
  - {name: vllm-gpt4-canary, url: "http://127.0.0.1:8001"}
  - {name: vllm-claude, url: "http://127.0.0.1:8002"}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: ai-model-routing
  namespace: ai-inference
spec:
  parentRefs:
    - name: ai-gateway
      namespace: ai-gateway
  rules:
    - matches:
        - path:
            type: PathPrefix
            value: /v1/chat/completions
          headers:
            - name: x-model-id
              value: "gpt-4"
      backendRefs:
        - name: vllm-gpt4
          port: 8000
          weight: 80
        - name: vllm-gpt4-canary
          port: 8000
          weight: 20
    - matches:
        - path:
            type: PathPrefix
            value: /v1/chat/completions
          headers:
            - name: x-model-id
              value: "claude-3"
      backendRefs:
        - name: vllm-claude
          port: 8000
)";
  auto cfg = ParseConfig(kYaml, "route.yaml");
  ASSERT_TRUE(cfg) << cfg.error().ToString();
  ASSERT_EQ(cfg->routes.size(), 2u);
  EXPECT_EQ(cfg->routes[0].name, "ai-model-routing/0");
  EXPECT_EQ(cfg->routes[0].backends[0].weight, 80u);
  EXPECT_EQ(cfg->routes[1].backends[0].backend, "vllm-claude");
}

// The examples shipped in the repository stay valid.
TEST(Config, ExamplesParse) {
  setenv("OPENAI_API_KEY", "sk-example", 1);
  for (const char* name : {"examples/gateway.yaml", "examples/local.yaml"}) {
    auto cfg = LoadConfigFile(std::string(AP_SOURCE_DIR) + "/" + name);
    EXPECT_TRUE(cfg) << cfg.error().ToString();
  }
  auto local = LoadConfigFile(std::string(AP_SOURCE_DIR) + "/examples/local.yaml");
  ASSERT_TRUE(local);
  ASSERT_EQ(local->fleet.size(), 2u);
  EXPECT_EQ(local->fleet[1].gpu, "A100-80GB");
  EXPECT_EQ(local->fleet[0].replicas, 2);
}

TEST(Config, FleetValidation) {
  auto bad = ParseConfig("fleet:\n  - {model: m, replicas: 0}\n", "f.yaml");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "fleet[0].replicas");
}

TEST(Config, SchedulerBlock) {
  constexpr const char* kYaml = R"(
backends:
  - {name: r0, url: http://127.0.0.1:1/v1}
  - {name: r1, url: http://127.0.0.1:2/v1}
models:
  - name: m
    backends: [r0, r1]
    scheduler:
      mode: prefix
      scorers: {queue: 1, kv_cache: 0.5, prefix: 4, session: 1, lora: 2, in_flight: 1}
      scrape_interval: 20ms
      stale_after: 200ms
      saturation: {max_waiting: 8, max_kv_cache: 0.95}
      queue: {max: 10, timeout: 2s, priority_header: x-prio, priorities: {batch: -1, gold: 5}}
      prefix: {block_chars: 128}
      debug_header: true
  - name: plain
    backends: [r0]
)";
  auto cfg = ParseConfig(kYaml, "s.yaml");
  ASSERT_TRUE(cfg) << cfg.error().ToString();
  ASSERT_TRUE(cfg->models[0].scheduler);
  const auto& s = *cfg->models[0].scheduler;
  EXPECT_EQ(s.mode, "prefix");
  EXPECT_DOUBLE_EQ(s.scorers.kv_cache, 0.5);
  EXPECT_DOUBLE_EQ(s.scorers.prefix, 4);
  EXPECT_EQ(s.scrape_interval.count(), 20);
  EXPECT_EQ(s.stale_after.count(), 200);
  EXPECT_EQ(s.max_waiting, 8);
  EXPECT_DOUBLE_EQ(s.max_kv_cache, 0.95);
  EXPECT_EQ(s.queue_max, 10);
  EXPECT_EQ(s.queue_timeout.count(), 2000);
  EXPECT_EQ(s.priority_header, "x-prio");
  EXPECT_EQ(s.priorities.at("gold"), 5);
  EXPECT_EQ(s.priorities.at("batch"), -1);
  EXPECT_EQ(s.prefix_block_chars, 128);
  EXPECT_TRUE(s.debug_header);
  EXPECT_FALSE(cfg->models[1].scheduler);
  auto defaults = ParseConfig("backends: [{name: r, url: http://h:1}]\nmodels: [{name: m, backends: [r], scheduler: {}}]\n", "d.yaml");
  ASSERT_TRUE(defaults) << defaults.error().ToString();
  EXPECT_EQ(defaults->models[0].scheduler->mode, "default");
  EXPECT_DOUBLE_EQ(defaults->models[0].scheduler->scorers.prefix, 3);
  EXPECT_EQ(defaults->models[0].scheduler->scrape_interval.count(), 50);
}

TEST(Config, SchedulerValidation) {
  auto parse = [](const std::string& block) {
    return ParseConfig("backends: [{name: r, url: http://h:1}]\nmodels:\n  - name: m\n    backends: [r]\n    scheduler: " + block + "\n", "v.yaml");
  };
  struct Case { const char* block; const char* field; };
  for (auto c : {Case{"{mode: fastest}", "models[0].scheduler.mode"},
                 Case{"{scorers: {prefx: 1}}", "models[0].scheduler.scorers.prefx"},
                 Case{"{scorers: {queue: -1}}", "models[0].scheduler.scorers.queue"},
                 Case{"{saturation: {max_kv_cache: 1.5}}", "models[0].scheduler.saturation.max_kv_cache"},
                 Case{"{scrape_interval: 1s, stale_after: 100ms}", "models[0].scheduler.stale_after"},
                 Case{"{queue: {priorities: {a: high}}}", "models[0].scheduler.queue.priorities.a"},
                 Case{"{prefix: {block_chars: 4}}", "models[0].scheduler.prefix.block_chars"},
                 Case{"{debug_header: yes}", "models[0].scheduler.debug_header"}}) {
    auto cfg = parse(c.block);
    ASSERT_FALSE(cfg) << c.block;
    EXPECT_EQ(cfg.error().field, c.field) << c.block;
    EXPECT_GT(cfg.error().line, 0) << c.block;
  }
}

TEST(Config, Urls) {
  EXPECT_EQ(ParseUrl("http://[::1]:8080/v1")->host, "::1");
  EXPECT_EQ(ParseUrl("https://api.openai.com/v1")->HostHeader(), "api.openai.com");
  EXPECT_FALSE(ParseUrl("ftp://x"));
  EXPECT_FALSE(ParseUrl("http://x:99999"));
}

TEST(Config, ParsesTelemetry) {
  auto c = ParseConfig(R"(
telemetry:
  data_dir: /tmp/ap
  queue: 1000
  retention: 30d
  capture: full
  capture_limit: 4KiB
  redact: ['sk-[A-Za-z0-9]+']
  prices: [{match: 'my-model', input: 1.5, output: 2, start_date: '2025-01-01'}]
  gpu_prices: [{match: 'sim-.*', usd_per_hour: 98.32, tokens_per_second: 5000}]
  projects: [{name: default, public_key: pk-1, secret_key: sk-1}]
)", "t.yaml");
  ASSERT_TRUE(c) << c.error().ToString();
  const auto& t = c->telemetry;
  EXPECT_EQ(t.data_dir, "/tmp/ap");
  EXPECT_EQ(t.queue, 1000u);
  EXPECT_EQ(t.retention, std::chrono::hours(24 * 30));
  EXPECT_EQ(t.capture, "full");
  EXPECT_EQ(t.capture_limit, 4096u);
  EXPECT_TRUE(t.writer_background);  // the default
  ASSERT_EQ(t.prices.size(), 1u);
  EXPECT_DOUBLE_EQ(t.prices[0].input_per_million, 1.5);
  ASSERT_EQ(t.gpu_prices.size(), 1u);
  EXPECT_DOUBLE_EQ(t.gpu_prices[0].usd_per_hour, 98.32);
  ASSERT_EQ(t.projects.size(), 1u);
  EXPECT_EQ(t.projects[0].secret_key, "sk-1");
  auto bad = ParseConfig("telemetry: {capture: everything}", "t.yaml");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "telemetry.capture");
  auto typo = ParseConfig("telemetry: {queu: 5}", "t.yaml");
  ASSERT_FALSE(typo);
  EXPECT_EQ(typo.error().field, "telemetry.queu");
  auto normal = ParseConfig("telemetry: {writer_priority: normal}", "t.yaml");
  ASSERT_TRUE(normal) << normal.error().ToString();
  EXPECT_FALSE(normal->telemetry.writer_background);
  auto realtime = ParseConfig("telemetry: {writer_priority: realtime}", "t.yaml");
  ASSERT_FALSE(realtime);
  EXPECT_EQ(realtime.error().field, "telemetry.writer_priority");
}

TEST(Config, ParsesTelemetryExport) {
  setenv("AP_TEST_COLLECTOR_TOKEN", "tok-1", 1);
  auto c = ParseConfig(R"(
telemetry:
  export:
    endpoint: http://collector:4318/v1/traces
    headers: {authorization: 'Bearer ${AP_TEST_COLLECTOR_TOKEN}', x-tenant: acme}
    protocol: json
    batch_size: 100
    interval: 500ms
    queue: 1000
    timeout: 2s
    max_retries: 3
)", "t.yaml");
  ASSERT_TRUE(c) << c.error().ToString();
  const auto& x = c->telemetry.otlp_export;
  EXPECT_EQ(x.endpoint, "http://collector:4318/v1/traces");
  ASSERT_EQ(x.headers.size(), 2u);
  EXPECT_EQ(x.headers[0], (std::pair<std::string, std::string>{"authorization", "Bearer tok-1"}));
  EXPECT_EQ(x.batch_size, 100u);
  EXPECT_EQ(x.interval, std::chrono::milliseconds(500));
  EXPECT_EQ(x.queue, 1000u);
  EXPECT_EQ(x.timeout, std::chrono::seconds(2));
  EXPECT_EQ(x.max_retries, 3);
  auto proto = ParseConfig("telemetry: {export: {endpoint: 'http://c:4318', protocol: grpc}}", "t.yaml");
  ASSERT_FALSE(proto);
  EXPECT_EQ(proto.error().field, "telemetry.export.protocol");
  auto missing = ParseConfig("telemetry: {export: {batch_size: 5}}", "t.yaml");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().field, "telemetry.export.endpoint");
  auto env = ParseConfig("telemetry: {export: {endpoint: 'http://c', headers: {a: '${AP_TEST_UNSET_VAR}'}}}", "t.yaml");
  ASSERT_FALSE(env);
  EXPECT_EQ(env.error().field, "telemetry.export.headers.a");
}

}  // namespace
}  // namespace ap::config

namespace ap::config {
namespace {

TEST(Config, ParsesLimits) {
  auto c = ParseConfig(R"(
limits:
  admin_key: admin-key-0123456789
  redis: redis://127.0.0.1:6380/2
  redis_failure: closed
  redis_timeout: 25ms
  reserve_completion_tokens: 512
)", "limits.yaml");
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_TRUE(c->limits.configured);
  EXPECT_EQ(c->limits.admin_key, "admin-key-0123456789");
  EXPECT_EQ(c->limits.redis, "redis://127.0.0.1:6380/2");
  EXPECT_FALSE(c->limits.fail_open);
  EXPECT_EQ(c->limits.redis_timeout, std::chrono::milliseconds(25));
  EXPECT_EQ(c->limits.reserve_completion_tokens, 512u);

  auto bad = ParseConfig("limits:\n  redis: 127.0.0.1:6379\n", "l.yaml");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().ToString(), "l.yaml:2: limits.redis: must be a redis://host:port[/db] URL");
  auto weak = ParseConfig("limits:\n  admin_key: short\n", "l.yaml");
  ASSERT_FALSE(weak);
  EXPECT_NE(weak.error().ToString().find("at least 16 characters"), std::string::npos);
  auto typo = ParseConfig("limits:\n  redis_fail: open\n", "l.yaml");
  ASSERT_FALSE(typo);
}

}  // namespace
}  // namespace ap::config
