// sim/server_test.cc — the simulator over HTTP on loopback: OpenAI shapes, streaming with
// include_usage, tool calls, embeddings, LoRA, errors, failure injection, /metrics via promtool.
// Simulated time runs 100x faster (time_scale 0.01) so the suite stays quick; nothing is timed.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <future>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "http/client.h"
#include "http/sse.h"
#include "sim/schema_check.h"
#include "sim/sim.h"

namespace ap::sim {
namespace {
namespace json = boost::json;
namespace net = boost::asio;

struct Reply {
  int status = 0;
  std::string body;
  http::ExchangeError error = http::ExchangeError::kNone;
};

net::awaitable<Reply> CallAsync(http::Endpoint ep, std::string method, std::string target,
                                std::string body) {
  http::Exchange ex(ep, http::ExchangeTimeouts{});
  http::bhttp::request<http::bhttp::string_body> req{
      method == "GET" ? http::bhttp::verb::get : http::bhttp::verb::post, target, 11};
  req.set(http::bhttp::field::host, "localhost");
  req.set(http::bhttp::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  Reply r;
  r.error = co_await ex.Start(req);
  if (r.error != http::ExchangeError::kNone) co_return r;
  r.status = ex.status();
  r.error = co_await ex.ReadAll(r.body, 64 << 20);
  co_return r;
}

class SimTest : public ::testing::Test {
 protected:
  void Start(SimOptions o) {
    o.port = 0;
    o.time_scale = o.time_scale == 1.0 ? 0.01 : o.time_scale;
    sim_ = std::make_unique<Simulator>(o);
    std::string error;
    ASSERT_TRUE(sim_->Start(&error)) << error;
    ep_.host = "127.0.0.1";
    ep_.port = sim_->ports()[0];
    ep_.key = "http://127.0.0.1:" + std::to_string(ep_.port);
  }
  void SetUp() override { Start(SimOptions{}); }
  void TearDown() override {
    http::ConnectionPool::Local().Clear();
    sim_->Shutdown(std::chrono::milliseconds(200));
  }
  Reply Call(std::string method, std::string target, std::string body = "") {
    auto fut = net::co_spawn(ioc_, CallAsync(ep_, method, target, body), net::use_future);
    ioc_.restart();
    while (fut.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready) ioc_.run_one();
    return fut.get();
  }
  json::value Post(std::string target, std::string body, int want = 200) {
    Reply r = Call("POST", target, body);
    EXPECT_EQ(r.status, want) << r.body;
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    EXPECT_FALSE(ec) << r.body;
    return v;
  }
  // The `data:` payloads of an SSE body.
  static std::vector<std::string> Events(const std::string& body) {
    std::vector<std::string> out;
    http::SseSplitter sp;
    sp.Feed(body, [&](const http::SseEvent& e) { out.emplace_back(e.data); });
    return out;
  }

  std::unique_ptr<Simulator> sim_;
  http::Endpoint ep_;
  net::io_context ioc_;
};

const std::string kModel = "meta-llama/Llama-3.1-8B-Instruct";

std::string Chat(std::string extra, std::string content = "Hello there, simulator!") {
  return R"({"model":")" + kModel + R"(","messages":[{"role":"user","content":")" + content +
         "\"}]" + extra + "}";
}

TEST_F(SimTest, HealthAndModels) {
  EXPECT_EQ(Call("GET", "/health").status, 200);
  auto v = json::parse(Call("GET", "/v1/models").body);
  EXPECT_EQ(v.at("data").at(0).at("id").as_string(), kModel);
}

TEST_F(SimTest, ChatCompletionHasUsageAndIsDeterministic) {
  auto a = Post("/v1/chat/completions", Chat(R"(,"max_tokens":20,"seed":7)"));
  auto b = Post("/v1/chat/completions", Chat(R"(,"max_tokens":20,"seed":7)"));
  EXPECT_EQ(a.at("object").as_string(), "chat.completion");
  const auto& choice = a.at("choices").at(0);
  EXPECT_EQ(choice.at("message").at("role").as_string(), "assistant");
  EXPECT_EQ(choice.at("message").at("content"), b.at("choices").at(0).at("message").at("content"));
  const auto& usage = a.at("usage");
  EXPECT_GT(usage.at("prompt_tokens").as_int64(), 3);
  EXPECT_LE(usage.at("completion_tokens").as_int64(), 20);
  EXPECT_EQ(usage.at("total_tokens").as_int64(),
            usage.at("prompt_tokens").as_int64() + usage.at("completion_tokens").as_int64());
  std::string finish(choice.at("finish_reason").as_string());
  EXPECT_TRUE(finish == "length" || finish == "stop");
  if (finish == "length") {
    EXPECT_EQ(usage.at("completion_tokens").as_int64(), 20);
  }
}

TEST_F(SimTest, CompletionsEndpoint) {
  auto v = Post("/v1/completions",
                R"({"model":")" + kModel + R"(","prompt":"Once upon a time","max_tokens":5})");
  EXPECT_EQ(v.at("object").as_string(), "text_completion");
  EXPECT_FALSE(v.at("choices").at(0).at("text").as_string().empty());
  EXPECT_EQ(v.at("choices").at(0).at("finish_reason").as_string(), "length");
  EXPECT_EQ(v.at("usage").at("completion_tokens").as_int64(), 5);
}

TEST_F(SimTest, StreamingWithIncludeUsage) {
  Reply r = Call("POST", "/v1/chat/completions",
                 Chat(R"(,"max_tokens":12,"seed":3,"stream":true,"stream_options":{"include_usage":true})"));
  ASSERT_EQ(r.status, 200);
  auto events = Events(r.body);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  auto usage_chunk = json::parse(events[events.size() - 2]);
  EXPECT_TRUE(usage_chunk.at("choices").as_array().empty());
  int64_t completion = usage_chunk.at("usage").at("completion_tokens").as_int64();
  auto finish_chunk = json::parse(events[events.size() - 3]);
  EXPECT_FALSE(finish_chunk.at("choices").at(0).at("finish_reason").is_null());
  std::string content;
  int content_chunks = 0;
  for (size_t i = 0; i + 3 < events.size(); ++i) {
    auto c = json::parse(events[i]);
    EXPECT_EQ(c.at("object").as_string(), "chat.completion.chunk");
    EXPECT_FALSE(c.as_object().contains("usage"));
    const auto& delta = c.at("choices").at(0).at("delta");
    if (i == 0) {
      EXPECT_EQ(delta.at("role").as_string(), "assistant");
    }
    content += delta.at("content").as_string();
    ++content_chunks;
  }
  EXPECT_EQ(content_chunks, completion);
  auto whole = Post("/v1/chat/completions", Chat(R"(,"max_tokens":12,"seed":3)"));
  EXPECT_EQ(whole.at("choices").at(0).at("message").at("content").as_string(), content);
  // Without include_usage: no usage chunk.
  auto plain = Events(Call("POST", "/v1/chat/completions", Chat(R"(,"max_tokens":3,"stream":true)")).body);
  EXPECT_FALSE(json::parse(plain[plain.size() - 2]).at("choices").as_array().empty());
}

const char* kTools = R"(,"tools":[{"type":"function","function":{"name":"get_weather",
  "parameters":{"type":"object","properties":{"city":{"type":"string"},
  "unit":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer"}},
  "required":["city","unit"]}}}])";

TEST_F(SimTest, ToolCallsValidateAgainstSchema) {
  auto v = Post("/v1/chat/completions", Chat(std::string(kTools) + R"(,"seed":5)"));
  const auto& choice = v.at("choices").at(0);
  EXPECT_EQ(choice.at("finish_reason").as_string(), "tool_calls");
  const auto& call = choice.at("message").at("tool_calls").at(0);
  EXPECT_EQ(call.at("type").as_string(), "function");
  EXPECT_EQ(call.at("function").at("name").as_string(), "get_weather");
  auto args = json::parse(call.at("function").at("arguments").as_string());
  auto schema = json::parse(std::string("{") + (kTools + 1) + "}")
                    .at("tools").at(0).at("function").at("parameters");
  std::string why;
  EXPECT_TRUE(testing_schema::Validate(schema, args, &why)) << why;

  // Streamed: the first delta names the call, later ones carry argument fragments.
  auto events = Events(Call("POST", "/v1/chat/completions",
                            Chat(std::string(kTools) + R"(,"seed":5,"stream":true)")).body);
  std::string streamed_args;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    auto c = json::parse(events[i]);
    const auto& ch = c.at("choices").at(0);
    if (const auto* tc = ch.at("delta").as_object().if_contains("tool_calls")) {
      EXPECT_EQ(tc->at(0).at("index").as_int64(), 0);
      if (i == 0) {
        EXPECT_EQ(tc->at(0).at("id"), call.at("id"));
      }
      streamed_args += tc->at(0).at("function").at("arguments").as_string();
    }
    if (!ch.at("finish_reason").is_null()) {
      EXPECT_EQ(ch.at("finish_reason").as_string(), "tool_calls");
    }
  }
  EXPECT_EQ(streamed_args, call.at("function").at("arguments").as_string());

  // After a tool result the model answers in text.
  auto after = Post("/v1/chat/completions",
                    R"({"model":")" + kModel + R"(","messages":[{"role":"user","content":"hi"},
                    {"role":"assistant","tool_calls":[]},{"role":"tool","tool_call_id":"x",
                    "content":"sunny"}])" + kTools + "}");
  EXPECT_NE(after.at("choices").at(0).at("finish_reason").as_string(), "tool_calls");
}

TEST_F(SimTest, EmbeddingsAreDeterministicAndNormalised) {
  std::string body = R"({"model":")" + kModel + R"(","input":["the quick fox","another text"]})";
  auto a = Post("/v1/embeddings", body), b = Post("/v1/embeddings", body);
  EXPECT_EQ(json::serialize(a.at("data")), json::serialize(b.at("data")));
  ASSERT_EQ(a.at("data").as_array().size(), 2u);
  double norm = 0;
  for (const auto& x : a.at("data").at(0).at("embedding").as_array()) norm += x.as_double() * x.as_double();
  EXPECT_NEAR(norm, 1.0, 1e-4);
  EXPECT_NE(a.at("data").at(0).at("embedding"), a.at("data").at(1).at("embedding"));
  auto c = Post("/v1/embeddings",
                R"({"model":")" + kModel + R"(","input":"x","encoding_format":"base64","dimensions":8})");
  EXPECT_EQ(c.at("data").at(0).at("embedding").as_string().size(), 44u);  // 32 bytes
}

TEST_F(SimTest, OpenAiShapedErrors) {
  auto bad = Post("/v1/chat/completions", "{not json", 400);
  EXPECT_TRUE(bad.at("error").as_object().contains("message"));
  EXPECT_TRUE(bad.at("error").as_object().contains("type"));
  EXPECT_TRUE(bad.at("error").as_object().contains("param"));
  EXPECT_TRUE(bad.at("error").as_object().contains("code"));
  auto unknown = Post("/v1/chat/completions",
                      R"({"model":"nope","messages":[{"role":"user","content":"x"}]})", 404);
  EXPECT_EQ(unknown.at("error").at("code").as_string(), "model_not_found");
  Post("/v1/chat/completions", Chat(R"(,"max_tokens":100000000)"), 400);
  Post("/v1/chat/completions", R"({"model":")" + kModel + R"("})", 400);
}

TEST_F(SimTest, LoraAdapters) {
  EXPECT_EQ(Call("POST", "/v1/load_lora_adapter", R"({"lora_name":"sql","lora_path":"/a/sql"})").status, 200);
  EXPECT_EQ(Call("POST", "/v1/load_lora_adapter", R"({"lora_name":"sql","lora_path":"/a/sql"})").status, 400);
  auto models = json::parse(Call("GET", "/v1/models").body);
  ASSERT_EQ(models.at("data").as_array().size(), 2u);
  EXPECT_EQ(models.at("data").at(1).at("parent").as_string(), kModel);
  auto v = Post("/v1/chat/completions",
                R"({"model":"sql","messages":[{"role":"user","content":"x"}],"max_tokens":2})");
  EXPECT_EQ(v.at("model").as_string(), "sql");
  EXPECT_EQ(Call("POST", "/v1/unload_lora_adapter", R"({"lora_name":"sql"})").status, 200);
  Post("/v1/chat/completions", R"({"model":"sql","messages":[{"role":"user","content":"x"}]})", 404);
}

TEST_F(SimTest, RepeatedPromptHitsPrefixCache) {
  std::string long_text;
  for (int i = 0; i < 200; ++i) long_text += "shared context word ";
  auto first = Post("/v1/chat/completions", Chat(R"(,"max_tokens":2)", long_text));
  auto second = Post("/v1/chat/completions", Chat(R"(,"max_tokens":2)", long_text));
  EXPECT_EQ(first.at("usage").at("prompt_tokens_details").at("cached_tokens").as_int64(), 0);
  EXPECT_GT(second.at("usage").at("prompt_tokens_details").at("cached_tokens").as_int64(), 400);
  std::string metrics = Call("GET", "/metrics").body;
  EXPECT_NE(metrics.find("vllm:prefix_cache_hits_total{model_name=\"" + kModel + "\"}"), std::string::npos);
}

TEST_F(SimTest, MetricsPassPromtool) {
  Post("/v1/chat/completions", Chat(R"(,"max_tokens":4)"));
  Reply r = Call("GET", "/metrics");
  ASSERT_EQ(r.status, 200);
  for (const char* name :
       {"vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
        "vllm:prefix_cache_queries_total", "vllm:prompt_tokens_total",
        "vllm:generation_tokens_total", "vllm:cache_config_info{block_size=\"16\"",
        "vllm:lora_requests_info{max_lora=\"1\"", "vllm:time_to_first_token_seconds_bucket",
        "vllm:inter_token_latency_seconds_bucket", "vllm:e2e_request_latency_seconds_count",
        "DCGM_FI_DEV_GPU_UTIL{gpu=\"0\"", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE",
        "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_POWER_USAGE", "modelName=\"NVIDIA H100 80GB HBM3\""})
    EXPECT_NE(r.body.find(name), std::string::npos) << name;
  if (access("/usr/bin/promtool", X_OK) != 0) GTEST_SKIP() << "promtool not installed";
  std::string path = ::testing::TempDir() + "sim_metrics.txt";
  std::ofstream(path) << r.body;
  int rc = std::system(("/usr/bin/promtool check metrics < " + path + " > " + path + ".out 2>&1").c_str());
  std::ifstream in(path + ".out");
  // promtool exits 3 for lint findings and 1 for parse errors. Two lints are forced by the
  // contracts we copy (vLLM's "vllm:" names, DCGM's camelCase labels) and real servers trip
  // them too; any other finding, or a parse error, fails.
  std::string line, unexpected;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    bool forced = line.ends_with("metric names should not contain ':'") ||
                  line.ends_with("label names should be written in 'snake_case' not 'camelCase'");
    if (!forced) unexpected += line + "\n";
  }
  EXPECT_TRUE(rc == 0 || (WIFEXITED(rc) && WEXITSTATUS(rc) == 3)) << "promtool rc " << rc;
  EXPECT_EQ(unexpected, "");
}

class FaultTest : public SimTest {
 protected:
  void SetUp() override {}
};

TEST_F(FaultTest, ErrorRateAnswers500) {
  SimOptions o;
  o.error_rate = 1.0;
  Start(o);
  auto v = Post("/v1/chat/completions", Chat(""), 500);
  EXPECT_EQ(v.at("error").at("type").as_string(), "server_error");
}

TEST_F(FaultTest, DropRateCutsStreams) {
  SimOptions o;
  o.drop_rate = 1.0;
  Start(o);
  Reply r = Call("POST", "/v1/chat/completions", Chat(R"(,"max_tokens":20,"stream":true)"));
  EXPECT_NE(r.error, http::ExchangeError::kNone);
  EXPECT_EQ(r.body.find("[DONE]"), std::string::npos);
  // The replica keeps serving after a drop.
  EXPECT_EQ(Call("GET", "/health").status, 200);
}

// 2,000 concurrent streams on one replica; prints the process's CPU use (client included).
TEST_F(FaultTest, CarriesTwoThousandConcurrentStreams) {
  SimOptions o;
  o.max_num_seqs = 2048;
  o.time_scale = 1.0 + 1e-9;  // real time
  Start(o);
  constexpr int kStreams = 2000;
  int done = 0, ok = 0;
  auto one = [&](int i) -> net::awaitable<void> {
    Reply r = co_await CallAsync(
        ep_, "POST", "/v1/chat/completions",
        Chat(R"(,"max_tokens":40,"ignore_eos":true,"stream":true)", "request " + std::to_string(i)));
    if (r.status == 200 && r.body.find("[DONE]") != std::string::npos) ++ok;
    ++done;
  };
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kStreams; ++i) net::co_spawn(ioc_, one(i), net::detached);
  ioc_.restart();
  while (done < kStreams) ioc_.run_one();
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  getrusage(RUSAGE_SELF, &after);
  auto secs = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  double cpu = secs(after.ru_utime) - secs(before.ru_utime) + secs(after.ru_stime) - secs(before.ru_stime);
  EXPECT_EQ(ok, kStreams);
  std::printf("[ measure  ] %d streams x 40 tokens: wall %.2f s, cpu %.2f s (%.0f%% of a core, "
              "client included)\n", kStreams, wall, cpu, 100 * cpu / wall);
}

}  // namespace
}  // namespace ap::sim
