// sim/tool_calls_test.cc — generated tool-call arguments validate against their JSON schemas.
#include "sim/tool_calls.h"

#include <gtest/gtest.h>

#include <set>

#include <boost/json/parse.hpp>

#include "sim/schema_check.h"

namespace ap::sim {
namespace {
namespace json = boost::json;

const char* kWeatherTools = R"([
 {"type":"function","function":{"name":"get_weather","parameters":{"type":"object",
   "properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["c","f"]},
                 "days":{"type":"integer","minimum":1,"maximum":7}},
   "required":["city","unit"]}}},
 {"type":"function","function":{"name":"search","parameters":{"type":"object",
   "properties":{"query":{"type":"string","minLength":3},"limit":{"type":"number","maximum":10},
                 "exact":{"type":"boolean"},"tags":{"type":"array","items":{"type":"string"}},
                 "filter":{"type":"object","properties":{"year":{"type":["integer","null"]}},
                           "required":["year"]}},
   "required":["query","tags","filter","exact"]}}}])";

TEST(ToolCalls, ArgumentsSatisfySchemasForManySeeds) {
  json::value tools = json::parse(kWeatherTools);
  std::set<std::string> names;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    auto call = PlanToolCall(tools, nullptr, seed);
    ASSERT_TRUE(call);
    names.insert(call->name);
    const json::value* schema = nullptr;
    for (const auto& t : tools.as_array())
      if (t.at("function").at("name").as_string() == call->name)
        schema = &t.at("function").at("parameters");
    ASSERT_TRUE(schema);
    boost::system::error_code ec;
    json::value args = json::parse(call->arguments, ec);
    ASSERT_FALSE(ec) << call->arguments;
    std::string why;
    EXPECT_TRUE(testing_schema::Validate(*schema, args, &why)) << call->arguments << ": " << why;
    EXPECT_EQ(call->id.rfind("call_", 0), 0u);
  }
  EXPECT_EQ(names.size(), 2u);  // both tools get picked
}

TEST(ToolCalls, DeterministicPerSeed) {
  json::value tools = json::parse(kWeatherTools);
  auto a = PlanToolCall(tools, nullptr, 42), b = PlanToolCall(tools, nullptr, 42);
  EXPECT_EQ(a->name, b->name);
  EXPECT_EQ(a->arguments, b->arguments);
  EXPECT_EQ(a->id, b->id);
}

TEST(ToolCalls, HonoursToolChoice) {
  json::value tools = json::parse(kWeatherTools);
  json::value none = "none";
  EXPECT_FALSE(PlanToolCall(tools, &none, 1));
  json::value pick = json::parse(R"({"type":"function","function":{"name":"search"}})");
  for (uint64_t seed = 0; seed < 20; ++seed) EXPECT_EQ(PlanToolCall(tools, &pick, seed)->name, "search");
  EXPECT_FALSE(PlanToolCall(json::array{}, nullptr, 1));
}

}  // namespace
}  // namespace ap::sim
