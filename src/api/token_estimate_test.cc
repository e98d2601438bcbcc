// api/token_estimate_test.cc — the estimator against counts cl100k gives for the same text
// (checked with tiktoken), within the error the estimate promises.
#include "api/token_estimate.h"

#include <gtest/gtest.h>

#include "api/openai.h"

namespace ap::api {
namespace {

TEST(TokenEstimate, CommonTextIsWithinAQuarterOfCl100k) {
  struct Case {
    const char* text;
    int cl100k;
  } cases[] = {
      {"Hello, world!", 4},
      {"The quick brown fox jumps over the lazy dog.", 10},
      {"Explain the difference between a process and a thread in two sentences.", 14},
      {"def add(a, b):\n    return a + b\n", 13},
      {"In 2024, revenue grew 12.5% to $1,234,567.", 19},
  };
  for (const auto& c : cases) {
    int64_t got = EstimateTokens(c.text);
    EXPECT_NEAR(static_cast<double>(got), c.cl100k, c.cl100k * 0.25 + 1) << c.text;
  }
  EXPECT_EQ(EstimateTokens(""), 0);
}

TEST(TokenEstimate, RequestParsingEstimatesPromptAndReadsMaxTokens) {
  auto r = ParseInferenceRequest(
      R"({"model":"m","max_tokens":64,"messages":[{"role":"system","content":"You are terse."},)"
      R"({"role":"user","content":"The quick brown fox jumps over the lazy dog."}]})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->max_tokens, 64);
  // cl100k with OpenAI's chat framing counts 27 for this conversation.
  EXPECT_NEAR(static_cast<double>(r->prompt_tokens_estimate), 27, 6);
  auto c = ParseInferenceRequest(R"({"model":"m","prompt":"Hello, world!","max_completion_tokens":5})");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->max_tokens, 5);
  EXPECT_NEAR(static_cast<double>(c->prompt_tokens_estimate), 4, 1);
  auto none = ParseInferenceRequest(R"({"model":"m","input":"x"})");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->max_tokens, -1);
}

}  // namespace
}  // namespace ap::api
