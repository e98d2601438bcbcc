// telemetry/ingest_test.cc — ingestion formats: Langfuse events → items, and OTLP traces as
// JSON, protobuf (encoded here by hand, field by field, as the spec numbers them) and gzip.
#include <zlib.h>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "telemetry/langfuse.h"
#include "telemetry/otlp.h"

namespace ap::telemetry {
namespace {
namespace json = boost::json;

langfuse::Parsed Parse(const char* text) { return langfuse::ParseEvent(json::parse(text), "p"); }

TEST(Langfuse, ParsesTraceCreate) {
  auto p = Parse(R"({"id":"e1","type":"trace-create","timestamp":"2024-05-01T12:00:00.000Z","body":{
    "id":"t1","timestamp":"2024-05-01T12:00:00.000Z","name":"chat","userId":"u","sessionId":"s",
    "tags":["a"],"input":{"q":1},"metadata":{"m":true},"release":"r","version":"v","public":true}})");
  ASSERT_TRUE(p.error.empty()) << p.error;
  ASSERT_TRUE(p.item);
  EXPECT_EQ(p.item->event_id, "p/e1");
  const auto& t = std::get<Trace>(p.item->body);
  EXPECT_EQ(t.id, "t1");
  EXPECT_EQ(t.timestamp_us, 1'714'564'800'000'000);
  EXPECT_EQ(t.user_id, "u");
  EXPECT_EQ(t.session_id, "s");
  EXPECT_EQ(t.input, R"({"q":1})");
  EXPECT_EQ(t.tags, std::vector<std::string>{"a"});
  EXPECT_EQ(t.is_public, true);
}

TEST(Langfuse, ParsesGenerationWithUsageDetailsAndCost) {
  auto p = Parse(R"({"id":"e2","type":"generation-create","timestamp":"2024-05-01T12:00:00Z","body":{
    "id":"g1","traceId":"t1","parentObservationId":"s1","name":"llm","model":"gpt-4o",
    "startTime":"2024-05-01T12:00:00Z","completionStartTime":"2024-05-01T12:00:00.2Z","endTime":"2024-05-01T12:00:01Z",
    "modelParameters":{"temperature":0.1},"usageDetails":{"input":10,"output":5,"cache_read_input_tokens":3},
    "costDetails":{"input":0.01,"output":0.02},"level":"WARNING","statusMessage":"slow"}})");
  ASSERT_TRUE(p.error.empty()) << p.error;
  const auto& o = std::get<Observation>(p.item->body);
  EXPECT_EQ(o.type, ObservationType::kGeneration);
  EXPECT_EQ(o.trace_id, "t1");
  EXPECT_EQ(o.parent_id, "s1");
  EXPECT_EQ(o.completion_start_us - o.start_us, 200'000);
  EXPECT_EQ(o.input_tokens, 13);
  EXPECT_EQ(o.cached_tokens, 3);
  EXPECT_EQ(o.output_tokens, 5);
  EXPECT_NEAR(*o.total_cost, 0.03, 1e-12);
  EXPECT_EQ(o.level, Level::kWarning);
}

TEST(Langfuse, ParsesLegacyUsageScoresAndRejectsBadEvents) {
  auto g = Parse(R"({"id":"e","type":"generation-update","body":{"id":"g","traceId":"t","usage":{"promptTokens":7,"completionTokens":2,"totalTokens":9}}})");
  const auto& o = std::get<Observation>(g.item->body);
  EXPECT_EQ(o.input_tokens, 7);
  EXPECT_EQ(o.total_tokens, 9);
  auto s = Parse(R"({"id":"e3","type":"score-create","timestamp":"2024-05-01T12:00:00Z","body":{"id":"sc","traceId":"t","name":"q","value":0.5,"comment":"ok"}})");
  ASSERT_TRUE(s.item);
  EXPECT_EQ(std::get<Score>(s.item->body).value, 0.5);
  auto cat = Parse(R"({"id":"e4","type":"score-create","body":{"traceId":"t","name":"q","value":"good"}})");
  EXPECT_EQ(std::get<Score>(cat.item->body).string_value, "good");
  EXPECT_EQ(std::get<Score>(cat.item->body).id, "e4");
  auto log = Parse(R"({"id":"e5","type":"sdk-log","body":{"log":"hi"}})");
  EXPECT_TRUE(log.error.empty());
  EXPECT_FALSE(log.item);
  EXPECT_FALSE(Parse(R"({"type":"trace-create","body":{"id":"t"}})").error.empty());
  EXPECT_FALSE(Parse(R"({"id":"x","type":"bogus-create","body":{"id":"t"}})").error.empty());
  EXPECT_FALSE(Parse(R"({"id":"x","type":"span-create","body":{}})").error.empty());
  auto noTrace = Parse(R"({"id":"x","type":"span-create","body":{"id":"lonely"}})");
  EXPECT_EQ(std::get<Observation>(noTrace.item->body).trace_id, "lonely");
}

// ---- a tiny protobuf encoder for the test ----
std::string Varint(uint64_t v) {
  std::string s;
  while (v >= 0x80) {
    s += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  s += static_cast<char>(v);
  return s;
}
std::string Len(int field, const std::string& bytes) { return Varint(field << 3 | 2) + Varint(bytes.size()) + bytes; }
std::string Fixed64(int field, uint64_t v) {
  std::string s = Varint(field << 3 | 1);
  s.append(reinterpret_cast<const char*>(&v), 8);
  return s;
}
std::string Unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}
std::string KvString(const std::string& k, const std::string& v) { return Len(1, k) + Len(2, Len(1, v)); }
std::string KvInt(const std::string& k, int64_t v) { return Len(1, k) + Len(2, Varint(3 << 3 | 0) + Varint(v)); }

std::string ProtoRequest() {
  std::string gen = Len(1, Unhex("5b8efff798038103d269b633813fc60c")) + Len(2, Unhex("eee19b7ec3c1b174")) +
                    Len(4, Unhex("eee19b7ec3c1b173")) + Len(5, "chat gpt-4o") + Fixed64(7, 1'714'564'800'000'000'000) +
                    Fixed64(8, 1'714'564'801'000'000'000) + Len(9, KvString("gen_ai.request.model", "gpt-4o")) +
                    Len(9, KvInt("gen_ai.usage.input_tokens", 120)) + Len(9, KvInt("gen_ai.usage.output_tokens", 30)) +
                    Len(15, Len(2, "rate limited") + Varint(3 << 3) + Varint(2));
  std::string root = Len(1, Unhex("5b8efff798038103d269b633813fc60c")) + Len(2, Unhex("eee19b7ec3c1b173")) +
                     Len(5, "agent run") + Fixed64(7, 1'714'564'799'000'000'000) + Fixed64(8, 1'714'564'802'000'000'000) +
                     Len(9, KvString("user.id", "alice")) + Len(9, KvString("session.id", "s-9"));
  std::string resource = Len(1, KvString("service.name", "my-agent"));
  std::string scope_spans = Len(2, gen) + Len(2, root);
  return Len(1, Len(1, resource) + Len(2, scope_spans));
}

TEST(Otlp, DecodesProtobufOntoGenerations) {
  auto items = otlp::DecodeTraces(ProtoRequest(), "application/x-protobuf", "", "p");
  ASSERT_TRUE(items) << items.error();
  ASSERT_EQ(items->size(), 3u);  // generation; root span's trace + span
  const auto& g = std::get<Observation>((*items)[0].body);
  EXPECT_EQ(g.type, ObservationType::kGeneration);
  EXPECT_EQ(g.trace_id, "5b8efff798038103d269b633813fc60c");
  EXPECT_EQ(g.parent_id, "eee19b7ec3c1b173");
  EXPECT_EQ(g.model, "gpt-4o");
  EXPECT_EQ(g.input_tokens, 120);
  EXPECT_EQ(g.output_tokens, 30);
  EXPECT_EQ(g.start_us, 1'714'564'800'000'000);
  EXPECT_EQ(g.end_us, 1'714'564'801'000'000);
  EXPECT_EQ(g.level, Level::kError);
  EXPECT_EQ(g.status_message, "rate limited");
  const auto& t = std::get<Trace>((*items)[1].body);
  EXPECT_EQ(t.user_id, "alice");
  EXPECT_EQ(t.session_id, "s-9");
  EXPECT_EQ(t.name, "agent run");
  EXPECT_EQ(std::get<Observation>((*items)[2].body).type, ObservationType::kSpan);
}

std::string Gzip(const std::string& in) {
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(compressBound(in.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = in.size();
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = out.size();
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

TEST(Otlp, DecodesGzipAndJson) {
  auto gz = otlp::DecodeTraces(Gzip(ProtoRequest()), "application/x-protobuf", "gzip", "p");
  ASSERT_TRUE(gz) << gz.error();
  EXPECT_EQ(gz->size(), 3u);
  const char* body = R"({"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
    "scopeSpans":[{"scope":{"name":"x"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
    "name":"chat","kind":3,"startTimeUnixNano":"1714564800000000000","endTimeUnixNano":"1714564801000000000",
    "attributes":[{"key":"gen_ai.response.model","value":{"stringValue":"gpt-4o-mini"}},
                  {"key":"gen_ai.usage.input_tokens","value":{"intValue":"12"}},
                  {"key":"gen_ai.request.temperature","value":{"doubleValue":0.5}}],"status":{}}]}]}]})";
  auto items = otlp::DecodeTraces(body, "application/json", "", "p");
  ASSERT_TRUE(items) << items.error();
  ASSERT_EQ(items->size(), 2u);
  const auto& g = std::get<Observation>((*items)[1].body);
  EXPECT_EQ(g.model, "gpt-4o-mini");
  EXPECT_EQ(g.input_tokens, 12);
  EXPECT_EQ(g.model_parameters, R"({"temperature":5E-1})");
}

TEST(Otlp, RejectsGarbageWithoutCrashing) {
  EXPECT_FALSE(otlp::DecodeTraces("\x0a\xff\xff\xff", "application/x-protobuf", "", "p"));
  EXPECT_FALSE(otlp::DecodeTraces("{", "application/json", "", "p"));
  EXPECT_FALSE(otlp::DecodeTraces("abc", "application/x-protobuf", "gzip", "p"));
  EXPECT_FALSE(otlp::DecodeTraces("", "text/plain", "", "p"));
  EXPECT_FALSE(otlp::DecodeTraces(R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"00","spanId":"11"}]}]}]})",
                                  "application/json", "", "p"));
  std::string truncated = ProtoRequest();
  truncated.resize(truncated.size() / 2);
  EXPECT_FALSE(otlp::DecodeTraces(truncated, "application/x-protobuf", "", "p"));
}

}  // namespace
}  // namespace ap::telemetry
