// Golden cases for the OpenAI wire format: validation, splicing edits, usage.
#include "api/openai.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace ap::api {
namespace {

TEST(Parse, ReadsFields) {
  auto r = ParseInferenceRequest(R"({"model":"m","stream":true,"stream_options":{"include_usage":true},"user":"u1","messages":[]})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->model, "m");
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->client_wants_usage);
  EXPECT_EQ(r->user, "u1");
}

TEST(Parse, Errors) {
  auto bad = ParseInferenceRequest("{not json");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, "invalid_json");
  EXPECT_EQ(HttpStatus(bad.error().kind), 400);
  auto no_model = ParseInferenceRequest(R"({"messages":[]})");
  ASSERT_FALSE(no_model);
  EXPECT_EQ(no_model.error().param, "model");
  auto bad_stream = ParseInferenceRequest(R"({"model":"m","stream":"yes"})");
  ASSERT_FALSE(bad_stream);
  EXPECT_EQ(bad_stream.error().param, "stream");
  EXPECT_FALSE(ParseInferenceRequest("[1,2]"));
  EXPECT_FALSE(ParseInferenceRequest(R"({"model":5})"));
  std::string deep(100000, '[');
  EXPECT_FALSE(ParseInferenceRequest(R"({"model":"m","x":)" + deep));
}

TEST(Splice, ReplacesModelAndKeepsEverythingElseByteForByte) {
  std::string body = R"({ "model" : "gpt-4", "temperature": 0.70, "tools":[{"type":"function","function":{"name":"f","parameters":{"model":"inner"}}}], "messages":[{"role":"user","content":"say \"model\""}]})";
  auto r = ParseInferenceRequest(body);
  ASSERT_TRUE(r);
  auto out = BodyForBackend(*r, "meta-llama/Llama-3.1-8B");
  EXPECT_EQ(out, R"({ "model" : "meta-llama/Llama-3.1-8B", "temperature": 0.70, "tools":[{"type":"function","function":{"name":"f","parameters":{"model":"inner"}}}], "messages":[{"role":"user","content":"say \"model\""}]})");
  EXPECT_EQ(BodyForBackend(*r, ""), body);
}

TEST(Splice, ForcesIncludeUsageOnStreams) {
  auto r = ParseInferenceRequest(R"({"model":"m","stream":true,"messages":[]})");
  ASSERT_TRUE(r);
  auto out = BodyForBackend(*r, "b");
  auto v = boost::json::parse(out);
  EXPECT_EQ(v.at("model").as_string(), "b");
  EXPECT_TRUE(v.at("stream_options").at("include_usage").as_bool());

  auto r2 = ParseInferenceRequest(R"({"model":"m","stream":true,"stream_options":{"include_usage":false,"continuous_usage_stats":true}})");
  auto v2 = boost::json::parse(BodyForBackend(*r2, ""));
  EXPECT_TRUE(v2.at("stream_options").at("include_usage").as_bool());
  EXPECT_TRUE(v2.at("stream_options").at("continuous_usage_stats").as_bool());
}

TEST(Splice, InsertsIntoEmptyObject) {
  EXPECT_EQ(SetTopLevelField("{}", "a", "1"), R"({"a":1})");
  EXPECT_EQ(SetTopLevelField(R"({"b":2})", "a", "1"), R"({"a":1,"b":2})");
}

TEST(Usage, FromResponseAndChunks) {
  auto v = boost::json::parse(R"({"usage":{"prompt_tokens":10,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":8}}})");
  auto u = ExtractUsage(v);
  EXPECT_TRUE(u.known);
  EXPECT_EQ(u.total_tokens, 15);
  EXPECT_EQ(u.cached_tokens, 8);

  EXPECT_FALSE(InspectStreamChunk(R"({"choices":[{"delta":{"content":"hi"}}],"usage":null})"));
  auto last = InspectStreamChunk(R"({"id":"x","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}})");
  ASSERT_TRUE(last);
  EXPECT_TRUE(last->usage_only);
  EXPECT_EQ(last->usage.total_tokens, 7);
  auto cont = InspectStreamChunk(R"({"choices":[{"delta":{}}],"usage": {"prompt_tokens":3,"completion_tokens":1}})");
  ASSERT_TRUE(cont);
  EXPECT_FALSE(cont->usage_only);
}

TEST(Errors, Body) {
  ApiError e{ErrorKind::kNotFound, "model 'x' does not exist", "model", "model_not_found"};
  auto v = boost::json::parse(ErrorBody(e));
  EXPECT_EQ(v.at("error").at("type").as_string(), "invalid_request_error");
  EXPECT_EQ(v.at("error").at("code").as_string(), "model_not_found");
  EXPECT_EQ(HttpStatus(e.kind), 404);
}

}  // namespace
}  // namespace ap::api

namespace ap::api {
namespace {
TEST(Usage, FromTextParsesOnlyTheUsageObject) {
  auto u = ExtractUsageFromText(R"({"choices":[{"message":{"content":"the \"usage\": {\"x\":1} field"}}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":2}}})");
  EXPECT_TRUE(u.known);
  EXPECT_EQ(u.total_tokens, 7);
  EXPECT_EQ(u.cached_tokens, 2);
  EXPECT_FALSE(ExtractUsageFromText(R"({"choices":[]})").known);
  EXPECT_FALSE(ExtractUsageFromText(R"({"usage":null})").known);
  EXPECT_FALSE(ExtractUsageFromText(R"({"usage":{"prompt_tokens":)").known);
  // Key names as string values are not keys; total missing is prompt + completion.
  auto v = ExtractUsageFromText(R"({"usage": {"note": "prompt_tokens", "prompt_tokens" : 5, "completion_tokens":1}})");
  EXPECT_TRUE(v.known);
  EXPECT_EQ(v.prompt_tokens, 5);
  EXPECT_EQ(v.total_tokens, 6);
}
}  // namespace
}  // namespace ap::api
