// api/token_estimate_test.cc — the estimator against exact cl100k counts of the same text.
//
// The counts are js-tiktoken's (cl100k_base); tests/telemetry_sdk/token_estimate.test.mjs
// checks every {"text", count} pair below against the library, and measures the estimate's
// error on a larger corpus (docs/telemetry.md: about 5 % mean, 11 % p90).
#include "api/token_estimate.h"

#include <gtest/gtest.h>

#include "api/openai.h"

namespace ap::api {
namespace {

struct Case {
  const char* text;
  int cl100k;
};

// Keep each case on one line as {"text", count}: the Node test parses them.
constexpr Case kCases[] = {
    {"Hello, world!", 4},
    {"The quick brown fox jumps over the lazy dog.", 10},
    {"Explain the difference between a process and a thread in two sentences.", 14},
    {"def add(a, b):\n    return a + b\n", 12},
    {"In 2024, revenue grew 12.5% to $1,234,567.", 20},
    {"int64_t EstimateTokens(std::string_view text) {\n  return text.size() / 4;\n}\n", 22},
    {"{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":64}", 26},
    {"Die Bundesregierung hat einen Gesetzentwurf beschlossen.", 14},
    {"Правительство объявило о новой программе.", 16},
    {"人工智能正在改变许多行业的工作方式。", 18},
    {"2025-11-30T12:00:07.123Z INFO request_id=9f3a status=200 latency_ms=412", 30},
    {"You are a helpful assistant. Answer concisely.", 11},
};

TEST(TokenEstimate, EachCaseIsNearItsCl100kCount) {
  for (const auto& c : kCases) {
    int64_t got = EstimateTokens(c.text);
    EXPECT_NEAR(static_cast<double>(got), c.cl100k, c.cl100k * 0.3 + 1) << c.text;
  }
  EXPECT_EQ(EstimateTokens(""), 0);
}

TEST(TokenEstimate, TheCasesTogetherAreWithinAFewPercent) {
  int64_t want = 0, got = 0;
  for (const auto& c : kCases) {
    want += c.cl100k;
    got += EstimateTokens(c.text);
  }
  EXPECT_NEAR(static_cast<double>(got), static_cast<double>(want), want * 0.08);
}

TEST(TokenEstimate, FollowsThePreTokenizersSplits) {
  EXPECT_EQ(EstimateTokens("hello"), 1);
  EXPECT_EQ(EstimateTokens(" hello world"), 2);        // words carry their leading space
  EXPECT_EQ(EstimateTokens("1234567"), 3);             // digits in groups of three
  EXPECT_EQ(EstimateTokens("foo.bar"), 2);             // "foo" ".bar"
  EXPECT_EQ(EstimateTokens("EstimateTokens"), 2);      // camel case: "Estimate" "Tokens"
  EXPECT_EQ(EstimateTokens("a\n\n\nb"), 3);             // a newline run is one piece
}

TEST(TokenEstimate, RequestParsingEstimatesPromptAndReadsMaxTokens) {
  auto r = ParseInferenceRequest(
      R"({"model":"m","max_tokens":64,"messages":[{"role":"system","content":"You are terse."},)"
      R"({"role":"user","content":"The quick brown fox jumps over the lazy dog."}]})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->max_tokens, 64);
  // cl100k counts 25 for this conversation with OpenAI's framing (3 per message, role and
  // content, 3 to prime the reply; js-tiktoken).
  EXPECT_NEAR(static_cast<double>(r->prompt_tokens_estimate), 25, 6);
  auto c = ParseInferenceRequest(R"({"model":"m","prompt":"Hello, world!","max_completion_tokens":5})");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->max_tokens, 5);
  EXPECT_NEAR(static_cast<double>(c->prompt_tokens_estimate), 4, 1);
  auto none = ParseInferenceRequest(R"({"model":"m","input":"x"})");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->max_tokens, -1);
}

TEST(TokenEstimate, APromptNotEstimatedAtParseIsEstimatedWhenAsked) {
  const std::string body =
      R"({"model":"m","messages":[{"role":"user","content":"The quick brown fox jumps over the lazy dog."}]})";
  auto eager = ParseInferenceRequest(body);
  auto lazy = ParseInferenceRequest(body, /*estimate_prompt=*/false);
  ASSERT_TRUE(eager && lazy);
  EXPECT_EQ(lazy->prompt_tokens_estimate, -1);
  EXPECT_GT(PromptTokens(*eager), 0);
  EXPECT_EQ(PromptTokens(*lazy), PromptTokens(*eager));
}

}  // namespace
}  // namespace ap::api
